"""Job records: every long-running operation, with status, logs, metrics and lineage."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import select

from kiln.compute._kinds import job_kind, job_kinds
from kiln.errors import ConfigError, NotFound, StateError
from kiln.store import (
    ExperimentRow,
    JobLogRow,
    JobMetricRow,
    JobRow,
    Record,
    link,
    new_id,
    now,
    who,
)

if TYPE_CHECKING:
    from kiln.context import Context

__all__ = ["Job", "JobContext", "JobService", "FINAL_STATUSES"]

PENDING, IN_PROGRESS, COMPLETED, FAILED, STOPPED = (
    "Pending",
    "InProgress",
    "Completed",
    "Failed",
    "Stopped",
)
FINAL_STATUSES = (COMPLETED, FAILED, STOPPED)


@dataclass(frozen=True)
class Job(Record):
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

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at is None:
            return None
        return ((self.ended_at or now()) - self.started_at).total_seconds()

    def to_dict(self) -> dict:
        return self._plain() | {"duration_seconds": self.duration_seconds}


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
            row = JobRow(
                id=new_id(job_kind(kind).id_prefix),
                kind=kind,
                status=PENDING,
                spec=spec,
                parent_id=parent_id,
                experiment=experiment,
                result={},
                created_at=now(),
                created_by=who(),
            )
            session.add(row)
        return Job._from_row(row)

    def get(self, job_id: str) -> Job:
        with self._ws.store.read() as session:
            row = session.get(JobRow, job_id)
            if row is None:
                raise NotFound(
                    f"No job with id {job_id!r}. See 'kiln jobs list'.", code="jobs.unknown-job"
                )
            return Job._from_row(row)

    def list(
        self,
        *,
        kind: str | None = None,
        status: str | None = None,
        experiment: str | None = None,
        parent_id: str | None = None,
        limit: int | None = 50,
    ) -> list[Job]:
        """Newest first; ``parent_id``: the jobs a job started (a tuning job's trials)."""
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
            return [Job._from_row(r) for r in session.scalars(query)]

    def logs(self, job_id: str, *, after: int = 0) -> list[tuple[int, datetime, str, str]]:
        """``(sequence, time, level, message)`` lines, those after ``after`` only."""
        self.get(job_id)
        with self._ws.store.read() as session:
            rows = session.scalars(
                select(JobLogRow)
                .where(JobLogRow.job_id == job_id, JobLogRow.id > after)
                .order_by(JobLogRow.id)
            )
            return [(r.id, r.time, r.level, r.message) for r in rows]

    def metrics(self, job_id: str) -> dict[str, list[tuple[int, float]]]:
        """Per-step metrics logged by the job: ``{name: [(step, value), ...]}``."""
        self.get(job_id)
        with self._ws.store.read() as session:
            out: dict[str, list[tuple[int, float]]] = {}
            for r in session.scalars(
                select(JobMetricRow).where(JobMetricRow.job_id == job_id).order_by(JobMetricRow.id)
            ):
                out.setdefault(r.name, []).append((r.step, r.value))
            return out

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
    def start(self, job_id: str, *, pid: int) -> None:
        with self._ws.store.write() as session:
            row = session.get(JobRow, job_id)
            if row.status != PENDING:
                raise StateError(f"Job {job_id} is {row.status}; only a Pending job can start.")
            row.status, row.started_at, row.pid = IN_PROGRESS, now(), pid

    def reopen(self, job_id: str) -> Job:
        """A Failed or Stopped job back to Pending, to run again (a tuning job resumes)."""
        with self._ws.store.write() as session:
            row = session.get(JobRow, job_id)
            if row is None:
                raise NotFound(f"No job {job_id!r}.", code="jobs.unknown-job")
            if row.status not in (FAILED, STOPPED):
                raise StateError(
                    f"Job {job_id} is {row.status}; only a Failed or Stopped job can resume.",
                    code="jobs.not-resumable",
                )
            row.status, row.ended_at, row.failure_reason, row.pid = PENDING, None, None, None
            row.failure_code = row.failure_class = None
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
        KilnError the job failed with, so the caller can raise the same error."""
        with self._ws.store.write() as session:
            row = session.get(JobRow, job_id)
            if row.status in FINAL_STATUSES:
                return False
            row.status = status
            row.ended_at = now()
            if row.started_at is None:
                row.started_at = row.ended_at
            if result is not None:
                row.result = result
            if failure_reason is not None:
                row.failure_reason = failure_reason[-4000:]
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
