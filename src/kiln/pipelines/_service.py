"""``ws.pipelines``: register pipeline definitions, run, inspect and resume executions, and
schedule them (cron, a new data set version, an alarm)."""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update

from kiln.compute import COMPLETED, PENDING, Job, JobSummary, LocalExecutor, forward_logs
from kiln.errors import ConfigError, NotFound
from kiln.pipelines._definition import Pipeline, load_pipeline
from kiln.pipelines._execution import NeedsWork, run_pipeline_job
from kiln.refs import parse_ref
from kiln.store import (
    Page,
    PipelineRow,
    PipelineStepRow,
    Record,
    ScheduleRow,
    latest_versions,
    new_id,
    now,
    who,
)

if TYPE_CHECKING:
    from kiln.context import Context

__all__ = [
    "Execution",
    "PipelineService",
    "PipelineVersion",
    "StepRecord",
    "start_scheduled_pipeline",
]

log = logging.getLogger("kiln.pipelines")


@dataclass(frozen=True)
class PipelineVersion(Record):
    """One stored version of a pipeline definition."""

    id: str
    name: str
    version: int
    definition: dict
    digest: str
    source: str | None
    created_at: datetime
    created_by: str

    @property
    def ref(self) -> str:
        return f"{self.name}:{self.version}"

    @property
    def pipeline(self) -> Pipeline:
        return Pipeline.from_dict(self.definition, source=self.source)

    def to_dict(self) -> dict:
        return self._plain() | {"ref": self.ref}


@dataclass(frozen=True)
class StepRecord(Record):
    """One step of an execution as recorded: status, why it ran, cache hit, timings, outputs."""

    id: str
    execution_id: str
    step: str
    type: str
    status: str
    cache_key: str | None
    cached_from: str | None
    reason: str | None
    attempts: int
    inputs: dict
    outputs: dict
    job_id: str | None
    started_at: datetime | None
    ended_at: datetime | None

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at is None or self.ended_at is None:
            return None
        return (self.ended_at - self.started_at).total_seconds()

    def to_dict(self) -> dict:
        return self._plain() | {"duration_seconds": self.duration_seconds}


@dataclass(frozen=True)
class Execution:
    """A pipeline execution: its job (kind ``pipeline``) and its steps, in the order they ran."""

    job: Job
    steps: list[StepRecord]

    @property
    def id(self) -> str:
        return self.job.id

    @property
    def status(self) -> str:
        return self.job.status

    @property
    def pipeline(self) -> str:
        return self.job.spec.get("pipeline", "")

    def step(self, name: str) -> StepRecord:
        for step in self.steps:
            if step.step == name:
                return step
        raise KeyError(name)

    def to_dict(self) -> dict:
        return self.job.to_dict() | {"steps": [s.to_dict() for s in self.steps]}


