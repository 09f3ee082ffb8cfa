"""User alarms: a condition on a monitor's latest run or on an endpoint's serving metrics, a state
(OK, ALARM, INSUFFICIENT_DATA) and the actions taken when the state goes into ALARM, with the
history of every state change, its evidence and each action's outcome.

Sources: ``monitor:M`` (the flat metrics of monitor M's latest run, plus ``violations``, their
count) and ``endpoint:E:METRIC[:WINDOW]`` (the endpoint's serving metrics over the last WINDOW,
5m by default, all variants together). Conditions: comparisons ``NAME OP NUMBER`` joined by
``and``/``or`` (``and`` binds tighter); a metric the source lacks makes the condition unknown,
so the alarm goes to INSUFFICIENT_DATA instead of failing. See docs/alarms.md.
"""

from __future__ import annotations

import json
import logging
import math
import operator
import os
import re
import signal
import subprocess
import time
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, func, select, update

from kiln.errors import ConfigError, NotFound
from kiln.store import (
    AlarmEventRow,
    AlarmRow,
    EndpointRow,
    MonitorRow,
    MonitorRunRow,
    Page,
    PipelineRow,
    Record,
    check_page,
    now,
    who,
)

if TYPE_CHECKING:
    from kiln.context import Context

__all__ = [
    "ALARM",
    "INSUFFICIENT_DATA",
    "OK",
    "Alarm",
    "AlarmService",
    "evaluate_alarms",
    "monitoring_metrics",
    "parse_condition",
]

log = logging.getLogger("kiln.alarms")

OK, ALARM, INSUFFICIENT_DATA = "OK", "ALARM", "INSUFFICIENT_DATA"
STATES = (OK, ALARM, INSUFFICIENT_DATA)
ACTION_KINDS = ("log", "webhook", "command", "rollback", "retrain", "pipeline")
ENDPOINT_WINDOW_SECONDS = 300.0
WEBHOOK_ATTEMPTS = 3
WEBHOOK_BACKOFF_SECONDS = 0.5  # doubled after each failed attempt
WEBHOOK_TIMEOUT_SECONDS = 5.0
COMMAND_TIMEOUT_SECONDS = 60.0
_COMPARISONS = {
    ">=": operator.ge,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
    ">": operator.gt,
    "<": operator.lt,
}
_COMPARISON = re.compile(
    r"\s*(?:([A-Za-z_][\w.\-]*)\s*)?(>=|<=|==|!=|>|<)\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*"
)
_CONDITION_HELP = (
    "write METRIC OP NUMBER with OP one of > >= < <= == !=, e.g. 'drift.num_cols > 2', "
    "'roc_auc < 0.8' or 'violations >= 1', and join comparisons with 'and' / 'or'"
)


# -- conditions -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Comparison:
    metric: str | None  # None: the source's own metric (endpoint:E:METRIC)
    op: str
    threshold: float

    def test(self, values: dict[str, float], default: str | None) -> bool | None:
        value = values.get(self.metric or default or "")
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return None
        return _COMPARISONS[self.op](float(value), self.threshold)


# A condition in disjunctive form: any group true, each group all of its comparisons.
Condition = list[list[Comparison]]


def parse_condition(text: str) -> Condition:
    """``"a > 1 and b < 2 or c >= 3"`` → ``[[a>1, b<2], [c>=3]]``; ``alarms.bad-condition``
    for anything else."""
    groups: Condition = []
    for part in re.split(r"\s+or\s+", str(text or "").strip(), flags=re.IGNORECASE):
        group = []
        for piece in re.split(r"\s+and\s+", part, flags=re.IGNORECASE):
            match = _COMPARISON.fullmatch(piece)
            if match is None:
                raise ConfigError(
                    f"Cannot read the alarm condition {text!r} (at {piece.strip()!r}): "
                    f"{_CONDITION_HELP}.",
                    code="alarms.bad-condition",
                )
            group.append(Comparison(match.group(1), match.group(2), float(match.group(3))))
        groups.append(group)
    return groups


def evaluate_condition(
    condition: Condition, values: dict[str, float], default: str | None = None
) -> bool | None:
    """True, False, or None when the metrics at hand cannot decide (three-valued logic: a
    missing metric leaves the answer unknown only where the others do not settle it)."""
    outcomes = []
    for group in condition:
        tests = [c.test(values, default) for c in group]
        outcomes.append(False if False in tests else (None if None in tests else True))
    return True if True in outcomes else (None if None in outcomes else False)


