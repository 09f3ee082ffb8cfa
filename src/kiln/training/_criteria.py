"""Success criteria: ``roc_auc>=0.85`` checked against a run's metrics."""

from __future__ import annotations

import operator
import re
from dataclasses import dataclass

from kiln.errors import ConfigError

_OPERATORS = {
    ">=": operator.ge,
    "<=": operator.le,
    ">": operator.gt,
    "<": operator.lt,
    "==": operator.eq,
}
_PATTERN = re.compile(
    r"^\s*(?:(train|validation|test|cv_mean)\.)?([a-z0-9_]+)\s*(>=|<=|==|>|<)\s*"
    r"([-+]?\d*\.?\d+(?:[eE][-+]?\d+)?)\s*$"
)


@dataclass(frozen=True)
class Criterion:
    """A metric, a comparison and a number; ``split`` None means the held-out estimate."""

    text: str
    split: str | None
    metric: str
    op: str
    value: float

    def check(self, metrics: dict) -> dict:
        split = self.split or next(
            (s for s in ("test", "cv_mean", "validation") if metrics.get(s)), "test"
        )
        actual = metrics.get(split, {}).get(self.metric)
        passed = actual is not None and _OPERATORS[self.op](actual, self.value)
        return {
            "criterion": self.text,
            "split": split,
            "metric": self.metric,
            "value": actual,
            "passed": bool(passed),
        }


def parse_criterion(text: str) -> Criterion:
    match = _PATTERN.match(text)
    if match is None:
        raise ConfigError(
            f"Cannot read the success criterion {text!r}. Write METRIC OP NUMBER, e.g. "
            "'roc_auc>=0.85' or 'test.rmse<3000' (OP one of >=, >, <=, <, ==).",
            code="training.bad-criterion",
            field="require",
        )
    split, metric, op, value = match.groups()
    return Criterion(text.strip(), split, metric, op, float(value))


def check_metric_names(
    criteria: list[Criterion], known: set[str], *, problem_type: str | None = None
) -> None:
    import difflib

    for criterion in criteria:
        if criterion.metric not in known:
            close = difflib.get_close_matches(criterion.metric, sorted(known), n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            which = f"A {problem_type} model does not report" if problem_type else "Unknown metric"
            raise ConfigError(
                f"{which} {criterion.metric!r}, named in the criterion {criterion.text!r}.{hint} "
                f"Metrics: {', '.join(sorted(known))}.",
                code="training.bad-criterion",
                field="require",
            )
