"""Job records: every long-running operation, with status, logs, metrics and lineage."""

from __future__ import annotations

import os
import re
import signal
import time
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import load_only

from kiln.compute._kinds import job_kind, job_kinds
from kiln.compute._process import (
    host_name,
    is_running,
    pid_alive,
    started_by,
    this_process,
)
from kiln.errors import ConfigError, JobFailed, NotFound, StateError, public_class
from kiln.store import (
    ExperimentRow,
    JobLogRow,
    JobMetricRow,
    JobRow,
    Page,
    Record,
    like_pattern,
    link,
    new_id,
    now,
    paged,
    who,
)

if TYPE_CHECKING:
    from kiln.context import Context

__all__ = [
    "ACTIVE_STATUSES",
    "FINAL_STATUSES",
    "Job",
    "JobContext",
    "JobService",
    "JobSummary",
    "LogPage",
]

PENDING, IN_PROGRESS, COMPLETED, FAILED, STOPPED = (
    "Pending",
    "InProgress",
    "Completed",
    "Failed",
    "Stopped",
)
FINAL_STATUSES = (COMPLETED, FAILED, STOPPED)
ACTIVE_STATUSES = (PENDING, IN_PROGRESS)
# Characters a job id prefix needs after its kind's part ("train-cd48"); see JobService.resolve.
MIN_ID_PREFIX = 4


class _Timed:
    """What a job record and its summary share: the duration from start to end (or now), and
    JSON with it."""

    started_at: datetime | None
    ended_at: datetime | None

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at is None:
            return None
        return ((self.ended_at or now()) - self.started_at).total_seconds()

    def to_dict(self) -> dict:
        return self._plain() | {"duration_seconds": self.duration_seconds}


@dataclass(frozen=True)
class Job(_Timed, Record):
    id: str
    kind: str
    status: str
    spec: dict
    parent_id: str | None
    experiment: str | None
    failure_reason: str | None
    # Set when the job failed with a KilnError: its code and kiln.errors class (e.g. "DataError").
    failure_code: str | None
    failure_class: str | None
    result: dict
    created_at: datetime
    started_at: datetime | None
    ended_at: datetime | None
    created_by: str
    # The process in charge: the one that created the job while it is Pending, the job's own
    # process once it runs; and that process's last heartbeat.
    pid: int | None
    host: str | None
    heartbeat_at: datetime | None


@dataclass(frozen=True)
class JobSummary(_Timed, Record):
    """A job as a list shows it: no spec, result or failure text (they can be large)."""

    id: str
    kind: str
    status: str
    parent_id: str | None
    experiment: str | None
    failure_code: str | None
    created_at: datetime
    started_at: datetime | None
    ended_at: datetime | None
    created_by: str


@dataclass(frozen=True)
class LogPage:
    """Some of a job's log lines, ``(sequence, time, level, message)`` in order; ``earlier``:
    whether the job has lines before the first of them."""

    lines: list[tuple[int, datetime, str, str]]
    earlier: bool

    def to_dict(self) -> dict:
        return {
            "lines": [
                {"seq": seq, "time": at.isoformat() + "Z", "level": level, "message": message}
                for seq, at, level, message in self.lines
            ],
            "earlier": self.earlier,
            "first": self.lines[0][0] if self.lines else None,
            "last": self.lines[-1][0] if self.lines else None,
        }


# What a page of jobs may be sorted by (the first is the tie-break): indexed columns only, so a
# page of 100,000 jobs is read from an index (migration 0012 indexes created_at and started_at).
_SORTS = {
    "id": JobRow.id,
    "created_at": JobRow.created_at,
    "started_at": JobRow.started_at,
    "status": JobRow.status,
    "kind": JobRow.kind,
}
MAX_LOG_LINES = 5000


