"""The scheduler: cron schedules (monitors, retrainings) in the store, claimed with a lease so
that two schedulers on one workspace never start the same run twice, and the loop that starts
what is due, evaluates the endpoint alarms and writes a heartbeat.

What a schedule starts is named per kind as a ``"module:function"`` string
(:data:`SCHEDULE_KINDS`), imported only when a run starts: the monitors and the retraining loop
live above or beside this module, and a test can point a kind at a function of its own.
"""

from __future__ import annotations

import importlib
import logging
import os
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, or_, select, update

from kiln.errors import ConfigError, NotFound
from kiln.store import Record, ScheduleRow, now, who

if TYPE_CHECKING:
    from kiln.context import Context

__all__ = [
    "SCHEDULE_KINDS",
    "Schedule",
    "ScheduleService",
    "Scheduler",
    "parse_schedule",
]

log = logging.getLogger("kiln.scheduler")

# What each kind of schedule calls to start a run; each returns the id of the job it started.
SCHEDULE_KINDS: dict[str, str] = {
    "monitor": "kiln.monitoring._monitors:start_monitor_run",
    "retrain": "kiln.monitoring._retrain:start_retraining",
    "pipeline": "kiln.pipelines:start_scheduled_pipeline",
}
# What each kind's target must name (see start_scheduled).
_TARGET_KEYS = {"monitor": "monitor", "retrain": "spec", "pipeline": "pipeline"}
_ALIASES = {"hourly": "0 * * * *", "daily": "0 0 * * *"}
# How long a claim on a schedule holds before another scheduler may take it over (the claiming
# scheduler died between claiming and recording the run).
LEASE_SECONDS = 600.0
# A scheduler whose heartbeat is older than this many polls is shown as not alive.
ALIVE_POLLS = 3
# A dead scheduler's heartbeat is forgotten after this long.
FORGET_HEARTBEAT_AFTER = timedelta(days=1)
# The scheduler's own heartbeat rows live in the schedules table, under this kind; they are never
# due (the schema has no table of schedulers).
_HEARTBEAT = "scheduler"
_NEVER = datetime(9999, 1, 1)


def parse_schedule(text: str) -> str:
    """``"hourly"`` → ``"0 * * * *"``, ``"daily"`` → ``"0 0 * * *"``, or a 5-field cron
    expression (UTC) returned as given; anything else raises ``scheduler.bad-schedule``."""
    from croniter import croniter

    cleaned = " ".join(str(text or "").split())
    expression = _ALIASES.get(cleaned.lower(), cleaned)
    if len(expression.split()) != 5 or not croniter.is_valid(expression):
        raise ConfigError(
            f"Cannot read the schedule {text!r}: write 'hourly', 'daily' or a cron expression "
            "of 5 fields (minute hour day-of-month month day-of-week, in UTC), e.g. "
            "'*/15 * * * *' (every 15 minutes) or '30 2 * * 1' (Mondays at 02:30).",
            code="scheduler.bad-schedule",
        )
    if _never(expression):
        raise ConfigError(
            f"The schedule {text!r} never comes: no date matches it (a day the month does not "
            "have, such as February 30th). Check its day-of-month and month fields, e.g. "
            "'0 0 28 2 *' for February 28th.",
            code="scheduler.bad-schedule",
        )
    return expression


def _never(expression: str) -> bool:
    """Whether a well-formed expression names no date at all (``0 0 31 2 *``: February 31st)."""
    from croniter import CroniterBadDateError

    try:
        next_run(expression, now())
    except CroniterBadDateError:
        return True
    return False


def next_run(expression: str, after: datetime) -> datetime:
    """The first time the cron expression names strictly after ``after`` (naive UTC)."""
    from croniter import croniter

    return croniter(expression, after).get_next(datetime)


