"""An execution: a job of kind ``pipeline`` that runs the steps in order, each from the cache when
its inputs, parameters and code are unchanged, with retries, gates and resume."""

from __future__ import annotations

import hashlib
import json
import time
import traceback
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from kiln.artifacts import sha256_file
from kiln.errors import ConfigError, JobFailed, KilnError, NotFound, public_class
from kiln.pipelines._definition import EXPRESSION, Pipeline, Step
from kiln.pipelines._steps import (
    DATA,
    MODEL,
    STEP_TYPES,
    StepRun,
    code_of,
    definition_path,
    output_kind,
)
from kiln.store import JobRow, PipelineRow, PipelineStepRow, link, new_id, now

if TYPE_CHECKING:
    from kiln.compute import JobContext
    from kiln.context import Context

__all__ = [
    "CACHED",
    "COMPLETED",
    "FAILED",
    "PENDING",
    "RUNNING",
    "SKIPPED",
    "NeedsWork",
    "run_pipeline_job",
]

PENDING, RUNNING, COMPLETED, CACHED, FAILED, SKIPPED = (
    "Pending",
    "InProgress",
    "Completed",
    "Cached",
    "Failed",
    "Skipped",
)
# A step that ended this way keeps its outputs when its execution resumes.
KEPT = (COMPLETED, CACHED, SKIPPED)
# Fields whose value names a data set version or a model version: the cache key holds what they
# name (a data set version's content digest, a model version's id), so "churn" (the latest
# version) re-runs the step when a new version arrives.
_DATA_FIELDS = ("data", "test_data")
_MODEL_FIELDS = ("model",)


class NeedsWork(Exception):  # noqa: N818 - a signal between two passes, not an error
    """A cache-only pass reached a step that has to run (see :func:`run_pipeline_job`)."""


def run_pipeline_job(ctx: Context, job: JobContext, spec: dict, *, cache_only=False) -> dict:
    """The execution job: run (or resume) the pipeline's steps in topological order.

    ``cache_only``: take steps from the cache (or skip them behind a false gate) and raise
    :class:`NeedsWork` at the first step that has to run, before it starts; what was taken stays
    recorded, so the job's process goes on from there."""
    with ctx.store.read() as session:
        record = session.get(PipelineRow, spec["pipeline_id"])
        definition, source = record.definition, record.source
    pipeline = Pipeline.from_dict(definition, source=source)
    params = dict(spec.get("params") or {})
    # The values (conditions' metrics) were checked by the caller before the job was made; the
    # job checks the DAG only, without importing the training stack for it.
    order = pipeline.check()
    rows = _step_rows(ctx, job.job_id, pipeline)
    runner = _Runner(ctx, job, pipeline, params, no_cache=bool(spec.get("no_cache")))
    runner.cache_only = cache_only
    try:
        for name in order:
            runner.run_step(pipeline.step(name), rows[name])
    except NeedsWork:
        raise
    except BaseException as exc:
        # Stopped (Ctrl-C, 'kiln jobs cancel') or crashed mid-step: the step ends with it, so
        # the record never shows a step running in an execution that is over.
        _end_running(ctx, job.job_id, f"the execution ended: {_message(exc)}")
        raise
    summary = {
        name: {"status": runner.statuses[name], "outputs": runner.outputs.get(name, {})}
        for name in order
    }
    counts = {s: sum(1 for v in summary.values() if v["status"] == s) for s in KEPT}
    job.log(
        f"Execution done: {counts[COMPLETED]} ran, {counts[CACHED]} from the cache, "
        f"{counts[SKIPPED]} skipped."
    )
    return {"pipeline": pipeline.name, "version": spec.get("version"), "steps": summary}


def _step_rows(ctx: Context, execution_id: str, pipeline: Pipeline) -> dict[str, dict]:
    """The execution's step rows (made Pending on its first run; on resume, those that did not
    end well go back to Pending), as plain dicts."""
    with ctx.store.write() as session:
        existing = {
            row.step: row
            for row in session.scalars(
                select(PipelineStepRow).where(PipelineStepRow.execution_id == execution_id)
            )
        }
        for step in pipeline.steps:
            row = existing.get(step.name)
            if row is None:
                row = PipelineStepRow(
                    id=new_id("step"),
                    execution_id=execution_id,
                    step=step.name,
                    type=step.type,
                    status=PENDING,
                    attempts=0,
                    inputs={},
                    outputs={},
                )
                session.add(row)
                existing[step.name] = row
            elif row.status not in KEPT:
                row.status, row.ended_at = PENDING, None
        session.flush()
        return {name: _plain(row) for name, row in existing.items()}