def _metrics_named(condition: Condition, default: str | None) -> list[str]:
    return sorted({c.metric or default or "" for group in condition for c in group})


# -- sources --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Source:
    kind: str  # monitor | endpoint
    name: str
    metric: str | None = None
    window_seconds: float = ENDPOINT_WINDOW_SECONDS

    @property
    def text(self) -> str:
        return f"{self.kind}:{self.name}" + (f":{self.metric}" if self.metric else "")


def parse_source(text: str) -> Source:
    """``monitor:M`` or ``endpoint:E:METRIC[:WINDOW]``; ``alarms.bad-source`` otherwise."""
    from kiln.endpoints import ALARM_METRICS, parse_duration

    parts = str(text or "").strip().split(":")
    if parts[0] == "monitor" and len(parts) == 2 and parts[1]:
        return Source("monitor", parts[1])
    if parts[0] == "endpoint" and len(parts) in (3, 4) and parts[1]:
        if parts[2] not in ALARM_METRICS:
            raise ConfigError(
                f"Unknown endpoint metric {parts[2]!r} in the alarm source {text!r}: one of "
                f"{', '.join(ALARM_METRICS)}.",
                code="alarms.bad-source",
            )
        window = (
            parse_duration(parts[3], what="alarm window")
            if len(parts) == 4
            else ENDPOINT_WINDOW_SECONDS
        )
        return Source("endpoint", parts[1], parts[2], window)
    raise ConfigError(
        f"Cannot read the alarm source {text!r}: write monitor:MONITOR (its latest run's "
        "metrics) or endpoint:ENDPOINT:METRIC[:WINDOW] (its serving metrics over the last "
        "WINDOW, default 5m), e.g. monitor:churn-drift or endpoint:churn:error_rate:10m.",
        code="alarms.bad-source",
    )


def _source_metrics(ctx: Context, source: Source) -> tuple[dict[str, float], dict]:
    """The source's metrics now, and what they were read from (for the evidence)."""
    if source.kind == "monitor":
        with ctx.store.read() as session:
            run = session.scalars(
                select(MonitorRunRow)
                # Finished runs only: a run being written is not yet evidence either way.
                .where(MonitorRunRow.monitor == source.name, MonitorRunRow.ended_at.is_not(None))
                .order_by(MonitorRunRow.started_at.desc())
                .limit(1)
            ).first()
            monitor = session.get(MonitorRow, source.name)
        if monitor is None:
            return {}, {"reason": f"monitor {source.name!r} no longer exists"}
        if run is None:
            return {}, {"reason": f"monitor {source.name!r} has not run yet"}
        context = {
            "monitor": source.name,
            "endpoint": monitor.endpoint,
            "run": run.id,
            "run_status": run.status,
            "window_start": _iso(run.window_start),
            "window_end": _iso(run.window_end),
            "violations": (run.violations or [])[:10],
        }
        if run.status != "Completed":
            return {}, context | {"reason": f"its latest run ended {run.status}"}
        values = {k: v for k, v in (run.metrics or {}).items() if _is_number(v)}
        values.setdefault("violations", float(len(run.violations or [])))
        return values, context
    from kiln.endpoints import VariantStats, variant_stats

    stats = variant_stats(ctx.store, source.name, seconds=source.window_seconds)
    total = VariantStats("endpoint")
    count, total_sum = 0, 0.0
    for entry in stats.values():
        if entry.role != "live":
            continue
        total.add(entry)
        count += entry.values.get("count", 0)
        total_sum += entry.values.get("sum", 0.0)
    if count:
        total.values = {"count": count, "sum": total_sum}
    context = {
        "endpoint": source.name,
        "window_seconds": source.window_seconds,
        "invocations": total.invocations,
    }
    if not total.invocations:
        return {}, context | {"reason": "no requests in the window"}
    value = total.value(source.metric or "invocations")
    return ({} if value is None else {source.metric: value}), context