@dataclass(frozen=True)
class Schedule(Record):
    """A schedule as stored: what it runs (``kind``, ``target``), when, and its last run."""

    name: str
    kind: str
    target: dict
    expression: str
    next_run_at: datetime
    last_run_at: datetime | None
    last_job_id: str | None
    lease_owner: str | None
    lease_until: datetime | None
    created_at: datetime

    def to_dict(self) -> dict:
        return self._plain()


class ScheduleService:
    """The workspace's schedules (``ws.monitoring.schedules``)."""

    def __init__(self, ctx: Context):
        self.ctx = ctx

    def put(self, name: str, *, kind: str, target: dict, expression: str) -> Schedule:
        """Create the schedule, or update it in place (its last run is kept; its next run is
        recomputed when the expression changed)."""
        if kind not in SCHEDULE_KINDS:
            raise ConfigError(
                f"Unknown schedule kind {kind!r}: one of {', '.join(sorted(SCHEDULE_KINDS))}.",
                code="scheduler.unknown-kind",
            )
        if not name or len(name) > 300:
            raise ConfigError(
                f"A schedule needs a name of 1 to 300 characters. Got {name!r}.",
                code="scheduler.bad-name",
            )
        needed = _TARGET_KEYS[kind]
        if not isinstance(target, dict) or not target.get(needed):
            raise ConfigError(
                f"A {kind} schedule's target names its {needed}: {{{needed!r}: ...}}. "
                f"Got {target!r}.",
                code="scheduler.bad-target",
            )
        expression = parse_schedule(expression)
        at = now()
        with self.ctx.store.write() as session:
            row = session.get(ScheduleRow, name)
            if row is None:
                row = ScheduleRow(
                    name=name,
                    kind=kind,
                    target=dict(target),
                    expression=expression,
                    next_run_at=next_run(expression, at),
                    created_at=at,
                )
                session.add(row)
            else:
                if row.kind == _HEARTBEAT:
                    raise ConfigError(
                        f"{name!r} is the name of a running scheduler's heartbeat; choose "
                        "another name.",
                        code="scheduler.bad-name",
                    )
                if row.expression != expression:
                    row.next_run_at = next_run(expression, at)
                row.kind, row.target, row.expression = kind, dict(target), expression
            session.flush()
            return Schedule._from_row(row)

    def add_retraining(
        self, name: str, *, spec: str, schedule: str, endpoint: str | None = None
    ) -> Schedule:
        """A retraining on a schedule: ``spec`` is what the retraining loop trains (see
        docs/monitoring.md); with ``endpoint``, the candidate is compared with its model."""
        if not spec or not str(spec).strip():
            raise ConfigError(
                "A retraining schedule needs --spec: the training specification to run.",
                code="scheduler.bad-spec",
            )
        if endpoint is not None:
            self.ctx.endpoints.get(endpoint)  # NotFound for an unknown endpoint
        from kiln.monitoring._retrain import parse_retrain_spec

        parse_retrain_spec(self.ctx, spec)  # an endpoint or a model: a typo is refused now
        target = {"spec": spec, "endpoint": endpoint}
        return self.put(f"retrain:{name}", kind="retrain", target=target, expression=schedule)

    def remove(self, name: str) -> Schedule:
        """Delete a schedule (``retrain:N`` may be given as ``N``)."""
        with self.ctx.store.write() as session:
            row = self._row(session, name)
            removed = Schedule._from_row(row)
            session.delete(row)
        return removed

    def get(self, name: str) -> Schedule:
        with self.ctx.store.read() as session:
            return Schedule._from_row(self._row(session, name))

    def list(self) -> list[Schedule]:
        with self.ctx.store.read() as session:
            rows = session.scalars(
                select(ScheduleRow)
                .where(ScheduleRow.kind != _HEARTBEAT)
                .order_by(ScheduleRow.next_run_at, ScheduleRow.name)
            )
            return [Schedule._from_row(r) for r in rows]

    def status(self) -> dict:
        """The schedules (next and last run, last job, lease owner) and the schedulers that have
        written a heartbeat, each with whether it is alive."""
        at = now()
        with self.ctx.store.read() as session:
            beats = session.scalars(
                select(ScheduleRow)
                .where(ScheduleRow.kind == _HEARTBEAT)
                .order_by(ScheduleRow.last_run_at.desc())
            ).all()
            schedulers = [
                {
                    "owner": row.lease_owner,
                    "last_heartbeat": _iso(row.last_run_at),
                    "alive": row.lease_until is not None and row.lease_until > at,
                    **row.target,
                }
                for row in beats
            ]
        schedules = [s.to_dict() | {"due": s.next_run_at <= at} for s in self.list()]
        return {
            "now": _iso(at),
            "alive": any(s["alive"] for s in schedulers),
            "schedulers": schedulers,
            "schedules": schedules,
        }

    def _row(self, session, name: str) -> ScheduleRow:
        for candidate in (name, f"retrain:{name}"):
            row = session.get(ScheduleRow, candidate)
            if row is not None and row.kind != _HEARTBEAT:
                return row
        known = session.scalars(select(ScheduleRow.name).where(ScheduleRow.kind != _HEARTBEAT))
        raise NotFound(
            f"No schedule named {name!r}. Schedules: {', '.join(known) or 'none'} "
            "('kiln scheduler status' lists them).",
            code="scheduler.unknown-schedule",
        )