def _end_running(ctx: Context, execution_id: str, reason: str) -> None:
    with ctx.store.write() as session:
        for row in session.scalars(
            select(PipelineStepRow).where(
                PipelineStepRow.execution_id == execution_id, PipelineStepRow.status == RUNNING
            )
        ):
            row.status, row.reason, row.ended_at = FAILED, f"{row.reason}; {reason}", now()


def _plain(row: PipelineStepRow) -> dict:
    return {c: getattr(row, c) for c in PipelineStepRow.__table__.columns.keys()}  # noqa: SIM118


class _Runner:
    def __init__(self, ctx: Context, job: JobContext, pipeline: Pipeline, params, *, no_cache):
        self.ctx, self.job, self.pipeline, self.params = ctx, job, pipeline, params
        self.no_cache = no_cache
        self.outputs: dict[str, dict] = {}
        self.statuses: dict[str, str] = {}
        self.reasons: dict[str, str] = {}
        self.cache_only = False

    def log(self, step: str, message: str, *, level: str = "INFO") -> None:
        lines = str(message).splitlines() or [""]
        self.job.log("\n".join(f"[{step}] {line}" for line in lines), level=level)

    # -- one step -------------------------------------------------------------------------------
    def run_step(self, step: Step, row: dict) -> None:
        if row["status"] in KEPT:  # resuming: what ended well is kept
            self._keep(step, row["status"], row["outputs"], row.get("reason") or "")
            self.log(step.name, f"{row['status']} earlier in this execution; kept.")
            return
        gate = self._gate(step)
        if gate is not None:
            self._update(row["id"], status=SKIPPED, reason=gate, ended_at=now())
            self._keep(step, SKIPPED, {}, gate)
            self.log(step.name, f"Skipped: {gate}.")
            return
        started = now()
        try:
            config = _resolve(step.fields, self.params, self.outputs)
            inputs = {
                "pipeline": self.pipeline.name,
                "values": _jsonable(config),
                "identity": _jsonable(self._identity(step, config)),
                "code": _digest(code_of(self.pipeline, step, config)),
            }
        except Exception as exc:
            self._update(
                row["id"],
                status=FAILED,
                reason=f"failed: {_message(exc)}",
                started_at=started,
                ended_at=now(),
            )
            raise _step_error(step, exc, self.job.job_id) from exc
        key = _digest(
            json.dumps(
                {k: inputs[k] for k in ("pipeline", "identity", "code")} | {"type": step.type},
                sort_keys=True,
                default=str,
            )
        )
        previous = self._previous(step)
        hit = None if self.no_cache or not step.cache else self._cached(key)
        if hit is not None:
            reason = (
                f"cache hit: same inputs, parameters and code as execution {hit['execution_id']}"
            )
            self._update(
                row["id"],
                status=CACHED,
                cache_key=key,
                cached_from=hit["cached_from"] or hit["id"],
                reason=reason,
                inputs=inputs,
                outputs=hit["outputs"],
                job_id=hit["job_id"],
                started_at=started,
                ended_at=now(),
            )
            self._keep(step, CACHED, hit["outputs"], reason)
            self._link(hit["outputs"], step, relation="cached")
            self.log(step.name, f"Cached ({reason}).")
            return
        if self.cache_only:
            raise NeedsWork(step.name)
        reason = self._why(step, inputs, previous)
        if row["attempts"]:  # it ran in this execution before, and failed: a resume
            reason = f"resumed after it failed ({reason})"
        self._update(
            row["id"],
            status=RUNNING,
            cache_key=key,
            reason=reason,
            inputs=inputs,
            started_at=started,
            ended_at=None,
        )
        self.log(step.name, f"Running: {reason}.")
        self._execute(step, row, config, reason)

    def _execute(self, step: Step, row: dict, config: dict, reason: str) -> None:
        attempts = int(step.retry.get("attempts", 1))
        backoff = float(step.retry.get("backoff_seconds", 0))
        done = row["attempts"]
        for attempt in range(1, attempts + 1):
            run = StepRun(
                self.ctx,
                self.pipeline,
                step,
                config,
                self.job.job_id,
                lambda message, name=step.name: self.log(name, message),
            )
            self._update(row["id"], attempts=done + attempt)
            try:
                outputs = STEP_TYPES[step.type].run(run)
            except Exception as exc:  # noqa: BLE001 - a step's failure fails the step, not kiln
                retry = attempt < attempts and not isinstance(exc, ConfigError)
                self.log(step.name, traceback.format_exc().rstrip(), level="ERROR")
                failure = _message(exc)
                if retry:
                    pause = backoff * 2 ** (attempt - 1)
                    self.log(
                        step.name,
                        f"Attempt {attempt} of {attempts} failed; retrying in {pause:g} s.",
                        level="WARNING",
                    )
                    time.sleep(pause)
                    continue
                self._update(
                    row["id"],
                    status=FAILED,
                    reason=f"{reason}; failed: {failure}",
                    job_id=run.jobs[-1] if run.jobs else None,
                    ended_at=now(),
                )
                self._link_jobs(run.jobs)
                raise _step_error(step, exc, self.job.job_id) from exc
            self._update(
                row["id"],
                status=COMPLETED,
                outputs=_jsonable(outputs),
                job_id=run.jobs[-1] if run.jobs else None,
                ended_at=now(),
            )
            self._link_jobs(run.jobs)
            self._link(outputs, step, relation="output")
            self._keep(step, COMPLETED, _jsonable(outputs), reason)
            self.log(step.name, f"Completed: {_summary(outputs)}.")
            return

    def _keep(self, step: Step, status: str, outputs: dict, reason: str) -> None:
        self.statuses[step.name] = status
        self.outputs[step.name] = dict(outputs or {})
        self.reasons[step.name] = reason

    def _gate(self, step: Step) -> str | None:
        """Why ``step`` is skipped: an upstream step skipped, or a gate upstream that is false."""
        for upstream in step.upstream():
            if self.statuses.get(upstream) == SKIPPED:
                return f"step {upstream!r} was skipped"
            if self.outputs.get(upstream, {}).get("passed") is False:
                kind = self.pipeline.step(upstream).type
                return f"{kind} {upstream!r} was false"
        return None

    # -- the cache ------------------------------------------------------------------------------
    def _identity(self, step: Step, config: Mapping[str, Any]) -> dict[str, Any]:
        """The step's fields with every data set version as its content digest, every model
        version as its id and an ingested file as its content digest."""
        identity: dict[str, Any] = {}
        for name, value in config.items():
            if name in _DATA_FIELDS and isinstance(value, str):
                identity[name] = "data:" + self.ctx.data.get(value).digest
            elif name in _MODEL_FIELDS and isinstance(value, str):
                identity[name] = "model:" + self.ctx.models.get(value).id
            elif name == "problem" and isinstance(value, str):
                # "churn" is the problem's latest version: a changed spec runs the step again.
                identity[name] = "problem:" + self.ctx.problems.get(value).digest
            elif step.type == "ingest" and name == "source":
                path = definition_path(self.pipeline, value)
                identity[name] = "file:" + (sha256_file(path) if path.is_file() else str(path))
            elif step.type == "processing" and name == "inputs" and isinstance(value, Mapping):
                identity[name] = {
                    alias: "data:" + self.ctx.data.get(ref).digest for alias, ref in value.items()
                }
            else:
                identity[name] = value
        return identity

    def _cached(self, key: str) -> dict | None:
        """The newest completed step with ``key`` whose outputs still exist."""
        with self.ctx.store.read() as session:
            rows = session.scalars(
                select(PipelineStepRow)
                .where(
                    PipelineStepRow.cache_key == key,
                    PipelineStepRow.status == COMPLETED,
                    PipelineStepRow.execution_id != self.job.job_id,
                )
                .order_by(PipelineStepRow.ended_at.desc())
                .limit(5)
            ).all()
            candidates = [_plain(r) for r in rows]
        for candidate in candidates:
            if self._outputs_exist(candidate):
                return candidate
        return None

    def _outputs_exist(self, row: dict) -> bool:
        step = self.pipeline.step(row["step"]) if row["step"] in _names(self.pipeline) else None
        for name, value in (row["outputs"] or {}).items():
            kind = output_kind(step, name) if step is not None else None
            try:
                if kind == DATA:
                    self.ctx.data.get(value)
                elif kind == MODEL:
                    self.ctx.models.get(value)
            except NotFound:
                return False
        return True

    def _previous(self, step: Step) -> dict | None:
        """The last run of this step of this pipeline in an earlier execution."""
        with self.ctx.store.read() as session:
            rows = session.execute(
                select(PipelineStepRow, JobRow.spec)
                .join(JobRow, JobRow.id == PipelineStepRow.execution_id)
                .where(
                    PipelineStepRow.step == step.name,
                    PipelineStepRow.execution_id != self.job.job_id,
                    PipelineStepRow.status.in_((COMPLETED, CACHED, FAILED)),
                )
                .order_by(PipelineStepRow.started_at.desc())
                .limit(50)
            ).all()
            for row, spec in rows:
                if (spec or {}).get("pipeline") == self.pipeline.name:
                    return _plain(row)
        return None

    def _why(self, step: Step, inputs: dict, previous: dict | None) -> str:
        """Why the step runs rather than coming from the cache."""
        if self.no_cache:
            return "cache disabled (--no-cache)"
        if not step.cache:
            return "cache disabled (cache: false on the step)"
        if previous is None or not previous.get("inputs"):
            return "first run"
        before = previous["inputs"]
        changes = []
        old_identity, new_identity = before.get("identity") or {}, inputs["identity"]
        old_values, new_values = before.get("values") or {}, inputs["values"]
        for name in sorted(set(old_identity) | set(new_identity)):
            if old_identity.get(name) == new_identity.get(name):
                continue
            what = "input" if _is_reference(new_identity.get(name)) else "parameter"
            changes.append(
                f"{what} {name!r} changed ({_short(old_values.get(name))} → "
                f"{_short(new_values.get(name))})"
            )
        if before.get("code") != inputs["code"]:
            changes.append("code changed")
        if changes:
            return ", ".join(changes) + f" since execution {previous['execution_id']}"
        if previous["status"] == FAILED:
            return f"it failed in execution {previous['execution_id']}"
        return "its cached outputs no longer exist"

    # -- records ----------------------------------------------------------------------------------
    def _update(self, row_id: str, **values: Any) -> None:
        with self.ctx.store.write() as session:
            row = session.get(PipelineStepRow, row_id)
            for name, value in values.items():
                setattr(row, name, value)

    def _link_jobs(self, job_ids: list[str]) -> None:
        if not job_ids:
            return
        with self.ctx.store.write() as session:
            for job_id in job_ids:
                link(session, ("job", self.job.job_id), ("job", job_id), "step")

    def _link(self, outputs: Mapping[str, Any], step: Step, *, relation: str) -> None:
        """Lineage edges from the execution to the data set and model versions it produced."""
        records = []
        for name, value in outputs.items():
            kind = output_kind(step, name)
            try:
                if kind == DATA:
                    records.append((DATA, self.ctx.data.get(value).id))
                elif kind == MODEL:
                    records.append((MODEL, self.ctx.models.get(value).id))
            except NotFound:
                continue
        if records:
            with self.ctx.store.write() as session:
                for record in dict.fromkeys(records):
                    link(session, ("job", self.job.job_id), record, relation)