# -- actions --------------------------------------------------------------------------------
def parse_action(text: str) -> tuple[str, str]:
    """``"webhook:https://..."`` → ``("webhook", "https://...")``; ``alarms.bad-action``."""
    kind, sep, argument = str(text or "").strip().partition(":")
    problem = None
    if kind not in ACTION_KINDS:
        problem = f"unknown action {kind!r}"
    elif kind == "log" and sep:
        problem = "'log' takes no argument"
    elif kind != "log" and not argument.strip():
        problem = f"'{kind}' needs an argument after the colon"
    elif kind == "webhook" and not re.match(r"https?://", argument):
        problem = "a webhook URL starts with http:// or https://"
    if problem:
        raise ConfigError(
            f"Cannot read the alarm action {text!r}: {problem}. Actions: log, webhook:URL, "
            "command:CMD, rollback:ENDPOINT, retrain:SPEC, pipeline:NAME.",
            code="alarms.bad-action",
        )
    return kind, argument.strip()


def _run_action(ctx: Context, action: str, payload: dict, endpoint: str | None) -> dict:
    """Take one action; its outcome (``ok`` or ``failed``) and details. Never raises."""
    kind, argument = parse_action(action)
    try:
        if kind == "log":
            log.warning("alarm %s is %s: %s", payload["alarm"], payload["state"], payload)
            return {"action": action, "outcome": "ok", "detail": {}}
        if kind == "webhook":
            return {"action": action, **_post_webhook(argument, payload)}
        if kind == "command":
            return {"action": action, **_run_command(argument, payload)}
        if kind == "rollback":
            endpoint_record = ctx.endpoints.rollback(argument)
            detail = {"endpoint": argument, "revision": endpoint_record.revision}
            return {"action": action, "outcome": "ok", "detail": detail}
        from kiln.monitoring._scheduler import SCHEDULE_KINDS, _resolve

        if kind == "pipeline":
            # Starts an execution of the stored pipeline and returns; it runs on in a thread.
            start_pipeline = _resolve(SCHEDULE_KINDS["pipeline"])
            job_id = start_pipeline(ctx, {"pipeline": argument}, reason=f"alarm {payload['alarm']}")
            return {"action": action, "outcome": "ok", "detail": {"job_id": job_id}}
        start_retraining = _resolve(SCHEDULE_KINDS["retrain"])
        job_id = start_retraining(ctx, argument, endpoint=endpoint, reason=payload["evidence"])
        return {"action": action, "outcome": "ok", "detail": {"job_id": job_id}}
    except Exception as exc:  # noqa: BLE001 - one failing action never stops the others
        error = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
        return {"action": action, "outcome": "failed", "detail": {"error": str(error)[:2000]}}


def _post_webhook(url: str, payload: dict) -> dict:
    import httpx

    attempts: list[dict] = []
    delay = WEBHOOK_BACKOFF_SECONDS
    for attempt in range(1, WEBHOOK_ATTEMPTS + 1):
        try:
            response = httpx.post(url, json=payload, timeout=WEBHOOK_TIMEOUT_SECONDS)
            attempts.append({"status_code": response.status_code})
            if response.is_success:
                return {
                    "outcome": "ok",
                    "detail": {"status_code": response.status_code, "attempts": attempts},
                }
            if response.status_code < 500 and response.status_code != 429:
                break  # the receiver refused the payload: sending it again changes nothing
        except httpx.HTTPError as exc:
            attempts.append({"error": f"{type(exc).__name__}: {exc}"[:300]})
        if attempt < WEBHOOK_ATTEMPTS:
            time.sleep(delay)
            delay *= 2
    last = attempts[-1]
    return {
        "outcome": "failed",
        "detail": {"status_code": last.get("status_code"), "attempts": attempts},
    }