class Scheduler:
    """Starts the workspace's due schedules; several may run on one workspace.

    Parameters
    ----------
    ctx
        The workspace.
    owner
        Who holds the leases this scheduler takes (default: user@host, process id and a random
        suffix, unique per instance).
    """

    def __init__(self, ctx: Context, *, owner: str | None = None):
        self.ctx = ctx
        self.owner = owner or f"{who()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"

    def run_once(self, now_: datetime | None = None) -> list[dict]:
        """Start every schedule due at ``now_`` (default: now) that this scheduler can claim.

        A schedule that was due several times while no scheduler ran starts once, and its next
        run is the first slot after ``now_``. Returns one entry per schedule started (its name,
        kind, and job id, or the error that kept it from starting)."""
        at = now_ or now()
        with self.ctx.store.read() as session:
            due = session.execute(
                select(ScheduleRow.name, ScheduleRow.next_run_at)
                .where(ScheduleRow.kind != _HEARTBEAT, ScheduleRow.next_run_at <= at)
                .order_by(ScheduleRow.next_run_at)
            ).all()
        started = []
        for name, seen_next in due:
            if not self._claim(name, seen_next, at):
                continue
            started.append(self._start(name, at))
        return started

    def run_forever(
        self,
        stop: threading.Event,
        poll_seconds: float = 10.0,
        *,
        on_event: Callable[[dict], None] | None = None,
    ) -> None:
        """Poll until ``stop`` is set: heartbeat, start what is due, evaluate the endpoint
        alarms. An error in one poll is logged and the loop goes on. ``on_event`` is called
        with each run started and each alarm state change."""
        from kiln.monitoring._alarms import evaluate_alarms

        report = on_event or (lambda event: None)
        try:
            while not stop.is_set():
                try:
                    self.heartbeat(poll_seconds)
                    for entry in self.run_once():
                        report({"event": "started", **entry})
                    for change in evaluate_alarms(self.ctx, source="endpoint"):
                        report({"event": "alarm", **change})
                except Exception as exc:  # noqa: BLE001 - a scheduler outlives a bad poll
                    log.exception("scheduler poll failed")
                    report({"event": "error", "error": f"{type(exc).__name__}: {exc}"})
                stop.wait(poll_seconds)
        finally:
            self.sign_off()

    def heartbeat(self, poll_seconds: float) -> None:
        """Record that this scheduler is alive (until ``ALIVE_POLLS`` polls from now)."""
        at = now()
        name = f"{_HEARTBEAT}:{self.owner}"[:300]
        with self.ctx.store.write() as session:
            row = session.get(ScheduleRow, name)
            if row is None:
                row = ScheduleRow(
                    name=name,
                    kind=_HEARTBEAT,
                    target={"pid": os.getpid(), "started_at": _iso(at)},
                    expression="",
                    next_run_at=_NEVER,
                    lease_owner=self.owner,
                    created_at=at,
                )
                session.add(row)
            row.target = {**row.target, "poll_seconds": poll_seconds}
            row.last_run_at = at
            row.lease_until = at + timedelta(seconds=max(ALIVE_POLLS * poll_seconds, 5.0))
            session.execute(
                delete(ScheduleRow).where(
                    ScheduleRow.kind == _HEARTBEAT,
                    ScheduleRow.lease_until < at - FORGET_HEARTBEAT_AFTER,
                )
            )

    def sign_off(self) -> None:
        """Remove this scheduler's heartbeat (a clean stop)."""
        with self.ctx.store.write() as session:
            session.execute(
                delete(ScheduleRow).where(
                    ScheduleRow.kind == _HEARTBEAT, ScheduleRow.lease_owner == self.owner
                )
            )

    # -- one schedule ---------------------------------------------------------------------------
    def _claim(self, name: str, seen_next: datetime, at: datetime) -> bool:
        """Take the lease on a due schedule: one UPDATE that matches only while the schedule is
        still due for the run this scheduler saw and no live lease holds it, so of two
        schedulers racing, the database lets exactly one through."""
        with self.ctx.store.write() as session:
            result = session.execute(
                update(ScheduleRow)
                .where(
                    ScheduleRow.name == name,
                    ScheduleRow.next_run_at == seen_next,
                    or_(ScheduleRow.lease_owner.is_(None), ScheduleRow.lease_until < at),
                )
                .values(lease_owner=self.owner, lease_until=at + timedelta(seconds=LEASE_SECONDS))
                .execution_options(synchronize_session=False)
            )
            return result.rowcount == 1

    def _start(self, name: str, at: datetime) -> dict:
        with self.ctx.store.read() as session:
            row = session.get(ScheduleRow, name)
            kind, target, expression = row.kind, dict(row.target), row.expression
        entry: dict[str, Any] = {"schedule": name, "kind": kind}
        job_id = None
        try:
            job_id = start_scheduled(self.ctx, kind, target, reason=f"schedule {name}")
            entry["job_id"] = job_id
            log.info("schedule %s started job %s", name, job_id)
        except Exception as exc:  # noqa: BLE001 - recorded; the schedule runs again next slot
            entry["error"] = f"{type(exc).__name__}: {exc}"
            log.warning("schedule %s could not start: %s", name, entry["error"])
        finally:
            following = next_run(expression, max(at, now()))
            with self.ctx.store.write() as session:
                session.execute(
                    update(ScheduleRow)
                    .where(ScheduleRow.name == name, ScheduleRow.lease_owner == self.owner)
                    .values(
                        last_run_at=at,
                        last_job_id=job_id,
                        next_run_at=following,
                        lease_owner=None,
                        lease_until=None,
                    )
                    .execution_options(synchronize_session=False)
                )
        entry["next_run_at"] = _iso(following)
        return entry


def start_scheduled(ctx: Context, kind: str, target: dict, *, reason: str | None = None) -> str:
    """Start one run of a schedule's kind; the job id."""
    function = _resolve(SCHEDULE_KINDS[kind])
    # The job runs on in a thread: a retraining may take longer than the schedule's lease.
    if kind == "monitor":
        return function(ctx, target["monitor"], wait=False)
    if kind == "pipeline":  # None when a data trigger finds no new version
        return function(ctx, target, reason=reason, wait=False)
    return function(ctx, target["spec"], endpoint=target.get("endpoint"), reason=reason, wait=False)


def _resolve(ref: str) -> Callable:
    module_name, _, function_name = ref.partition(":")
    return getattr(importlib.import_module(module_name), function_name)


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat() + "Z"