def _resolve(value: Any, params: Mapping[str, Any], outputs: Mapping[str, dict]) -> Any:
    """``value`` with its ``${params.P}`` and ``${steps.S.O}`` replaced; an expression that is
    the whole string keeps the value's type (a number, a list, a dict)."""
    if isinstance(value, Mapping):
        return {k: _resolve(v, params, outputs) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_resolve(v, params, outputs) for v in value]
    if not isinstance(value, str):
        return value

    def lookup(expression: str) -> Any:
        head, *rest = expression.split(".")
        if head == "params":
            return params[rest[0]]
        if rest[1] not in outputs.get(rest[0], {}):
            raise ConfigError(
                f"${{{expression}}}: step {rest[0]!r} gave no output {rest[1]!r} in this run "
                f"(it gave {', '.join(outputs.get(rest[0], {})) or 'none'}).",
                code="pipeline.unknown-reference",
            )
        return outputs[rest[0]][rest[1]]

    whole = EXPRESSION.fullmatch(value.strip())
    if whole:
        return lookup(whole.group(1))
    return EXPRESSION.sub(lambda m: str(lookup(m.group(1))), value)


def _step_error(step: Step, exc: BaseException, execution_id: str) -> KilnError:
    """The execution's error: the step's own class and code, a message that names the step and
    says how to resume."""
    resume = f"Fix it and resume with 'kiln pipelines resume {execution_id}'."
    if isinstance(exc, KilnError):
        error = public_class(exc)(
            f"Step {step.name!r} ({step.type}) failed: {exc.message} {resume}",
            code=exc.code,
            field=exc.field,
        )
        return error
    return JobFailed(
        f"Step {step.name!r} ({step.type}) failed: {type(exc).__name__}: {exc}. The traceback is "
        f"in the execution's log ('kiln pipelines execution {execution_id} --logs'). {resume}",
        code="pipeline.step-failed",
    )


def _message(exc: BaseException) -> str:
    return getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"


def _digest(text: str | None) -> str | None:
    return None if text is None else hashlib.sha256(text.encode()).hexdigest()


def _is_reference(identity: Any) -> bool:
    if isinstance(identity, dict):
        return any(_is_reference(v) for v in identity.values())
    references = ("data:", "model:", "file:", "problem:")
    return isinstance(identity, str) and identity.startswith(references)


def _short(value: Any) -> str:
    text = json.dumps(value, default=str) if not isinstance(value, str) else value
    return text if len(text) <= 60 else text[:57] + "..."


def _summary(outputs: Mapping[str, Any]) -> str:
    shown = [f"{k}={_short(v)}" for k, v in outputs.items() if k not in ("results",)]
    return ", ".join(shown[:6]) or "no outputs"


def _names(pipeline: Pipeline) -> set[str]:
    return {s.name for s in pipeline.steps}


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))
