"""The search space of a tuning job: ranges per hyperparameter, parsed, checked and sampled.

``--range name=low:high[:log|:reverse_log]`` is a continuous or integer range (the parameter's
schema type decides); ``--range name=a,b,c`` is a categorical choice. Without ranges, the space is
the algorithm's own default (``Algorithm.tuning_ranges``, in the same syntax). Hyperparameters that
are given but not ranged stay fixed. Sampling and the search itself are Optuna's.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass
from typing import Any

from kiln.algorithms import Algorithm, Param
from kiln.errors import ConfigError

SCALES = ("linear", "log", "reverse_log")
GRID_POINTS = 5  # points per numeric range when the strategy is grid


@dataclass(frozen=True)
class Range:
    """One hyperparameter's range: numbers between ``low`` and ``high`` on a scale, or choices."""

    name: str
    kind: str  # "int" | "float" | "categorical"
    low: float | None = None
    high: float | None = None
    scale: str = "linear"
    choices: tuple[Any, ...] = ()

    def to_text(self) -> str:
        if self.kind == "categorical":
            return f"{self.name}={','.join(map(str, self.choices))}"
        suffix = "" if self.scale == "linear" else f":{self.scale}"
        return f"{self.name}={_number(self.low)}:{_number(self.high)}{suffix}"

    def suggest(self, trial) -> Any:
        """A value for ``trial`` (an Optuna trial), on this range's scale."""
        if self.kind == "categorical":
            return trial.suggest_categorical(self.name, list(self.choices))
        if self.scale == "reverse_log":
            # Optuna has no reverse-log scale: 1 - x on a log scale puts the points near ``high``
            # (momentum-like values close to 1), the way SageMaker's ReverseLogarithmic does.
            gap = trial.suggest_float(
                f"{self.name}__one_minus", 1 - self.high, 1 - self.low, log=True
            )
            return 1 - gap
        if self.kind == "int":
            return trial.suggest_int(
                self.name, int(self.low), int(self.high), log=self.scale == "log"
            )
        return trial.suggest_float(self.name, self.low, self.high, log=self.scale == "log")

    def grid(self, points: int = GRID_POINTS) -> list[Any]:
        """Evenly spaced values on the range's scale, for a grid search."""
        if self.kind == "categorical":
            return list(self.choices)
        if self.scale == "log":
            values = [
                math.exp(
                    math.log(self.low)
                    + i * (math.log(self.high) - math.log(self.low)) / (points - 1)
                )
                for i in range(points)
            ]
        elif self.scale == "reverse_log":
            lo, hi = math.log(1 - self.high), math.log(1 - self.low)
            values = [1 - math.exp(hi - i * (hi - lo) / (points - 1)) for i in range(points)]
        else:
            values = [self.low + i * (self.high - self.low) / (points - 1) for i in range(points)]
        if self.kind == "int":
            return sorted({int(round(v)) for v in values})
        return [float(f"{v:.6g}") for v in values]


def _number(value: float | None) -> str:
    return "" if value is None else (str(int(value)) if float(value).is_integer() else f"{value:g}")


def parse_range(text: str, algorithm: Algorithm) -> Range:
    """``name=low:high[:scale]`` or ``name=a,b,c``, checked against the algorithm's schema."""
    name, sep, spec = text.partition("=")
    name, spec = name.strip(), spec.strip()
    if not sep or not name or not spec:
        raise ConfigError(
            f"A range is written name=low:high[:log|:reverse_log] or name=a,b,c; got {text!r}.",
            code="tuning.bad-range",
            field="range",
        )
    param = _param(algorithm, name)
    if ":" in spec:
        parts = [p.strip() for p in spec.split(":")]
        scale = parts[2] if len(parts) == 3 else "linear"
        if len(parts) not in (2, 3) or scale not in SCALES:
            raise ConfigError(
                f"Range {text!r}: write low:high or low:high:SCALE with SCALE one of "
                f"{', '.join(SCALES)}.",
                code="tuning.bad-range",
                field=name,
            )
        if param.type not in ("int", "float"):
            raise ConfigError(
                f"{algorithm.name}'s {name} is a {param.type}, not a number: give its choices, "
                f"e.g. {name}={','.join(map(str, param.choices or ('a', 'b')))}.",
                code="tuning.bad-range",
                field=name,
            )
        low = param.parse(parts[0], algorithm=algorithm.name)
        high = param.parse(parts[1], algorithm=algorithm.name)
        if low is None or high is None or not low < high:
            raise ConfigError(
                f"Range {text!r}: low must be below high.", code="tuning.bad-range", field=name
            )
        if scale == "log" and low <= 0:
            raise ConfigError(
                f"Range {text!r}: a log scale needs low above 0.",
                code="tuning.bad-range",
                field=name,
            )
        if scale == "reverse_log" and not (low >= 0 and high < 1):
            raise ConfigError(
                f"Range {text!r}: a reverse_log scale needs 0 <= low < high < 1.",
                code="tuning.bad-range",
                field=name,
            )
        return Range(name, param.type, float(low), float(high), scale)
    choices = tuple(param.parse(v.strip(), algorithm=algorithm.name) for v in spec.split(","))
    if len(set(map(str, choices))) < 2:
        raise ConfigError(
            f"Range {text!r}: a choice needs at least two different values.",
            code="tuning.bad-range",
            field=name,
        )
    return Range(name, "categorical", choices=choices)


def _param(algorithm: Algorithm, name: str) -> Param:
    by_name = {p.name: p for p in algorithm.params}
    if name not in by_name:
        close = difflib.get_close_matches(name, list(by_name), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ConfigError(
            f"{algorithm.name} has no hyperparameter {name!r}.{hint} Its hyperparameters: "
            f"{', '.join(by_name)}.",
            code="tuning.bad-range",
            field=name,
        )
    return by_name[name]


def search_space(
    algorithm: Algorithm, ranges: list[str] | None, static: dict[str, Any] | None = None
) -> list[Range]:
    """The ranges given, else the algorithm's default ones minus the hyperparameters fixed in
    ``static``."""
    static = static or {}
    if ranges:
        space = [parse_range(r, algorithm) for r in ranges]
    else:
        space = [parse_range(r, algorithm) for r in algorithm.tuning_ranges]
        space = [r for r in space if r.name not in static]
    names = [r.name for r in space]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ConfigError(
            f"Hyperparameter {repeated[0]!r} has more than one range.",
            code="tuning.bad-range",
            field=repeated[0],
        )
    clash = sorted(set(names) & set(static))
    if clash:
        raise ConfigError(
            f"{clash[0]!r} is both fixed (--hp) and ranged (--range); keep one.",
            code="tuning.bad-range",
            field=clash[0],
        )
    if not space:
        raise ConfigError(
            f"{algorithm.name} has no default search space: give ranges with "
            "--range name=low:high or --range name=a,b,c.",
            code="tuning.no-space",
        )
    return space
