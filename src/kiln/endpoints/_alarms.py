"""Alarms that guard a deployment: each looks at the serving metrics of the new variant (and of
the variants it replaces) over a window and says whether it fires, with its evidence.

An alarm is anything with a ``name`` and ``check(window) -> AlarmState``; the built-in ones are
read from text (``error_rate>0.05``, ``p99_latency_ms>=200``) or are the defaults below. Other
sources plug in by implementing the same two members: ``monitor:NAME`` fires when a run of model
monitor NAME that ended after the deployment started found violations, ``alarm:NAME`` while the
user alarm NAME is in ALARM (both read from the store: kiln.monitoring is above this package).
"""

from __future__ import annotations

import operator
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import select

from kiln.endpoints._metrics import VariantStats
from kiln.errors import ConfigError, NotFound
from kiln.store import AlarmRow, MonitorRow, MonitorRunRow

__all__ = [
    "ALARM_METRICS",
    "Alarm",
    "AlarmState",
    "MetricAlarm",
    "MonitorAlarm",
    "RelativeAlarm",
    "UserAlarm",
    "Window",
    "check_alarm_sources",
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
    # For the alarms that read records: the store, and when the deployment started.
    store: Any = None
    deployment_started: datetime | None = None


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


@dataclass(frozen=True)
class MonitorAlarm:
    """Fires when a completed run of model monitor ``monitor`` that ended after the deployment
    started found violations (data drift in the traffic the new model answers, say)."""

    monitor: str

    @property
    def name(self) -> str:
        return f"monitor:{self.monitor}"

    def check(self, window: Window) -> AlarmState:
        evidence: dict = {"monitor": self.monitor}
        if window.store is None or window.deployment_started is None:
            return AlarmState(self.name, False, evidence)
        with window.store.read() as session:
            runs = session.execute(
                select(MonitorRunRow.id, MonitorRunRow.ended_at, MonitorRunRow.violations)
                .where(
                    MonitorRunRow.monitor == self.monitor,
                    MonitorRunRow.status == "Completed",
                    MonitorRunRow.ended_at >= window.deployment_started,
                )
                .order_by(MonitorRunRow.ended_at)
            ).all()
        evidence["runs"] = len(runs)
        for run_id, ended_at, violations in runs:
            if violations:
                evidence |= {
                    "run": run_id,
                    "ended_at": ended_at.isoformat() + "Z",
                    "violations": len(violations),
                    "columns": sorted({str(v.get("column")) for v in violations})[:10],
                }
                return AlarmState(self.name, True, evidence)
        return AlarmState(self.name, False, evidence)


@dataclass(frozen=True)
class UserAlarm:
    """Fires while the user alarm ``alarm`` ('kiln alarms create') is in ALARM."""

    alarm: str

    @property
    def name(self) -> str:
        return f"alarm:{self.alarm}"

    def check(self, window: Window) -> AlarmState:
        evidence: dict = {"alarm": self.alarm}
        if window.store is None:
            return AlarmState(self.name, False, evidence)
        with window.store.read() as session:
            row = session.get(AlarmRow, self.alarm)
            if row is None:
                return AlarmState(self.name, False, evidence | {"state": "deleted"})
            evidence |= {"state": row.state, "since": row.state_changed_at.isoformat() + "Z"}
            return AlarmState(self.name, row.state == "ALARM", evidence)


def default_alarms() -> list[Alarm]:
    """What guards a deployment unless told otherwise: errors well above the old model's on the
    same traffic, any run of server errors, and a latency blow-up."""
    return [
        RelativeAlarm("error_rate_vs_old", "error_rate", margin=0.05),
        MetricAlarm("errors_5xx", ">=", 3),
        RelativeAlarm("p99_latency_vs_old", "p99_latency_ms", ratio=3.0, floor=5.0),
    ]


def parse_alarm(text: str) -> Alarm:
    """``"p99_latency_ms>200"`` → a MetricAlarm on the new variant; ``"monitor:NAME"`` → a
    MonitorAlarm, ``"alarm:NAME"`` → a UserAlarm."""
    kind, sep, name = (text or "").strip().partition(":")
    if sep and kind in ("monitor", "alarm") and name.strip():
        return MonitorAlarm(name.strip()) if kind == "monitor" else UserAlarm(name.strip())
    match = re.fullmatch(r"\s*([a-z0-9_]+)\s*(>=|<=|>|<)\s*(-?\d+(?:\.\d+)?)\s*", text or "")
    if not match or match.group(1) not in ALARM_METRICS:
        raise ConfigError(
            f"Cannot read the alarm {text!r}: write METRIC OP NUMBER, e.g. error_rate>0.05 or "
            f"p99_latency_ms>200, with METRIC one of {', '.join(ALARM_METRICS)} (the new "
            "variant's, over the alarm window); monitor:NAME (a model monitor's violations), "
            "alarm:NAME (a user alarm in ALARM); or 'default' for the built-in alarms.",
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


def check_alarm_sources(store, alarms: list[Alarm]) -> None:
    """Refuse a deployment whose ``monitor:`` or ``alarm:`` alarm names nothing: it would
    never fire."""
    with store.read() as session:
        for alarm in alarms:
            if isinstance(alarm, MonitorAlarm) and session.get(MonitorRow, alarm.monitor) is None:
                raise NotFound(
                    f"The alarm {alarm.name!r} names no monitor: there is no monitor "
                    f"{alarm.monitor!r} ('kiln monitor list').",
                    code="endpoints.unknown-monitor",
                )
            if isinstance(alarm, UserAlarm) and session.get(AlarmRow, alarm.alarm) is None:
                raise NotFound(
                    f"The alarm {alarm.name!r} names no alarm: there is no alarm "
                    f"{alarm.alarm!r} ('kiln alarms list').",
                    code="endpoints.unknown-alarm",
                )


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