class JobService:
    """``ws.jobs``: create, run, inspect and log jobs."""

    def __init__(self, workspace: Context):
        self._ws = workspace

    def create(
        self, kind: str, spec: dict, *, parent_id: str | None = None, experiment: str | None = None
    ) -> Job:
        with self._ws.store.write() as session:
            if experiment is not None and session.get(ExperimentRow, experiment) is None:
                session.add(
                    ExperimentRow(
                        name=experiment, description="", created_at=now(), created_by=who()
                    )
                )
            created = now()
            process = this_process()
            row = JobRow(
                id=new_id(job_kind(kind).id_prefix),
                kind=kind,
                status=PENDING,
                spec=spec,
                parent_id=parent_id,
                experiment=experiment,
                result={},
                created_at=created,
                created_by=who(),
                # Until its own process starts, the creator is in charge: if the creator dies
                # first, the job is lost rather than Pending forever.
                pid=process.pid,
                host=process.host,
                pid_created=process.created,
                heartbeat_at=created,
            )
            session.add(row)
        return Job._from_row(row)

    def get(self, job_id: str) -> Job:
        """The job with id ``job_id``, or whose id alone starts with ``job_id`` (see
        :meth:`resolve`)."""
        job_id = self.resolve(job_id)
        self.reap(job_id)
        with self._ws.store.read() as session:
            return Job._from_row(self._check_exists(session, job_id))

    def resolve(self, job_id: str) -> str:
        """The whole id of the job ``job_id`` names: its id, or a prefix of one job's id only.

        A prefix needs at least :data:`MIN_ID_PREFIX` characters after the kind's part
        (``train-cd48``), so one that is unique today stays unique as jobs are added; an
        ambiguous one is refused with the jobs it matches."""
        with self._ws.store.read() as session:
            if session.get(JobRow, job_id) is not None:
                return job_id
            matches = list(
                session.scalars(
                    select(JobRow.id)
                    .where(JobRow.id.startswith(job_id, autoescape=True))
                    .order_by(JobRow.id)
                    .limit(11)
                )
            )
        if not matches:
            raise NotFound(
                f"No job with id {job_id!r}. See 'kiln jobs list'.", code="jobs.unknown-job"
            )
        _kind, dash, rest = job_id.partition("-")
        if not dash or len(rest) < MIN_ID_PREFIX:
            example = f"{matches[0].partition('-')[0]}-{matches[0].partition('-')[2][:6]}"
            raise ConfigError(
                f"Job id prefix {job_id!r} is too short: give at least {MIN_ID_PREFIX} "
                f"characters after the kind, e.g. {example!r}, or the whole id from "
                "'kiln jobs list'.",
                code="jobs.short-id",
            )
        if len(matches) > 1:
            count = "more than 10" if len(matches) > 10 else str(len(matches))
            raise ConfigError(
                f"Job id prefix {job_id!r} matches {count} jobs: {', '.join(matches[:10])}. "
                "Give more of the id.",
                code="jobs.ambiguous-id",
            )
        return matches[0]

    def _check_exists(self, session, job_id: str) -> JobRow:
        # Logs and metrics are read without reaping: the executor polls them while it waits for
        # the job's process, and it, not a reader, records how that process ended.
        row = session.get(JobRow, job_id) or session.get(JobRow, self.resolve(job_id))
        if row is None:  # deleted between the two reads
            raise NotFound(
                f"No job with id {job_id!r}. See 'kiln jobs list'.", code="jobs.unknown-job"
            )
        return row

    def list(
        self,
        *,
        kind: str | None = None,
        status: str | None = None,
        experiment: str | None = None,
        parent_id: str | None = None,
        top_level: bool = False,
        limit: int | None = 50,
    ) -> list[Job]:
        """Newest first; ``parent_id``: the jobs a job started (a tuning job's trials);
        ``top_level``: only the jobs no other job started. ``status`` in any case
        (``failed``); an unknown kind or status is refused."""
        if kind:
            job_kind(kind)  # refuses an unknown kind, naming the known ones
        if status:
            status = _status_named(status)
        if parent_id:
            parent_id = self.resolve(parent_id)
        self.reap()
        with self._ws.store.read() as session:
            query = select(JobRow).order_by(JobRow.created_at.desc(), JobRow.id)
            if limit:
                query = query.limit(limit)
            if kind:
                query = query.where(JobRow.kind == kind)
            if status:
                query = query.where(JobRow.status == status)
            if experiment:
                query = query.where(JobRow.experiment == experiment)
            if parent_id:
                query = query.where(JobRow.parent_id == parent_id)
            if top_level:
                query = query.where(JobRow.parent_id.is_(None))
            return [Job._from_row(r) for r in session.scalars(query)]

    def page(
        self,
        *,
        kind: str | None = None,
        status: str | None = None,
        experiment: str | None = None,
        parent_id: str | None = None,
        top_level: bool = False,
        q: str | None = None,
        spec: dict[str, str] | None = None,
        sort: str | None = None,
        limit: int | None = 50,
        offset: int | None = 0,
    ) -> Page[JobSummary]:
        """One page of jobs as :class:`JobSummary` (newest first unless ``sort`` says otherwise:
        ``created_at``, ``status``, ``kind`` or ``id``, ``-`` for descending),
        with the filters of :meth:`list`, ``q``, a part of the id or kind, and ``spec``, values
        the job's spec holds (``{"pipeline": "churn"}``: that pipeline's executions). Reads only
        the columns a list shows, so a workspace with 100,000 jobs pages as fast as a small
        one."""
        if kind:
            job_kind(kind)
        if status:
            status = _status_named(status)
        if parent_id:
            parent_id = self.resolve(parent_id)
        self.reap()
        fields = [getattr(JobRow, name) for name in JobSummary.__dataclass_fields__]
        query = select(JobRow).options(load_only(*fields, raiseload=True))
        if kind:
            query = query.where(JobRow.kind == kind)
        if status:
            query = query.where(JobRow.status == status)
        if experiment:
            query = query.where(JobRow.experiment == experiment)
        if parent_id:
            query = query.where(JobRow.parent_id == parent_id)
        if top_level:
            query = query.where(JobRow.parent_id.is_(None))
        for key, value in (spec or {}).items():
            query = query.where(JobRow.spec[key].as_string() == value)
        if q:
            pattern = like_pattern(q)
            # Each LIKE reads its column's index, not the rows (whose spec and result are large).
            query = query.where(
                or_(
                    JobRow.id.in_(select(JobRow.id).where(JobRow.id.like(pattern, escape="\\"))),
                    JobRow.kind.in_(
                        select(JobRow.kind).where(JobRow.kind.like(pattern, escape="\\")).distinct()
                    ),
                )
            )
        with self._ws.store.read() as session:
            page = paged(
                session,
                query,
                limit=limit,
                offset=offset,
                sort=sort,
                columns=_SORTS,
                default_sort="-created_at",
            )
            return replace(page, items=[JobSummary._from_row(row) for row in page.items])

    def child_counts(self, job_ids: list[str]) -> dict[str, int]:
        """How many jobs each of ``job_ids`` started (a tuning job's trials); 0s left out."""
        if not job_ids:
            return {}
        with self._ws.store.read() as session:
            rows = session.execute(
                select(JobRow.parent_id, func.count())
                .where(JobRow.parent_id.in_(job_ids))
                .group_by(JobRow.parent_id)
            )
            return {parent: count for parent, count in rows}

    def cancel(self, job_id: str, *, reason: str | None = None) -> Job:
        """Stop a Pending or InProgress job; returns it as it is then (see :meth:`wait`).

        A Pending job ends Stopped at once: its process, when it starts, finds it ended and does
        not run. A running job's process, on this host, is sent SIGINT, as Ctrl-C would, and ends
        the job Stopped with ``reason``, within seconds; on another host, the job is ended here
        and its process stops at its next heartbeat. A job that has already ended is refused
        (``jobs.not-active``): it is left as it ended."""
        job = self.get(job_id)
        if job.status in FINAL_STATUSES:
            raise StateError(
                f"Job {job.id} already ended {job.status} "
                f"({job.ended_at:%Y-%m-%d %H:%M:%S}); there is nothing to cancel. See "
                f"'kiln jobs show {job.id}'.",
                code="jobs.not-active",
            )
        reason = reason or f"Cancelled by {who()}."
        self.request_stop(job.id, reason)
        self.context(job.id).log(reason, level="WARNING")
        if job.status == PENDING:
            with self._ws.store.write() as session:
                ended = now()
                changed = session.execute(
                    update(JobRow)
                    .where(JobRow.id == job.id, JobRow.status == PENDING)
                    .values(status=STOPPED, started_at=ended, ended_at=ended)
                    .execution_options(synchronize_session=False)
                )
            if changed.rowcount == 1:
                return self.get(job.id)
        with self._ws.store.read() as session:
            row = session.get(JobRow, job.id)
            status, pid, host, created = row.status, row.pid, row.host, row.pid_created
        if status == IN_PROGRESS:
            if host == host_name() and pid is not None and is_running(pid, created):
                # The job's own process: it ends the job Stopped, keeping the reason above.
                os.kill(pid, signal.SIGINT)
            else:
                self.finish(job.id, STOPPED, failure_reason=reason)
        return self.get(job.id)

    def wait(self, job_id: str, *, timeout: float | None = None, poll_seconds: float = 0.5) -> Job:
        """Block until the job ends (Completed, Failed or Stopped) and return it.

        ``timeout``: seconds to wait at most; then :class:`~kiln.errors.StateError`
        ``jobs.wait-timeout``, the job left running."""
        job = self.get(job_id)
        deadline = None if timeout is None else time.monotonic() + timeout
        while job.status not in FINAL_STATUSES:
            if deadline is not None and time.monotonic() >= deadline:
                raise StateError(
                    f"Job {job.id} is still {job.status} after {timeout:g} s. Wait longer "
                    f"('kiln jobs wait {job.id} --timeout SECONDS') or cancel it "
                    f"('kiln jobs cancel {job.id}').",
                    code="jobs.wait-timeout",
                )
            pause = (
                poll_seconds if deadline is None else min(poll_seconds, deadline - time.monotonic())
            )
            time.sleep(max(pause, 0))
            job = self.get(job.id)
        return job

    def logs(self, job_id: str, *, after: int = 0) -> list[tuple[int, datetime, str, str]]:
        """``(sequence, time, level, message)`` lines, those after ``after`` only."""
        with self._ws.store.read() as session:
            job_id = self._check_exists(session, job_id).id
            rows = session.scalars(
                select(JobLogRow)
                .where(JobLogRow.job_id == job_id, JobLogRow.id > after)
                .order_by(JobLogRow.id)
            )
            return [(r.id, r.time, r.level, r.message) for r in rows]

    def log_page(
        self,
        job_id: str,
        *,
        after: int | None = None,
        before: int | None = None,
        tail: int | None = None,
        limit: int = 1000,
    ) -> LogPage:
        """A page of the job's log lines, read by the index on the job: ``after`` a sequence
        number, the first ``limit`` lines after it (what a live view asks for next); ``before``
        one, the ``limit`` lines just before it ("load earlier"); ``tail``, the last ``tail``
        lines. ``limit`` and ``tail``: 1 to :data:`MAX_LOG_LINES`."""
        for name, value in (("limit", limit), ("tail", tail)):
            if value is not None and not 1 <= value <= MAX_LOG_LINES:
                raise ConfigError(
                    f"'{name}' is a number of log lines from 1 to {MAX_LOG_LINES}. Got {value}; "
                    "page on with 'after' or 'before' instead.",
                    code="jobs.bad-log-page",
                    field=name,
                )
        if sum(value is not None for value in (after, before, tail)) > 1:
            raise ConfigError(
                "Give one of 'after', 'before' and 'tail' to page a job's log, not several.",
                code="jobs.bad-log-page",
            )
        columns = (JobLogRow.id, JobLogRow.time, JobLogRow.level, JobLogRow.message)
        with self._ws.store.read() as session:
            job_id = self._check_exists(session, job_id).id
            query = select(*columns).where(JobLogRow.job_id == job_id)
            if after is not None:
                rows = session.execute(
                    query.where(JobLogRow.id > after).order_by(JobLogRow.id).limit(limit)
                ).all()
            else:
                if before is not None:
                    query = query.where(JobLogRow.id < before)
                count = tail if tail is not None else limit
                rows = session.execute(query.order_by(JobLogRow.id.desc()).limit(count)).all()[::-1]
            earlier = bool(rows) and (
                session.scalar(
                    select(JobLogRow.id)
                    .where(JobLogRow.job_id == job_id, JobLogRow.id < rows[0][0])
                    .limit(1)
                )
                is not None
            )
            return LogPage([tuple(row) for row in rows], earlier)

    def metrics(self, job_id: str) -> dict[str, list[tuple[int, float]]]:
        """Per-step metrics logged by the job: ``{name: [(step, value), ...]}``."""
        with self._ws.store.read() as session:
            job_id = self._check_exists(session, job_id).id
            out: dict[str, list[tuple[int, float]]] = {}
            for r in session.scalars(
                select(JobMetricRow).where(JobMetricRow.job_id == job_id).order_by(JobMetricRow.id)
            ):
                out.setdefault(r.name, []).append((r.step, r.value))
            return out

    def metric_series(self, job_id: str, *, max_points: int = 1000) -> dict[str, dict]:
        """The job's metrics, one series per name, each thinned to at most ``max_points``
        evenly spaced points (the first and last kept), for a chart:
        ``{name: {"steps": [...], "values": [...], "points": all the series' points}}``."""
        if not 2 <= max_points <= 100_000:
            raise ConfigError(
                f"'max_points' is the most points per series, from 2 to 100000. Got {max_points}.",
                code="jobs.bad-max-points",
                field="max_points",
            )
        series: dict[str, tuple[list[int], list[float]]] = {}
        with self._ws.store.read() as session:
            job_id = self._check_exists(session, job_id).id
            rows = session.execute(
                select(JobMetricRow.name, JobMetricRow.step, JobMetricRow.value)
                .where(JobMetricRow.job_id == job_id)
                .order_by(JobMetricRow.id)
            )
            for name, step, value in rows:
                steps, values = series.setdefault(name, ([], []))
                steps.append(step)
                values.append(value)
        out = {}
        for name, (steps, values) in series.items():
            count = len(steps)
            if count > max_points:
                keep = [round(i * (count - 1) / (max_points - 1)) for i in range(max_points)]
                steps, values = [steps[i] for i in keep], [values[i] for i in keep]
            out[name] = {"steps": steps, "values": values, "points": count}
        return out

    def has_report(self, job: Job) -> bool:
        """Whether :meth:`report` can write ``job``'s report: its kind has one and it completed."""
        return job_kind(job.kind).report is not None and job.status == COMPLETED

    def kinds(self) -> list[str]:
        """The names of the registered job kinds (what the ``kind`` filter takes)."""
        return [kind.name for kind in job_kinds()]

    def report_path(self, job_id: str) -> Path:
        """The job's HTML report, written once (by :meth:`report`) and then read from the
        workspace's ``reports`` folder: what Studio shows. A kind without reports is
        ``jobs.no-report`` (not found)."""
        job = self.get(job_id)
        if job_kind(job.kind).report is None:
            raise NotFound(
                f"Job {job.id} is a {job.kind} job, which has no report; training, tuning and "
                "AutoML jobs have one. See its log and result instead.",
                code="jobs.no-report",
            )
        job_id = job.id
        path = Path(self._ws.home) / "reports" / "studio" / f"{job_id}.html"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            # Its own name per call: two requests may write the same report at once.
            partial = path.with_name(f".{job_id}.{uuid.uuid4().hex}.html")
            try:
                self.report(job_id, out=partial)
                partial.replace(path)
            finally:
                partial.unlink(missing_ok=True)
        return path

    def report_library(self, name: str) -> Path:
        """A script file that a report Studio keeps in ``reports/studio`` loads (a job's, see
        :meth:`report_path`, or a monitor run's): its plotly.js, named by its content's hash and
        written beside it."""
        path = Path(self._ws.home) / "reports" / "studio" / name
        if not re.fullmatch(r"plotly-[0-9a-f]{16}\.min\.js", name) or not path.is_file():
            raise NotFound(
                f"No report library {name!r}: a report loads the plotly.js written beside it. "
                "Open the report again to write it.",
                code="jobs.no-report",
            )
        return path

    def report(self, job_id: str, *, out=None, **options):
        """Write the HTML report of a completed job, by its kind (training: the evaluation
        report, see :func:`kiln.evaluation.training_report`; tuning; AutoML). Returns a
        ``JobReport``."""
        job = self.get(job_id)
        kind = job_kind(job.kind)
        function = kind.report_function()
        if function is None:
            *first, last = [k.title for k in job_kinds() if k.report]
            reportable = f"{', '.join(first)} and {last}" if first else last
            raise ConfigError(
                f"Job {job.id} is a {job.kind} job, which has no report; reports are for "
                f"{reportable} jobs. See 'kiln jobs list --kind training'.",
                code="reports.not-training-job",
            )
        if job.status != COMPLETED:
            reason = (
                f" ({job.failure_reason.strip().splitlines()[-1]})" if job.failure_reason else ""
            )
            raise StateError(
                f"{kind.title[0].upper()}{kind.title[1:]} job {job.id} is {job.status}{reason}, "
                f"so it has no model to report on. See 'kiln jobs logs {job.id}', or report on "
                "a completed job.",
                code="reports.job-not-completed",
            )
        return function(self._ws, job, out=out, **options)

    def add_lineage(self, job_id: str, record: tuple[str, str], relation: str) -> None:
        """``relation`` "input": record → job; "output": job → record."""
        with self._ws.store.write() as session:
            if relation == "input":
                link(session, record, ("job", job_id), relation)
            else:
                link(session, ("job", job_id), record, relation)

    # -- state changes (used by the executor and the job's own process) -------------------------
    def start(self, job_id: str, *, launcher_pid: int | None = None) -> None:
        """Mark a Pending job InProgress, run by the calling process (the job's own);
        ``launcher_pid``: its parent, which waits for it and records how it ended."""
        process = this_process()
        with self._ws.store.write() as session:
            row = session.get(JobRow, job_id)
            if row.status != PENDING:
                raise StateError(f"Job {job_id} is {row.status}; only a Pending job can start.")
            row.status, row.started_at = IN_PROGRESS, now()
            row.pid, row.host, row.pid_created = process
            row.heartbeat_at, row.launcher_pid = row.started_at, launcher_pid

    def heartbeat(self, job_id: str, *, status: str = IN_PROGRESS) -> bool:
        """Record that the process in charge of the job is alive; False when the job is no
        longer ``status`` (it ended, or was marked lost), so that process can stop."""
        with self._ws.store.write() as session:
            changed = session.execute(
                update(JobRow)
                .where(JobRow.id == job_id, JobRow.status == status)
                .values(heartbeat_at=now())
                .execution_options(synchronize_session=False)
            )
            return changed.rowcount == 1

    def request_stop(self, job_id: str, reason: str) -> None:
        """Record why a running job is being stopped, before its process is signalled: the
        process then ends it Stopped with this reason rather than the signal's.

        From then on the job ends Stopped, with this reason, unless it completes: a failure
        recorded by any process (see :meth:`finish`) or the job found lost (see :meth:`reap`)
        is part of the stop."""
        with self._ws.store.write() as session:
            session.execute(
                update(JobRow)
                .where(JobRow.id == job_id, JobRow.status.in_(ACTIVE_STATUSES))
                .values(failure_reason=reason)
                .execution_options(synchronize_session=False)
            )

    def reap(self, job_id: str | None = None) -> list[str]:
        """Mark Failed (``job.lost``) the Pending and InProgress jobs whose process is gone;
        returns their ids. ``job_id``: look at that job only.

        A job being stopped (see :meth:`request_stop`) is marked Stopped with the reason it was
        given instead: its process may have ended before the process stopping it recorded the
        stop, and what it was asked for is what happened.

        On this host the process table decides at once (the pid, with its start time, is still
        running or not); for a process on another host, a heartbeat older than the
        ``job_lost_after_seconds`` setting does. Reading jobs calls this, so it costs one
        indexed query when nothing is running, and a job changes only if it is still exactly
        as it was read (a conditional UPDATE), so it is safe against the job's own process
        starting, beating or finishing meanwhile, and against other readers reaping too."""
        query = select(
            JobRow.id,
            JobRow.kind,
            JobRow.status,
            JobRow.parent_id,
            JobRow.pid,
            JobRow.host,
            JobRow.pid_created,
            JobRow.heartbeat_at,
            JobRow.launcher_pid,
            JobRow.started_at,
            JobRow.created_at,
            JobRow.failure_reason,
        ).where(JobRow.status.in_(ACTIVE_STATUSES))
        if job_id is not None:
            query = query.where(JobRow.id == job_id)
        with self._ws.store.read() as session:
            candidates = session.execute(query).all()
        if not candidates:
            return []
        here, checked_at = host_name(), now()
        limit = self._ws.settings.job_lost_after_seconds
        lost = [
            (row, reason) for row in candidates if (reason := _lost(row, here, checked_at, limit))
        ]
        if not lost:
            return []
        reaped = []
        with self._ws.store.write() as session:
            for row, reason in lost:
                if row.failure_reason is None:
                    error = JobFailed(reason, code="job.lost")
                    end = {
                        "status": FAILED,
                        "failure_reason": reason,
                        "failure_code": error.code,
                        "failure_class": public_class(error).__name__,
                    }
                else:  # being stopped (request_stop): it keeps the reason it was given
                    end = {"status": STOPPED, "failure_code": None, "failure_class": None}
                changed = session.execute(
                    update(JobRow)
                    .where(
                        JobRow.id == row.id,
                        JobRow.status == row.status,
                        JobRow.pid.is_not_distinct_from(row.pid),
                        JobRow.heartbeat_at.is_not_distinct_from(row.heartbeat_at),
                        # A stop requested since the read: read it again next time.
                        JobRow.failure_reason.is_not_distinct_from(row.failure_reason),
                    )
                    .values(
                        ended_at=checked_at,
                        started_at=func.coalesce(JobRow.started_at, checked_at),
                        **end,
                    )
                    .execution_options(synchronize_session=False)
                )
                if changed.rowcount == 1:
                    level = "ERROR" if end["status"] == FAILED else "WARNING"
                    session.add(
                        JobLogRow(job_id=row.id, time=checked_at, level=level, message=reason)
                    )
                    reaped.append(row.id)
        return reaped

    def reopen(self, job_id: str) -> Job:
        """A Failed or Stopped job back to Pending, to run again (a tuning job resumes).

        A job whose process was killed is first found lost (see :meth:`reap`), so it resumes."""
        job_id = self.resolve(job_id)
        self.reap()
        process = this_process()
        with self._ws.store.write() as session:
            row = session.get(JobRow, job_id)
            if row is None:
                raise NotFound(f"No job {job_id!r}.", code="jobs.unknown-job")
            if row.status not in (FAILED, STOPPED):
                running = (
                    f" (its process is pid {row.pid} on {row.host})"
                    if row.status == IN_PROGRESS and row.host
                    else ""
                )
                raise StateError(
                    f"Job {job_id} is {row.status}{running}; only a Failed or Stopped job can "
                    "resume. Stop it first (Ctrl-C or SIGTERM to the command running it), or "
                    "wait for it to end.",
                    code="jobs.not-resumable",
                )
            row.status, row.ended_at, row.failure_reason = PENDING, None, None
            row.failure_code = row.failure_class = None
            row.pid, row.host, row.pid_created = process
            row.heartbeat_at, row.launcher_pid = now(), None
            for child in session.scalars(select(JobRow).where(JobRow.parent_id == job_id)):
                if child.status not in FINAL_STATUSES:
                    child.status, child.ended_at = FAILED, now()
                    child.failure_reason = "Interrupted with its tuning job."
        return self.get(job_id)

    def finish(
        self,
        job_id: str,
        status: str,
        *,
        result: dict | None = None,
        failure_reason: str | None = None,
        failure_code: str | None = None,
        failure_class: str | None = None,
    ) -> bool:
        """Move a job to a final status; returns False if it was already final.

        ``failure_code`` and ``failure_class``: the code and kiln.errors class name of the
        KilnError the job failed with, so the caller can raise the same error.

        A job being stopped (see :meth:`request_stop`) that fails ends Stopped: the interrupt
        that stops it can surface as another error (an interrupted import of a C extension),
        and whichever process records the end first, the job's own or the one stopping it,
        records the stop."""
        with self._ws.store.write() as session:
            row = session.get(JobRow, job_id)
            if row.status in FINAL_STATUSES:
                return False
            if status == FAILED and row.failure_reason is not None:
                status, failure_code, failure_class = STOPPED, None, None
            row.status = status
            row.ended_at = now()
            if row.started_at is None:
                row.started_at = row.ended_at
            if result is not None:
                row.result = result
            # A stop asked for by another process (request_stop) keeps the reason it gave; a job
            # that completed before the stop took effect keeps none.
            kept = status == STOPPED and row.failure_reason is not None
            if failure_reason is not None and not kept:
                row.failure_reason = failure_reason[-4000:]
            elif status == COMPLETED:
                row.failure_reason = None
            row.failure_code, row.failure_class = failure_code, failure_class
            return True

    def context(self, job_id: str) -> JobContext:
        return JobContext(self._ws, job_id)


