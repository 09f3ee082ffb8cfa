"""Metric criteria: ``roc_auc>=0.85`` checked against a model's metrics.

They live beside the metric table because both the problem spec and a training job's
``--require`` read them.
"""

from __future__ import annotations

import difflib
import operator
import re
from dataclasses import dataclass

from kiln.errors import ConfigError

__all__ = ["Criterion", "check_metric_names", "parse_criterion"]

_OPERATORS = {
    ">=": operator.ge,
    "<=": operator.le,
    ">": operator.gt,
    "<": operator.lt,
    "==": operator.eq,
}
_PATTERN = re.compile(
    r"^\s*(?:(train|validation|test|cv_mean|oof|backtest)\.)?([a-z0-9_]+)\s*(>=|<=|==|>|<)\s*"
    r"([-+]?\d*\.?\d+(?:[eE][-+]?\d+)?)\s*$"
)
# The held-out estimate a criterion without a split is checked on, in order of preference.
HELD_OUT = ("test", "cv_mean", "validation", "oof", "backtest")


@dataclass(frozen=True)
class Criterion:
    """A metric, a comparison and a number; ``split`` None means the held-out estimate."""

    text: str
    split: str | None
    metric: str
    op: str
    value: float

    @property
    def canonical(self) -> str:
        """The criterion written one way (``recall >= 0.7``), so spacing never changes a digest."""
        value = f"{self.value:g}" if float(f"{self.value:g}") == self.value else repr(self.value)
        return f"{self.split + '.' if self.split else ''}{self.metric} {self.op} {value}"

    def check(self, metrics: dict) -> dict:
        """The result of this criterion on a model's ``metrics`` ({split: {metric: value}})."""
        split = self.split or next((s for s in HELD_OUT if metrics.get(s)), "test")
        actual = (metrics.get(split) or {}).get(self.metric)
        passed = actual is not None and _OPERATORS[self.op](actual, self.value)
        return {
            "criterion": self.text,
            "kind": "metric",
            "split": split,
            "metric": self.metric,
            "op": self.op,
            "value": actual,
            "threshold": self.value,
            "passed": bool(passed),
        }


def parse_criterion(
    text: str, *, code: str = "training.bad-criterion", field: str = "require"
) -> Criterion:
    """``"roc_auc>=0.85"`` → a :class:`Criterion`; ``code`` and ``field`` name where it was
    written when it cannot be read."""
    match = _PATTERN.match(text) if isinstance(text, str) else None
    if match is None:
        raise ConfigError(
            f"Cannot read the success criterion {text!r} ({field}). Write METRIC OP NUMBER, e.g. "
            "'roc_auc>=0.85' or 'test.rmse<3000' (OP one of >=, >, <=, <, ==).",
            code=code,
            field=field,
        )
    split, metric, op, value = match.groups()
    return Criterion(text.strip(), split, metric, op, float(value))


def check_metric_names(
    criteria: list[Criterion],
    known: set[str],
    *,
    problem_type: str | None = None,
    code: str = "training.bad-criterion",
    field: str = "require",
) -> None:
    """Refuse a criterion on a metric that is not in ``known`` (what the problem type reports)."""
    for criterion in criteria:
        if criterion.metric not in known:
            close = difflib.get_close_matches(criterion.metric, sorted(known), n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            which = f"A {problem_type} model does not report" if problem_type else "Unknown metric"
            raise ConfigError(
                f"{which} {criterion.metric!r}, named in the criterion {criterion.text!r} "
                f"({field}).{hint} Metrics: {', '.join(sorted(known))}.",
                code=code,
                field=field,
            )