class PipelineService:
    """``ws.pipelines``: pipelines and their executions; see docs/pipelines.md."""

    def __init__(self, ctx: Context):
        self._ctx = ctx

    # -- definitions ----------------------------------------------------------------------------
    def register(self, source: str | os.PathLike | Mapping | Pipeline) -> PipelineVersion:
        """Check a definition and store it: the same definition keeps its version, a changed
        one becomes the next version. Refused (``pipeline.*``) before anything is stored."""
        pipeline = load_pipeline(source)
        if pipeline.base_dir is None:  # built in Python: relative paths are from here
            pipeline = dataclasses.replace(pipeline, base_dir=os.getcwd())
        pipeline.check()
        definition = pipeline.to_dict()
        digest = pipeline.digest
        with self._ctx.store.write() as session:
            latest = session.scalars(
                select(PipelineRow)
                .where(PipelineRow.name == pipeline.name)
                .order_by(PipelineRow.version.desc())
                .limit(1)
            ).first()
            if latest is not None and latest.digest == digest:
                return PipelineVersion._from_row(latest)
            row = PipelineRow(
                id=new_id("pl"),
                name=pipeline.name,
                version=(latest.version if latest else 0) + 1,
                definition=definition,
                digest=digest,
                source=pipeline.source,
                created_at=now(),
                created_by=who(),
            )
            session.add(row)
            session.flush()
            return PipelineVersion._from_row(row)

    def get(self, ref: str) -> PipelineVersion:
        """A stored pipeline: ``churn`` (its latest version) or ``churn:2``."""
        name, version = parse_ref(ref, what="pipeline")
        with self._ctx.store.read() as session:
            query = select(PipelineRow).where(PipelineRow.name == name)
            if version is not None:
                query = query.where(PipelineRow.version == version)
            row = session.scalars(query.order_by(PipelineRow.version.desc()).limit(1)).first()
            if row is None:
                known = sorted(set(session.scalars(select(PipelineRow.name))))
                raise NotFound(
                    f"No pipeline {ref!r}. Pipelines: {', '.join(known) or 'none'}; run one "
                    "from its file with 'kiln pipelines run FILE'.",
                    code="pipeline.unknown-pipeline",
                )
            return PipelineVersion._from_row(row)

    def list(self) -> list[PipelineVersion]:
        """The latest version of each pipeline."""
        with self._ctx.store.read() as session:
            return [PipelineVersion._from_row(r) for r in latest_versions(session, PipelineRow)]

    # -- executions -----------------------------------------------------------------------------
    def run(
        self,
        source: str | os.PathLike | Mapping | Pipeline,
        *,
        params: Mapping[str, Any] | None = None,
        no_cache: bool = False,
        on_log: Callable[[str], None] | None = None,
        wait: bool = True,
        trigger: str | None = None,
    ) -> Execution:
        """Run a pipeline (a YAML file, a :class:`Pipeline`, or a stored pipeline's name) as an
        execution job; its definition and ``params`` are checked before any step runs.

        Returns the execution once it has ended (``wait=False``: at once, running in a thread).
        A step that fails raises its error; the execution can then be resumed."""
        stored = self._stored(source)
        if stored is None:
            # Parameters and conditions are checked before the definition is stored: a refused
            # run leaves no pipeline version behind.
            candidate = load_pipeline(source)
            candidate.check(candidate.resolve_params(params))
        record = stored or self.register(source)
        pipeline = record.pipeline
        values = pipeline.resolve_params(params)
        pipeline.check(values)
        job = self._ctx.jobs.create(
            "pipeline",
            {
                "pipeline": record.name,
                "version": record.version,
                "pipeline_id": record.id,
                "params": values,
                "no_cache": no_cache,
                "trigger": trigger or "manual",
            },
        )
        self._launch(job, wait=wait, on_log=on_log)
        return self.execution(job.id)

    def resume(
        self, execution_id: str, *, on_log: Callable[[str], None] | None = None, wait: bool = True
    ) -> Execution:
        """Run a Failed or Stopped execution again: steps that completed (or came from the
        cache, or were skipped) keep their outputs; the failed step and those after it run."""
        job = self._execution_job(execution_id)
        job = self._ctx.jobs.reopen(job.id)
        self._ctx.jobs.context(job.id).log("Resumed.")
        self._launch(job, wait=wait, on_log=on_log)
        return self.execution(job.id)

    def execution(self, execution_id: str) -> Execution:
        job = self._execution_job(execution_id)
        with self._ctx.store.read() as session:
            rows = session.scalars(
                select(PipelineStepRow).where(PipelineStepRow.execution_id == job.id)
            ).all()
            steps = [StepRecord._from_row(r) for r in rows]
        order = self._order(job)
        steps.sort(key=lambda s: order.get(s.step, len(order)))
        return Execution(job=job, steps=steps)

    def executions(self, name: str | None = None, *, limit: int | None = 50) -> list[Execution]:
        """Newest first; ``name``: of that pipeline only."""
        if name is not None:
            self.get(name)
        jobs = self._ctx.jobs.list(kind="pipeline", limit=None)
        chosen = [j for j in jobs if name is None or j.spec.get("pipeline") == name][:limit]
        return [self.execution(j.id) for j in chosen]

    def executions_page(
        self,
        name: str | None = None,
        *,
        status: str | None = None,
        sort: str | None = None,
        limit: int | None = 50,
        offset: int | None = 0,
    ) -> Page[JobSummary]:
        """A page of executions (of pipeline ``name``, or all) as job summaries, newest first;
        see :meth:`kiln.compute.JobService.page` for ``status`` and ``sort``."""
        if name is not None:
            name = self.get(name).name
        return self._ctx.jobs.page(
            kind="pipeline",
            status=status,
            spec={"pipeline": name} if name else None,
            sort=sort,
            limit=limit,
            offset=offset,
        )

    def graph(self, execution_id: str) -> dict:
        """The execution's DAG, for a drawing: ``nodes``, each step of its pipeline version in
        run order with its type, the steps it waits for (``upstream``), its status (Pending
        until it has a record), whether it came from the cache, its job, timings and why it
        ran; and ``edges``, ``[upstream, step]`` pairs."""
        execution = self.execution(execution_id)
        with self._ctx.store.read() as session:
            row = session.get(PipelineRow, execution.job.spec.get("pipeline_id"))
            definition = row.definition if row is not None else {"steps": {}}
        pipeline = Pipeline.from_dict(definition)
        records = {record.step: record for record in execution.steps}
        nodes = []
        for name in pipeline.order():
            step = pipeline.step(name)
            record = records.get(name)
            shown = record.to_dict() if record else {}
            nodes.append(
                {
                    "name": name,
                    "type": step.type,
                    "upstream": step.upstream(),
                    "status": record.status if record else PENDING,
                    "cached": record is not None and record.cached_from is not None,
                    **{
                        key: shown.get(key)
                        for key in (
                            "cached_from",
                            "reason",
                            "attempts",
                            "job_id",
                            "started_at",
                            "ended_at",
                            "duration_seconds",
                            "outputs",
                        )
                    },
                }
            )
        edges = [[upstream, node["name"]] for node in nodes for upstream in node["upstream"]]
        return {
            "execution": execution.job.to_dict(),
            "pipeline": execution.pipeline,
            "version": execution.job.spec.get("version"),
            "nodes": nodes,
            "edges": edges,
        }

    def rerun(self, execution_id: str, *, no_cache: bool = False) -> Execution:
        """Start a new execution of the pipeline version and parameters that ``execution_id``
        ran (as ``kiln pipelines run NAME:VERSION --param ...`` would) without waiting for it;
        unchanged steps come from the cache unless ``no_cache``."""
        job = self._execution_job(execution_id)
        return self.run(
            f"{job.spec['pipeline']}:{job.spec['version']}",
            params=job.spec.get("params"),
            no_cache=no_cache,
            wait=False,
            trigger=f"re-run of {job.id}",
        )

    def logs(self, execution_id: str) -> list[tuple[int, datetime, str, str]]:
        return self._ctx.jobs.logs(self._execution_job(execution_id).id)

    # -- schedules and triggers -----------------------------------------------------------------
    def schedule(
        self,
        name: str,
        *,
        cron: str | None = None,
        on_data: str | None = None,
        data_param: str = "data",
        params: Mapping[str, Any] | None = None,
    ):
        """Run stored pipeline ``name`` on a cron schedule, or (``on_data``) whenever data set
        ``on_data`` has a new version, passing its reference as parameter ``data_param``; the
        scheduler (``kiln scheduler``) starts the executions. For ``on_data``, ``cron`` is
        how often to look (every minute by default)."""
        from kiln.monitoring import ScheduleService

        pipeline = self.get(name).pipeline
        if cron is None and on_data is None:
            raise ConfigError(
                "A pipeline schedule needs --cron EXPRESSION or --on-data DATASET.",
                code="pipeline.bad-schedule",
            )
        values = dict(params or {})
        target: dict[str, Any] = {"pipeline": name, "params": values}
        if on_data is not None:
            latest = self._ctx.data.get(on_data)  # refuses an unknown data set
            if data_param not in {p.name for p in pipeline.params}:
                raise ConfigError(
                    f"Pipeline {name!r} has no parameter {data_param!r} to take the new version "
                    f"of {on_data!r}. Parameters: "
                    f"{', '.join(p.name for p in pipeline.params) or 'none'}; name one with "
                    "--data-param.",
                    code="pipeline.bad-param",
                    field=data_param,
                )
            target |= {
                "on_data": latest.name,
                "data_param": data_param,
                "seen_version": latest.version,
            }
        pipeline.resolve_params({**values, **({data_param: "x"} if on_data else {})})
        kind = "data" if on_data else "cron"
        return ScheduleService(self._ctx).put(
            f"pipeline:{name}:{kind}",
            kind="pipeline",
            target=target,
            expression=cron or "* * * * *",
        )

    # -- helpers --------------------------------------------------------------------------------
    def _stored(self, source) -> PipelineVersion | None:
        if not isinstance(source, str) or Path(source).suffix in (".yaml", ".yml"):
            return None
        if Path(source).is_file():  # a folder named like the pipeline is not its definition
            return None
        try:
            return self.get(source)
        except (NotFound, ConfigError):  # not a stored pipeline's name: a file, then
            return None

    def _execution_job(self, execution_id: str) -> Job:
        job = self._ctx.jobs.get(execution_id)
        if job.kind != "pipeline":
            raise ConfigError(
                f"Job {job.id} is a {job.kind} job, not a pipeline execution. See 'kiln "
                "pipelines executions'.",
                code="pipeline.not-an-execution",
            )
        return job

    def _order(self, job: Job) -> dict[str, int]:
        with self._ctx.store.read() as session:
            row = session.get(PipelineRow, job.spec.get("pipeline_id"))
            definition = row.definition if row is not None else {"steps": {}}
        try:
            order = Pipeline.from_dict(definition).order()
        except ConfigError:
            order = list(definition.get("steps") or {})
        return {name: i for i, name in enumerate(order)}

    def _launch(self, job: Job, *, wait: bool, on_log) -> None:
        if self._from_cache(job, on_log):
            return
        # The execution itself runs in a local process: it only orchestrates; its steps' jobs
        # go to the workspace's executor (kiln.compute.executor_for).
        if wait:
            LocalExecutor(self._ctx).run(job, on_log=on_log)
            return

        def watch() -> None:
            try:
                LocalExecutor(self._ctx).run(job, on_log=on_log)
            except Exception as exc:  # noqa: BLE001 — the job's record holds the failure
                log.warning("pipeline execution %s did not complete: %s", job.id, exc)

        threading.Thread(target=watch, name=f"kiln-{job.id}").start()

    def _from_cache(self, job: Job, on_log) -> bool:
        """Finish the execution here when every step comes from the cache (or is kept, or is
        skipped behind a false gate): starting a job process only to look the steps up costs
        ten times the look-ups (docs/benchmarks.md). False, with the steps taken so far
        recorded, when a step has to run: the job's process goes on from it."""
        if job.spec.get("no_cache") or job.status != PENDING:
            return False
        jobs = self._ctx.jobs
        try:
            result = run_pipeline_job(self._ctx, jobs.context(job.id), job.spec, cache_only=True)
        except NeedsWork:
            return False
        except Exception:  # noqa: BLE001 - the job's process runs the step and records why
            return False
        jobs.start(job.id)
        jobs.finish(job.id, COMPLETED, result=result)
        forward_logs(self._ctx, job.id, 0, on_log)
        return True


def start_scheduled_pipeline(
    ctx: Context, target: Mapping[str, Any], *, reason: Any = None, wait: bool = False
) -> str | None:
    """Start an execution for a schedule or an alarm; the job id, or None when a data trigger
    finds no new version of its data set."""
    service = PipelineService(ctx)
    params = dict(target.get("params") or {})
    trigger = f"{reason}" if reason else "schedule"
    dataset = target.get("on_data")
    if dataset:
        latest = ctx.data.get(dataset)
        if latest.version <= int(target.get("seen_version") or 0):
            return None
        params[target.get("data_param") or "data"] = latest.ref
        trigger = f"new data set version {latest.ref}"
        with ctx.store.write() as session:
            session.execute(
                update(ScheduleRow)
                .where(ScheduleRow.name == f"pipeline:{target['pipeline']}:data")
                .values(target={**target, "seen_version": latest.version})
                .execution_options(synchronize_session=False)
            )
    execution = service.run(
        str(target["pipeline"]), params=params, wait=wait, trigger=str(trigger)[:500]
    )
    return execution.id