class JobContext:
    """What a running job uses to report: log lines and per-step metrics."""

    def __init__(self, workspace: Context, job_id: str):
        self.workspace = workspace
        self.job_id = job_id

    @property
    def job(self) -> Job:
        return self.workspace.jobs.get(self.job_id)

    def log(self, message: str, *, level: str = "INFO") -> None:
        with self.workspace.store.write() as session:
            for line in str(message).splitlines() or [""]:
                session.add(JobLogRow(job_id=self.job_id, time=now(), level=level, message=line))

    def log_metric_series(self, name: str, values: list[float], *, start_step: int = 1) -> None:
        with self.workspace.store.write() as session:
            session.add_all(
                JobMetricRow(job_id=self.job_id, name=name, step=start_step + i, value=float(v))
                for i, v in enumerate(values)
            )


def _status_named(status: str) -> str:
    """The status ``status`` names, in any case; an unknown one is refused."""
    statuses = (*ACTIVE_STATUSES, *FINAL_STATUSES)
    for known in statuses:
        if status.lower() == known.lower():
            return known
    raise ConfigError(
        f"Unknown job status {status!r}: a job is {', '.join(statuses)}.",
        code="jobs.bad-status",
    )


def _lost(row, here: str, checked_at: datetime, limit: float) -> str | None:
    """Why the job of ``row`` is lost, or None while its process is (or may be) alive."""
    pending = row.status == PENDING
    who = "the process that created it" if pending else "its process"
    process = f"pid {row.pid} on {row.host}" if row.pid is not None and row.host else None
    if row.host == here and row.pid is not None:
        # The process table is the truth on this host, so a long call that holds the GIL (and
        # the heartbeat thread with it) never makes a running job look lost.
        if is_running(row.pid, row.pid_created, reaped_by=row.launcher_pid):
            return None
        if pid_alive(row.pid) and _silent_seconds(row, checked_at) <= limit:
            # The pid runs, but its start time reads otherwise: a reused pid, or a wall-clock
            # jump (a paused VM, a time sync), which shifts the start times psutil reports. A
            # process that beats is the job's; a reused pid stops beating and is lost later.
            return None
        happened = (
            "ended before the job's own process started"
            if pending
            else "ended without recording how the job ended: it was killed (SIGKILL, the "
            "out-of-memory killer) or its machine restarted"
        )
        reason = f"Lost: {who} ({process}) {happened}."
    else:
        # Another host (or a job recorded before kiln kept hosts): only the heartbeat tells.
        if row.host is None and _legacy_process_running(row):
            return None
        silent = _silent_seconds(row, checked_at)
        if silent <= limit:
            return None
        reason = (
            f"Lost: no heartbeat from {who}{f' ({process})' if process else ''} for "
            f"{silent:.0f} s (job_lost_after_seconds is {limit:g}); it or its machine is gone."
        )
    return f"{reason} {_what_next(row)}"


def _silent_seconds(row, checked_at: datetime) -> float:
    """Seconds since the job's process last beat (or since it started or was created)."""
    last = row.heartbeat_at or row.started_at or row.created_at
    return (checked_at - last).total_seconds()


def _legacy_process_running(row) -> bool:
    """A job started before kiln recorded hosts and start times (migration 0006) whose process,
    an older kiln's, runs here still. Never a reason to find it lost: it may run elsewhere."""
    if row.pid is None or row.started_at is None:
        return False
    return started_by(row.pid, row.started_at.replace(tzinfo=UTC).timestamp())


def _what_next(row) -> str:
    if row.parent_id:
        return f"It was started by job {row.parent_id}."
    try:
        resume = job_kind(row.kind).resume
    except ConfigError:  # a kind registered by a package this process has not imported
        resume = None
    if resume:
        return f"Resume it with '{resume.format(job=row.id)}'."
    return "Run it again."
