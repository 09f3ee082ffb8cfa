"""Alarms that guard a deployment: each looks at the serving metrics of the new variant (and of
the variants it replaces) over a window and says whether it fires, with its evidence.

An alarm is anything with a ``name`` and ``check(window) -> AlarmState``; the built-in ones are
read from text (``error_rate>0.05``, ``p99_latency_ms>=200``) or are the defaults below. Other
sources (a model monitor's violations) plug in by implementing the same two members.
"""

from __future__ import annotations

import operator
import re
from dataclasses import dataclass, field
from typing import Protocol

from kiln.endpoints._metrics import VariantStats
from kiln.errors import ConfigError

__all__ = [
    "ALARM_METRICS",
    "Alarm",
    "AlarmState",
    "MetricAlarm",
    "RelativeAlarm",
    "Window",
    "default_alarms",
    "parse_alarm",
    "parse_alarms",
]

ALARM_METRICS = (
    "invocations",
    "errors_4xx",
    "errors_5xx",
    "error_rate",
    "p50_latency_ms",
    "p90_latency_ms",
    "p99_latency_ms",
    "overhead_p99_ms",
    "mean_prediction",
)
_OPERATORS = {">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt}


@dataclass
class Window:
    """What an alarm sees: the new variant's and the old variants' figures over the window."""

    new: VariantStats
    old: VariantStats  # the replaced variants, summed
    seconds: float


@dataclass(frozen=True)
class AlarmState:
    name: str
    firing: bool
    evidence: dict = field(default_factory=dict)

    @property
    def message(self) -> str:
        shown = ", ".join(f"{k}={_fmt(v)}" for k, v in self.evidence.items())
        return f"alarm {self.name} {'FIRING' if self.firing else 'ok'} ({shown})"


class Alarm(Protocol):
    name: str

    def check(self, window: Window) -> AlarmState: ...


@dataclass(frozen=True)
class MetricAlarm:
    """The new variant's ``metric`` compared with a threshold, once it has ``min_invocations``."""

    metric: str
    op: str
    threshold: float
    min_invocations: int = 1

    @property
    def name(self) -> str:
        return f"{self.metric}{self.op}{self.threshold:g}"

    def check(self, window: Window) -> AlarmState:
        value = window.new.value(self.metric)
        evidence = {
            "metric": self.metric,
            "value": value,
            "threshold": self.threshold,
            "new_invocations": window.new.invocations,
            "window_seconds": window.seconds,
        }
        enough = window.new.invocations >= self.min_invocations
        firing = enough and value is not None and _OPERATORS[self.op](value, self.threshold)
        return AlarmState(self.name, bool(firing), evidence)


@dataclass(frozen=True)
class RelativeAlarm:
    """The new variant worse than the old ones on the same traffic: its error rate higher by more
    than ``margin``, or its latency quantile more than ``ratio`` times theirs (and above
    ``floor``, so a 0.1 ms model is not rolled back for taking 0.4 ms)."""

    name: str
    metric: str  # error_rate | p99_latency_ms
    margin: float = 0.0
    ratio: float = 1.0
    floor: float = 0.0
    min_invocations: int = 20

    def check(self, window: Window) -> AlarmState:
        new, old = window.new.value(self.metric), window.old.value(self.metric)
        evidence = {
            "metric": self.metric,
            "new": new,
            "old": old,
            "new_invocations": window.new.invocations,
            "old_invocations": window.old.invocations,
            "window_seconds": window.seconds,
        }
        if window.new.invocations < self.min_invocations or new is None:
            return AlarmState(self.name, False, evidence)
        if self.metric == "error_rate":
            baseline = old if window.old.invocations >= self.min_invocations else 0.0
            evidence["margin"] = self.margin
            return AlarmState(self.name, new > (baseline or 0.0) + self.margin, evidence)
        if old is None or window.old.invocations < self.min_invocations:
            return AlarmState(self.name, False, evidence)
        evidence |= {"ratio": self.ratio, "floor": self.floor}
        return AlarmState(self.name, new > max(self.floor, self.ratio * old), evidence)


def default_alarms() -> list[Alarm]:
    """What guards a deployment unless told otherwise: errors well above the old model's on the
    same traffic, any run of server errors, and a latency blow-up."""
    return [
        RelativeAlarm("error_rate_vs_old", "error_rate", margin=0.05),
        MetricAlarm("errors_5xx", ">=", 3),
        RelativeAlarm("p99_latency_vs_old", "p99_latency_ms", ratio=3.0, floor=5.0),
    ]


def parse_alarm(text: str) -> Alarm:
    """``"p99_latency_ms>200"`` → a MetricAlarm on the new variant."""
    match = re.fullmatch(r"\s*([a-z0-9_]+)\s*(>=|<=|>|<)\s*(-?\d+(?:\.\d+)?)\s*", text or "")
    if not match or match.group(1) not in ALARM_METRICS:
        raise ConfigError(
            f"Cannot read the alarm {text!r}: write METRIC OP NUMBER, e.g. error_rate>0.05 or "
            f"p99_latency_ms>200, with METRIC one of {', '.join(ALARM_METRICS)} (the new "
            "variant's, over the alarm window), or 'default' for the built-in alarms.",
            code="endpoints.bad-alarm",
        )
    return MetricAlarm(match.group(1), match.group(2), float(match.group(3)))


def parse_alarms(texts: list[str] | None) -> list[Alarm]:
    """None or []: the defaults; otherwise exactly the alarms given ('default' adds the
    defaults, 'none' alone turns alarms off)."""
    if not texts:
        return default_alarms()
    if [t.strip().lower() for t in texts] == ["none"]:
        return []
    alarms: list[Alarm] = []
    for text in texts:
        if text.strip().lower() == "default":
            alarms.extend(default_alarms())
        else:
            alarms.append(parse_alarm(text))
    return alarms


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