def _run_command(command: str, payload: dict) -> dict:
    env = os.environ | {
        "KILN_ALARM": payload["alarm"],
        "KILN_ALARM_STATE": payload["state"],
        "KILN_ALARM_EVIDENCE": json.dumps(payload["evidence"], default=str),
    }
    # A session of its own, so a timeout ends the command with every process it started.
    process = subprocess.Popen(
        command,
        shell=True,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        _, stderr = process.communicate(timeout=COMMAND_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        return {
            "outcome": "failed",
            "detail": {"error": f"timed out after {COMMAND_TIMEOUT_SECONDS:g} s"},
        }
    detail: dict[str, Any] = {"exit_code": process.returncode}
    if process.returncode:
        detail["stderr"] = stderr[-1000:]
    return {"outcome": "ok" if process.returncode == 0 else "failed", "detail": detail}


# -- records and the service -----------------------------------------------------------------
@dataclass(frozen=True)
class Alarm(Record):
    name: str
    source: str
    condition: str
    actions: list
    state: str
    state_changed_at: datetime
    created_at: datetime
    created_by: str

    def to_dict(self) -> dict:
        return self._plain()


class AlarmService:
    """The workspace's alarms (``ws.monitoring.alarms``)."""

    def __init__(self, ctx: Context):
        self.ctx = ctx

    def create(self, name: str, *, on: str, when: str, actions: list[str] | None = None) -> Alarm:
        """Create an alarm on source ``on`` with condition ``when``; ``actions`` (default
        ``["log"]``) run when it goes into ALARM. It starts in INSUFFICIENT_DATA until its first
        evaluation.

        Examples
        --------
        >>> ws.monitoring.alarms.create(                                  # doctest: +SKIP
        ...     "drifting", on="monitor:churn-drift", when="drift.num_cols > 2",
        ...     actions=["log", "retrain:churn"])
        """
        if not re.fullmatch(r"[A-Za-z0-9][\w.\-]{0,199}", str(name or "")):
            raise ConfigError(
                f"Alarm names are 1 to 200 letters, digits, '_', '-' or '.', starting with a "
                f"letter or digit. Got {name!r}.",
                code="alarms.bad-name",
            )
        source = parse_source(on)
        parse_condition(when)
        actions = list(actions or ["log"])
        for action in actions:
            kind, argument = parse_action(action)
            if kind == "rollback":
                self._check_endpoint(argument, what=f"the action {action!r}")
            if kind == "retrain":
                from kiln.monitoring._retrain import parse_retrain_spec

                parse_retrain_spec(self.ctx, argument)  # an endpoint or a model, now
            if kind == "pipeline":
                self._check_pipeline(argument, action)
        self._check_source(source)
        at = now()
        with self.ctx.store.write() as session:
            if session.get(AlarmRow, name) is not None:
                raise ConfigError(
                    f"An alarm named {name!r} exists already. Delete it first ('kiln alarms "
                    f"delete {name}') or choose another name.",
                    code="alarms.exists",
                )
            row = AlarmRow(
                name=name,
                source=on.strip(),
                condition=" ".join(when.split()),
                actions=actions,
                state=INSUFFICIENT_DATA,
                state_changed_at=at,
                created_at=at,
                created_by=who(),
            )
            session.add(row)
            session.flush()
            return Alarm._from_row(row)

    def list(self) -> list[Alarm]:
        with self.ctx.store.read() as session:
            rows = session.scalars(select(AlarmRow).order_by(AlarmRow.name))
            return [Alarm._from_row(r) for r in rows]

    def get(self, name: str) -> Alarm:
        with self.ctx.store.read() as session:
            return Alarm._from_row(self._row(session, name))

    def delete(self, name: str) -> Alarm:
        """Delete an alarm and its history."""
        with self.ctx.store.write() as session:
            row = self._row(session, name)
            alarm = Alarm._from_row(row)
            session.execute(delete(AlarmEventRow).where(AlarmEventRow.alarm == name))
            session.delete(row)
        return alarm

    def history(self, name: str, *, limit: int | None = 100) -> list[dict]:
        """The alarm's state changes, newest first: time, old and new state, evidence, and the
        actions taken with their outcome."""
        with self.ctx.store.read() as session:
            self._row(session, name)
            query = (
                select(AlarmEventRow)
                .where(AlarmEventRow.alarm == name)
                .order_by(AlarmEventRow.id.desc())
            )
            if limit is not None:
                query = query.limit(limit)
            return [_event(e) for e in session.scalars(query)]

    def history_page(
        self, name: str, *, limit: int | None = 50, offset: int | None = 0
    ) -> Page[dict]:
        """A page of the alarm's state changes, newest first (as :meth:`history` gives them)."""
        limit, offset = check_page(limit, offset)
        with self.ctx.store.read() as session:
            self._row(session, name)
            total = session.scalar(
                select(func.count()).select_from(AlarmEventRow).where(AlarmEventRow.alarm == name)
            )
            events = session.scalars(
                select(AlarmEventRow)
                .where(AlarmEventRow.alarm == name)
                .order_by(AlarmEventRow.id.desc())
                .limit(limit)
                .offset(offset)
            )
            items = [_event(e) for e in events]
        return Page(items=items, total=int(total or 0), offset=offset, limit=limit, sort="-id")

    def evaluate(self, source: str | None = None) -> list[dict]:
        """Evaluate the alarms (all, or those on ``source``); see :func:`evaluate_alarms`."""
        return evaluate_alarms(self.ctx, source=source)

    def _row(self, session, name: str) -> AlarmRow:
        row = session.get(AlarmRow, name)
        if row is None:
            known = session.scalars(select(AlarmRow.name).order_by(AlarmRow.name)).all()
            raise NotFound(
                f"No alarm named {name!r}. Alarms: {', '.join(known) or 'none'} (create one with "
                "'kiln alarms create').",
                code="alarms.unknown-alarm",
            )
        return row

    def _check_source(self, source: Source) -> None:
        if source.kind == "endpoint":
            self._check_endpoint(source.name, what=f"the source {source.text!r}")
            return
        with self.ctx.store.read() as session:
            if session.get(MonitorRow, source.name) is None:
                known = session.scalars(select(MonitorRow.name).order_by(MonitorRow.name)).all()
                raise NotFound(
                    f"No monitor named {source.name!r} for the alarm source {source.text!r}. "
                    f"Monitors: {', '.join(known) or 'none'} (create one with 'kiln monitor "
                    "create').",
                    code="alarms.unknown-monitor",
                )

    def _check_pipeline(self, name: str, action: str) -> None:
        with self.ctx.store.read() as session:
            known = sorted(set(session.scalars(select(PipelineRow.name))))
        if name not in known:
            raise ConfigError(
                f"The action {action!r} names no stored pipeline. Pipelines: "
                f"{', '.join(known) or 'none'}; run one first ('kiln pipelines run FILE').",
                code="alarms.bad-action",
            )

    def _check_endpoint(self, endpoint: str, *, what: str) -> None:
        with self.ctx.store.read() as session:
            if session.scalars(select(EndpointRow.id).where(EndpointRow.name == endpoint)).first():
                return
            known = session.scalars(select(EndpointRow.name).order_by(EndpointRow.name)).all()
        raise NotFound(
            f"No endpoint named {endpoint!r} for {what}. Endpoints: "
            f"{', '.join(known) or 'none'} ('kiln endpoints list').",
            code="alarms.unknown-endpoint",
        )


def evaluate_alarms(ctx: Context, *, source: str | None = None) -> list[dict]:
    """Evaluate the alarms on ``source`` (``monitor:M``, ``endpoint``, ``endpoint:E``; None:
    every alarm) and act on each state change; returns the changes.

    A change is claimed in the store (the state is updated only if it is still the one read),
    so of two processes evaluating one alarm, one records the change and takes its actions.
    The event is written with the change, its actions ``pending``, then completed with their
    outcomes."""
    with ctx.store.read() as session:
        rows = session.scalars(select(AlarmRow).order_by(AlarmRow.name)).all()
    selected = [
        row
        for row in rows
        if source is None or row.source == source or row.source.startswith(source + ":")
    ]
    changes = []
    for row in selected:
        change = _evaluate_one(ctx, row)
        if change is not None:
            changes.append(change)
    return changes


def _evaluate_one(ctx: Context, row: AlarmRow) -> dict | None:
    evidence: dict[str, Any] = {"source": row.source, "condition": row.condition}
    try:
        source = parse_source(row.source)
        condition = parse_condition(row.condition)
        values, context = _source_metrics(ctx, source)
        names = _metrics_named(condition, source.metric)
        outcome = evaluate_condition(condition, values, source.metric)
        evidence |= context | {"values": {n: values.get(n) for n in names}}
        missing = [n for n in names if values.get(n) is None]
        if missing and outcome is None:
            evidence["missing"] = missing
    except Exception as exc:  # noqa: BLE001 - an alarm that cannot be read is not a crash
        outcome = None
        evidence["reason"] = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
    state = INSUFFICIENT_DATA if outcome is None else (ALARM if outcome else OK)
    if state == row.state:
        return None
    at = now()
    with ctx.store.write() as session:
        claimed = session.execute(
            update(AlarmRow)
            .where(AlarmRow.name == row.name, AlarmRow.state == row.state)
            .values(state=state, state_changed_at=at)
            .execution_options(synchronize_session=False)
        ).rowcount
        if claimed != 1:
            return None  # another process recorded this change (or the alarm was deleted)
        actions = row.actions if state == ALARM else []
        event = AlarmEventRow(
            alarm=row.name,
            time=at,
            old_state=row.state,
            new_state=state,
            evidence=_jsonable(evidence),
            actions=[{"action": a, "outcome": "pending", "detail": {}} for a in actions],
        )
        session.add(event)
        session.flush()
        event_id = event.id
    payload = {
        "alarm": row.name,
        "state": state,
        "old_state": row.state,
        "time": _iso(at),
        "source": row.source,
        "condition": row.condition,
        "evidence": _jsonable(evidence),
    }
    outcomes = [_run_action(ctx, a, payload, evidence.get("endpoint")) for a in actions]
    if outcomes:
        with ctx.store.write() as session:
            session.execute(
                update(AlarmEventRow)
                .where(AlarmEventRow.id == event_id)
                .values(actions=_jsonable(outcomes))
                .execution_options(synchronize_session=False)
            )
    log.info("alarm %s: %s -> %s", row.name, row.state, state)
    return {
        "alarm": row.name,
        "old_state": row.state,
        "new_state": state,
        "evidence": payload["evidence"],
        "actions": outcomes,
    }


# -- /metrics -------------------------------------------------------------------------------
def monitoring_metrics(ctx: Context) -> bytes:
    """Prometheus text of the monitors and alarms, read from the store now:
    ``kiln_monitor_metric{monitor,metric}`` (each monitor's latest completed run's metrics),
    ``kiln_monitor_violations{monitor}`` and ``kiln_alarm_state{alarm,state}`` (1 for the
    alarm's state, 0 for the others)."""
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.core import GaugeMetricFamily

    with ctx.store.read() as session:
        latest = (
            select(MonitorRunRow.monitor, func.max(MonitorRunRow.started_at).label("started"))
            .where(MonitorRunRow.monitor.is_not(None), MonitorRunRow.status == "Completed")
            .group_by(MonitorRunRow.monitor)
            .subquery()
        )
        runs = session.execute(
            select(MonitorRunRow.monitor, MonitorRunRow.metrics, MonitorRunRow.violations).join(
                latest,
                (MonitorRunRow.monitor == latest.c.monitor)
                & (MonitorRunRow.started_at == latest.c.started),
            )
        ).all()
        alarms = session.execute(select(AlarmRow.name, AlarmRow.state)).all()

    class _Collector:
        def collect(self):
            metric = GaugeMetricFamily(
                "kiln_monitor_metric",
                "A metric of each monitor's latest completed run.",
                labels=["monitor", "metric"],
            )
            violations = GaugeMetricFamily(
                "kiln_monitor_violations",
                "Violations found by each monitor's latest completed run.",
                labels=["monitor"],
            )
            seen = set()
            for monitor, metrics, found in sorted(runs, key=lambda r: r[0]):
                if monitor in seen:  # two runs started in the same instant
                    continue
                seen.add(monitor)
                for name, value in sorted((metrics or {}).items()):
                    if _is_number(value):
                        metric.add_metric([monitor, name], float(value))
                violations.add_metric([monitor], float(len(found or [])))
            state = GaugeMetricFamily(
                "kiln_alarm_state",
                "Each alarm's state: 1 for the state it is in, 0 for the others.",
                labels=["alarm", "state"],
            )
            for name, current in sorted(alarms):
                for candidate in STATES:
                    state.add_metric([name, candidate], 1.0 if candidate == current else 0.0)
            yield from (metric, violations, state)

    registry = CollectorRegistry()
    registry.register(_Collector())
    return generate_latest(registry)


def _event(e: AlarmEventRow) -> dict:
    return {
        "id": e.id,
        "alarm": e.alarm,
        "time": _iso(e.time),
        "old_state": e.old_state,
        "new_state": e.new_state,
        "evidence": e.evidence,
        "actions": e.actions,
    }


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _jsonable(value: Any) -> Any:
    """``value`` as JSON can hold it: non-finite numbers as None, other objects as text."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat() + "Z"
