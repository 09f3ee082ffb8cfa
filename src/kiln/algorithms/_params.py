"""Typed hyperparameter schemas: parameter constraints as data, one error wording for all."""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass
from typing import Any

from kiln.errors import ConfigError


@dataclass(frozen=True)
class Param:
    """One hyperparameter: its type, allowed range or choices, default and meaning."""

    name: str
    # "int" | "float" | "choice" | "bool" | "int_list" (e.g. layer sizes "64,32") | "any" (a
    # custom estimator's argument of no known type: numbers, true/false and none read from text)
    type: str
    default: Any
    help: str
    low: float | None = None
    high: float | None = None
    choices: tuple[Any, ...] = ()
    nullable: bool = False

    def describe(self) -> str:
        if self.type == "any":
            return "any value"
        if self.type == "choice":
            allowed = "one of " + ", ".join(map(str, self.choices))
        elif self.type == "bool":
            allowed = "true or false"
        elif self.type == "int_list":
            allowed = (
                f"comma-separated integers in [{_fmt(self.low)}, {_fmt(self.high)}], such as 64,32"
            )
        else:
            kind = "an integer" if self.type == "int" else "a number"
            unbounded = self.low == -math.inf and self.high == math.inf
            allowed = kind if unbounded else f"{kind} in [{_fmt(self.low)}, {_fmt(self.high)}]"
        if self.nullable:
            allowed += " or none"
        return allowed

    def parse(self, raw: Any, *, algorithm: str) -> Any:
        """Convert a CLI string or Python value and check it; raise a uniform error if invalid."""
        if self.type == "int_list":
            return self._parse_int_list(raw, algorithm=algorithm)
        if self.type == "any":
            return _literal(raw) if isinstance(raw, str) else raw
        value = raw
        try:
            if isinstance(raw, str):
                text = raw.strip()
                if self.nullable and text.lower() in ("none", "null"):
                    return None
                if self.type == "int":
                    number = float(text)
                    if not number.is_integer():
                        raise ValueError
                    value = int(number)
                elif self.type == "float":
                    value = float(text)
                elif self.type == "bool":
                    if text.lower() not in ("true", "false", "1", "0", "yes", "no"):
                        raise ValueError
                    value = text.lower() in ("true", "1", "yes")
                else:
                    value = _choice_from_text(text, self.choices)
            elif raw is None and self.nullable:
                return None
            if self.type == "int":
                if isinstance(value, bool) or not float(value).is_integer():
                    raise ValueError
                value = int(value)
            elif self.type == "float":
                if isinstance(value, bool):
                    raise ValueError
                value = float(value)
                if math.isnan(value):
                    raise ValueError
            elif self.type == "bool" and not isinstance(value, bool):
                raise ValueError
        except (TypeError, ValueError):
            raise self._error(algorithm, raw) from None
        if self.type in ("int", "float") and not (self.low <= value <= self.high):
            raise self._error(algorithm, raw)
        if self.type == "choice" and value not in self.choices:
            raise self._error(algorithm, raw)
        return value

    def _parse_int_list(self, raw: Any, *, algorithm: str) -> str | None:
        """A list of integers given as "64,32" or [64, 32]; returned as the text "64,32"."""
        if raw is None or (isinstance(raw, str) and raw.strip().lower() in ("none", "null")):
            if self.nullable:
                return None
            raise self._error(algorithm, raw)
        if isinstance(raw, str):
            items = raw.split(",")
        elif isinstance(raw, int) and not isinstance(raw, bool):
            items = [raw]
        else:
            items = raw
        try:
            numbers = [float(item) for item in items if not isinstance(item, bool)]
        except (TypeError, ValueError):
            raise self._error(algorithm, raw) from None
        if (
            not numbers
            or len(numbers) != len(items)
            or not all(n.is_integer() and self.low <= n <= self.high for n in numbers)
        ):
            raise self._error(algorithm, raw)
        return ",".join(str(int(n)) for n in numbers)

    def _error(self, algorithm: str, raw: Any) -> ConfigError:
        return ConfigError(
            f"The {self.name!r} hyperparameter of {algorithm} must be {self.describe()}. "
            f"Got {raw!r}.",
            code="algorithm.bad-hyperparameter",
            field=self.name,
        )

    def to_dict(self) -> dict:
        out = {"name": self.name, "type": self.type, "default": self.default, "help": self.help}
        if self.type in ("int", "float", "int_list"):
            # JSON has no infinity: an unbounded side is null.
            out.update(
                low=None if self.low == -math.inf else self.low,
                high=None if self.high == math.inf else self.high,
            )
        if self.choices:
            out["choices"] = list(self.choices)
        return out


def _literal(text: str) -> Any:
    """A number, true/false or none written as text, else the text itself."""
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("none", "null"):
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _choice_from_text(text: str, choices: tuple) -> Any:
    for choice in choices:
        if str(choice).lower() == text.lower():
            return choice
    return text


def _fmt(value: float | None) -> str:
    if value is None:
        return "?"
    if value == math.inf:
        return "inf"
    return f"{value:g}"


def validate_hyperparameters(algorithm: str, schema: list[Param], given: dict[str, Any]) -> dict:
    """Defaults overlaid with ``given``; unknown names and invalid values raise ConfigError."""
    by_name = {p.name: p for p in schema}
    values = {p.name: p.default for p in schema}
    for name, raw in given.items():
        if name not in by_name:
            close = difflib.get_close_matches(name, list(by_name), n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ConfigError(
                f"{algorithm} has no hyperparameter {name!r}.{hint} Valid ones: "
                f"{', '.join(by_name)}. See 'kiln algorithms show {algorithm}'.",
                code="algorithm.unknown-hyperparameter",
                field=name,
            )
        values[name] = by_name[name].parse(raw, algorithm=algorithm)
    return values
