"""The step types: the fields each takes, the outputs it gives later steps, and what it does.

A step's outputs are references (``churn_clean:2``, ``churn:3``, a baseline id), never data: a
later step names them with ``${steps.STEP.OUTPUT}``. Steps that are jobs already (train, tune,
automl, a monitor's run) start their own job, a child of the execution; the others run in the
execution's process.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import os
import re
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import update

from kiln.errors import ConfigError, KilnError, StateError
from kiln.pipelines._definition import EXPRESSION, Pipeline, Step, did_you_mean
from kiln.store import JobRow

if TYPE_CHECKING:
    from kiln.context import Context

__all__ = ["STEP_TYPES", "StepRun", "StepType", "outputs_of"]

# What kind of record an output names, for the cache key (a data set version by its content, a
# model version by its id) and the lineage edges; outputs not listed are plain values.
DATA, MODEL = "dataset_version", "model_version"


@dataclass
class StepRun:
    """What a step's function gets: the workspace, the step with its fields resolved, and where
    to log and record the jobs it starts."""

    ctx: Context
    pipeline: Pipeline
    step: Step
    config: dict[str, Any]
    execution_id: str
    log: Callable[[str], None]
    jobs: list[str] = field(default_factory=list)

    def path(self, value: str) -> Path:
        """A path from the definition, relative to the definition's folder."""
        return definition_path(self.pipeline, value)

    def adopt(self, job_id: str | None) -> None:
        """Record a job the step started as a child of the execution."""
        if not job_id:
            return
        # The SDK's train/tune/automl create their job themselves; the step makes it the
        # execution's child afterwards, so 'kiln jobs list' shows the execution on top.
        with self.ctx.store.write() as session:
            session.execute(
                update(JobRow)
                .where(JobRow.id == job_id, JobRow.parent_id.is_(None))
                .values(parent_id=self.execution_id)
                .execution_options(synchronize_session=False)
            )
        self.jobs.append(job_id)

    def run_job(self, function: Callable[[], Any], job_of: Callable[[Any], str]) -> Any:
        """Call an SDK action that runs a job, and adopt its job, also when it failed."""
        try:
            result = function()
        except KilnError as exc:
            self.adopt(exc.job_id)
            raise
        self.adopt(job_of(result))
        return result


def definition_path(pipeline: Pipeline, value: str) -> Path:
    """A path written in ``pipeline``'s definition: relative to the definition's folder."""
    path = Path(os.path.expanduser(str(value)))
    if not path.is_absolute() and pipeline.base_dir:
        path = Path(pipeline.base_dir) / path
    return path


@dataclass(frozen=True)
class StepType:
    """A step type: its fields (``required``, ``optional``), its outputs and its function
    (``run(step_run) -> outputs``). ``one_of``: fields of which exactly one is given."""

    name: str
    run: Callable[[StepRun], dict[str, Any]]
    outputs: dict[str, str | None]
    required: tuple[str, ...] = ()
    optional: tuple[str, ...] = ()
    one_of: tuple[str, ...] = ()
    description: str = ""
    # Checks the fields' values once the parameters are known (before any step runs).
    check: Callable[[Pipeline, Step, Mapping[str, Any]], None] | None = None

    def check_fields(self, step: Step) -> None:
        known = (*self.required, *self.optional, *self.one_of)
        for name in step.fields:
            if name not in known:
                raise ConfigError(
                    f"Step {step.name!r} ({self.name}) has an unknown field "
                    f"{name!r}{did_you_mean(name, known)}. "
                    f"Its fields: {', '.join(known)}, and after, cache, retry.",
                    code="pipeline.unknown-field",
                    field=step.name,
                )
        missing = [name for name in self.required if name not in step.fields]
        if missing:
            raise ConfigError(
                f"Step {step.name!r} ({self.name}) needs the field {missing[0]!r}.",
                code="pipeline.missing-field",
                field=step.name,
            )
        if self.one_of and sum(name in step.fields for name in self.one_of) != 1:
            raise ConfigError(
                f"Step {step.name!r} ({self.name}) takes exactly one of {', '.join(self.one_of)}.",
                code="pipeline.missing-field",
                field=step.name,
            )

    def check_values(self, pipeline: Pipeline, step: Step, params: Mapping[str, Any]) -> None:
        if self.check is not None:
            self.check(pipeline, step, params)


def outputs_of(step: Step) -> list[str]:
    """The names of the outputs ``step`` gives later steps."""
    if step.type == "processing":
        return _processing_outputs(step.fields.get("outputs"))
    return list(STEP_TYPES[step.type].outputs)


def output_kind(step: Step, output: str) -> str | None:
    """The kind of record an output of ``step`` names (a data set version, a model version)."""
    if step.type == "processing":
        return DATA
    return STEP_TYPES[step.type].outputs.get(output)


def _processing_outputs(outputs: Any) -> list[str]:
    if outputs is None:
        return ["data"]
    return [str(o) for o in ([outputs] if isinstance(outputs, str) else outputs)]


# -- data steps ---------------------------------------------------------------------------------
def _ingest(run: StepRun) -> dict:
    config = run.config
    options = {k: config[k] for k in ("format", "delimiter", "encoding") if config.get(k)}
    version = run.ctx.data.ingest(
        run.path(config["source"]),
        name=config["name"],
        lineage=(("job", run.execution_id, "pipeline"),),
        **options,
    )
    run.log(f"Ingested {version.ref} ({version.row_count} rows, {version.column_count} columns).")
    return {"data": version.ref}


def _profile(run: StepRun) -> dict:
    from kiln.profile import profile_version

    config = run.config
    options = {k: config[k] for k in ("sample_rows", "model", "seed") if k in config}
    profile = profile_version(
        run.ctx, config["data"], target=config.get("target"), progress=run.log, **options
    )
    warnings = profile.facts.get("warnings") or []
    run.log(f"Profiled {profile.dataset}: {len(warnings)} warnings.")
    return {"profile": profile.id, "data": profile.dataset, "warnings": len(warnings)}


def _split(run: StepRun) -> dict:
    config = run.config
    options = {k: config[k] for k in ("time_column", "stratify", "seed") if k in config}
    if "ratios" in config:
        options["ratios"] = tuple(float(r) for r in config["ratios"])
    parts = run.ctx.data.split(config["data"], target=config.get("target"), **options)
    run.log(", ".join(f"{part}: {v.ref} ({v.row_count} rows)" for part, v in parts.items()))
    return {part: version.ref for part, version in parts.items()}


def _processing(run: StepRun) -> dict:
    """A function or script over DataFrames, or SQL over data set versions; each result is a new
    data set version."""
    config = run.config
    inputs = dict(config.get("inputs") or {})
    names = _processing_outputs(config.get("outputs"))
    if "sql" in config:
        # The inputs become named tables; the query itself runs through ws.data.query (DuckDB,
        # sandboxed to the data sets it names).
        tables = ", ".join(
            f'"{alias}" AS (SELECT * FROM {_at(run.ctx, ref)})' for alias, ref in inputs.items()
        )
        sql = f"WITH {tables} SELECT * FROM ({config['sql']})" if tables else config["sql"]
        results: Any = run.ctx.data.query(sql)
    else:
        function = load_function(run, config.get("function") or config.get("script"))
        frames = {alias: run.ctx.data.load(ref) for alias, ref in inputs.items()}
        results = function(frames, **dict(config.get("params") or {}))
    if not isinstance(results, Mapping):
        results = {names[0]: results}
    missing = [n for n in names if n not in results]
    if missing or not all(hasattr(results[n], "columns") for n in names):
        raise ConfigError(
            f"Processing step {run.step.name!r} must return a DataFrame, or a dict of "
            f"DataFrames named {', '.join(names)} (its outputs). Got "
            f"{type(results).__name__}{' without ' + missing[0] if missing else ''}.",
            code="pipeline.bad-processing-result",
            field=run.step.name,
        )
    base = config.get("name") or f"{run.pipeline.name}_{run.step.name}"
    sources = tuple(("dataset_version", run.ctx.data.get(ref).id, "processing")
                    for ref in inputs.values())  # fmt: skip
    outputs = {}
    for name in names:
        version = run.ctx.data.ingest(
            results[name],
            name=base if len(names) == 1 else f"{base}_{name}",
            description=f"pipeline {run.pipeline.name} step {run.step.name}",
            lineage=(("job", run.execution_id, "pipeline"), *sources),
        )
        run.log(f"{name}: {version.ref} ({version.row_count} rows).")
        outputs[name] = version.ref
    return outputs


def _at(ctx: Context, ref: str) -> str:
    version = ctx.data.get(ref)
    return f"{version.name}@{version.version}"


def load_function(run: StepRun, reference: str) -> Callable:
    """``module:function`` (importable, or from the definition's folder) or ``path.py[:name]``
    (a script file; its function ``process`` unless named)."""
    reference = str(reference)
    module_name, _, name = reference.partition(":")
    if module_name.endswith(".py"):
        import runpy

        path = run.path(module_name)
        if not path.is_file():
            raise ConfigError(
                f"Processing step {run.step.name!r}: no script at {str(path)!r}.",
                code="pipeline.bad-function",
                field=run.step.name,
            )
        namespace = runpy.run_path(str(path))
        function = namespace.get(name or "process")
    else:
        function = _import_function(run.pipeline, run.step, reference)
    if not callable(function):
        raise ConfigError(
            f"Processing step {run.step.name!r}: {reference!r} names no function (write "
            "'module:function' or 'script.py:function'; a script's default is 'process').",
            code="pipeline.bad-function",
            field=run.step.name,
        )
    return function


def _import_function(pipeline: Pipeline, step: Step, reference: str) -> Any:
    """``module:function`` from the Python path or the definition's folder."""
    module_name, _, name = reference.partition(":")
    if pipeline.base_dir and pipeline.base_dir not in sys.path:
        sys.path.insert(0, pipeline.base_dir)
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(
            f"Processing step {step.name!r}: cannot import {module_name!r} ({exc}). Name a "
            "module on the Python path or in the pipeline file's folder.",
            code="pipeline.bad-function",
            field=step.name,
        ) from None
    return getattr(module, name or "process", None)


def code_of(pipeline: Pipeline, step: Step, config: Mapping[str, Any]) -> str | None:
    """The code a step runs, for its cache key: a function's module source, a script's content,
    the SQL text; for train and tune, a recipe file's content and a custom estimator's module."""
    if step.type in ("train", "tune"):
        return _model_code(pipeline, config)
    if step.type != "processing":
        return None
    if "sql" in config:
        return str(config["sql"])
    reference = str(config.get("function") or config.get("script"))
    module_name, _, name = reference.partition(":")
    if module_name.endswith(".py"):
        path = definition_path(pipeline, module_name)
        return path.read_text() if path.is_file() else None
    try:
        # The whole module, not the function alone: a helper it calls may have changed.
        return inspect.getsource(inspect.getmodule(_import_function(pipeline, step, reference)))
    except (OSError, TypeError):
        return reference


def _model_code(pipeline: Pipeline, config: Mapping[str, Any]) -> str | None:
    parts = []
    recipe = config.get("recipe")
    if isinstance(recipe, str):
        path = definition_path(pipeline, recipe)
        parts.append(path.read_text() if path.is_file() else recipe)
    algorithm = str(config.get("algorithm") or "")
    if ":" in algorithm:  # a custom estimator (module:Class): its module's source
        module_name = algorithm.partition(":")[0]
        try:
            parts.append(inspect.getsource(importlib.import_module(module_name)))
        except (ImportError, OSError, TypeError):
            parts.append(algorithm)  # the training job refuses it with the import error
    return "\n".join(parts) or None


def _recipe_path(run: StepRun, options: dict[str, Any]) -> dict[str, Any]:
    """A recipe file named in the definition is read from the definition's folder."""
    if isinstance(options.get("recipe"), str):
        options["recipe"] = str(run.path(options["recipe"]))
    return options


# -- model steps --------------------------------------------------------------------------------
# The fields of kiln.training.TrainingOptions, named here so that a definition is checked without
# importing the training stack (the check runs before every execution, a cached one included).
_TRAINING_OPTIONS = (
    "target",
    "hyperparameters",
    "name",
    "problem_type",
    "ratios",
    "time_column",
    "validation",
    "group_column",
    "require",
    "cost_fp",
    "cost_fn",
    "experiment",
    "seed",
    "recipe",
    "problem",  # the problem spec whose target, type and criteria the model takes
)


def _options(config: Mapping[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    options = {k: config[k] for k in names if k in config}
    if "ratios" in options:
        options["ratios"] = tuple(float(r) for r in options["ratios"])
    return options


def _train(run: StepRun) -> dict:
    from kiln.training import train

    config = run.config
    result = run.run_job(
        lambda: train(
            run.ctx,
            config["data"],
            algorithm=config["algorithm"],
            on_log=run.log,
            **_recipe_path(run, _options(config, _TRAINING_OPTIONS)),
        ),
        lambda r: r.job.id,
    )
    return {"model": result.model.ref, "job": result.job.id}


def _tune(run: StepRun) -> dict:
    from kiln.tuning import tune

    config = dict(run.config)
    data, target, algorithm = config.pop("data"), config.pop("target"), config.pop("algorithm")
    if "ratios" in config:
        config["ratios"] = tuple(float(r) for r in config["ratios"])
    config = _recipe_path(run, config)
    result = run.run_job(
        lambda: tune(run.ctx, data, target=target, algorithm=algorithm, on_log=run.log, **config),
        lambda r: r.job.id,
    )
    return {"model": result.model.ref, "job": result.job.id}


def _automl(run: StepRun) -> dict:
    from kiln.automl import automl

    config = dict(run.config)
    data, target = config.pop("data"), config.pop("target")
    time_limit = float(config.pop("time_limit"))
    result = run.run_job(
        lambda: automl(
            run.ctx, data, target=target, time_limit=time_limit, on_log=run.log, **config
        ),
        lambda r: r.job.id,
    )
    return {"model": result.model.ref, "job": result.job.id}


def _evaluate(run: StepRun) -> dict:
    """The model's metrics on a data set version (the held-out test split of a split step)."""
    from kiln.monitoring import model_metrics

    config = run.config
    version = run.ctx.models.get(config["model"])
    target = config.get("target") or version.target
    metrics = model_metrics(run.ctx.models.load(version), run.ctx.data.load(config["data"]), target)
    metrics = {k: float(v) for k, v in metrics.items() if _is_number(v)}
    run.ctx.models.add_details(version.ref, evaluation={"data": config["data"], "metrics": metrics})
    run.log(", ".join(f"{k} {v:.4g}" for k, v in list(metrics.items())[:8]))
    return {"metrics": metrics, "model": version.ref}


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


# -- gates --------------------------------------------------------------------------------------
def _criteria_list(when: Any) -> list[str]:
    return [str(w) for w in ([when] if isinstance(when, str) else list(when or []))]


# "[split.]metric OP number", as kiln.training's criteria read it. Checked here without importing
# kiln.training, which loads the whole training stack: this check runs before every execution,
# a fully cached one included, and the criteria are parsed by kiln.training when a gate runs.
_CRITERION = re.compile(
    r"^\s*(?:(train|validation|test|cv_mean)\.)?([a-z0-9_]+)\s*(>=|<=|==|>|<)\s*"
    r"([-+]?\d*\.?\d+(?:[eE][-+]?\d+)?)\s*$"
)


def _check_when(pipeline: Pipeline, step: Step, params: Mapping[str, Any]) -> None:
    """A condition on an unknown metric is refused before any step runs."""
    from kiln.problems import metric_names

    when = step.fields.get("when")
    if when is None:
        if step.type == "condition" and not step.fields.get("criteria"):
            raise ConfigError(
                f"Condition step {step.name!r} needs 'when' (e.g. 'test.roc_auc >= 0.8') or "
                "'criteria: true' with a 'problem'.",
                code="pipeline.missing-field",
                field=step.name,
            )
        return
    known = sorted(metric_names())
    for text in _criteria_list(when):
        text = _with_params(text, params)
        if EXPRESSION.search(text):
            continue  # a threshold from an earlier step's output: checked when the step runs
        match = _CRITERION.match(text)
        if match is None:
            raise ConfigError(
                f"Step {step.name!r}: cannot read the condition {text!r}. Write METRIC OP "
                "NUMBER, e.g. 'roc_auc >= 0.85' or 'test.rmse < 3000' (OP one of >=, >, <=, <, "
                "==).",
                code="pipeline.bad-condition",
                field=step.name,
            )
        metric = match.group(2)
        if metric not in known:
            raise ConfigError(
                f"Step {step.name!r}: unknown metric {metric!r}{did_you_mean(metric, known)} in "
                f"the condition {text!r}. Metrics: {', '.join(known)}.",
                code="pipeline.unknown-metric",
                field=step.name,
            )


def _check_names(pipeline: Pipeline, step: Step, params: Mapping[str, Any]) -> None:
    """The data set names an ingest or processing step writes (``name``, a processing step's
    ``outputs`` added to it) are refused before any step runs when they cannot be names."""
    from kiln.refs import check_name

    name = step.fields.get("name")
    if name is None and step.type == "processing":
        name = f"{pipeline.name}_{step.name}"
    outputs = _processing_outputs(step.fields.get("outputs")) if step.type == "processing" else []
    names = [str(name)] if len(outputs) <= 1 else [f"{name}_{o}" for o in outputs]
    for written in names:
        written = _with_params(written, params)
        if EXPRESSION.search(written):
            continue  # from an earlier step's output: checked when the data set is written
        try:
            check_name(written, what="data set")
        except ConfigError as exc:
            raise ConfigError(
                f"Step {step.name!r} would write data set {written!r}: {exc.message}",
                code="name.invalid",
                field=step.name,
            ) from None


def _check_approve(pipeline: Pipeline, step: Step, params: Mapping[str, Any]) -> None:
    mode = _with_params(str(step.fields.get("mode", "manual")), params)
    if mode not in ("manual", "auto"):
        raise ConfigError(
            f"Approve step {step.name!r} has mode {mode!r}: 'manual' (wait for a person) or "
            "'auto' (approve by the problem's criteria or 'when' conditions).",
            code="pipeline.bad-field",
            field=step.name,
        )
    if mode == "auto":
        if step.fields.get("when") is None and not step.fields.get("problem"):
            raise ConfigError(
                f"Approve step {step.name!r} (mode auto) needs 'problem' (its criteria decide) "
                "or 'when' conditions on the model's metrics.",
                code="pipeline.missing-field",
                field=step.name,
            )
        _check_when(pipeline, step, params)


def _with_params(text: str, params: Mapping[str, Any]) -> str:
    def replace(match) -> str:
        head, _, rest = match.group(1).partition(".")
        return str(params[rest]) if head == "params" and rest in params else match.group(0)

    return EXPRESSION.sub(replace, text)


def _gate_results(run: StepRun) -> tuple[bool, list[dict]]:
    """Whether the step's criteria pass, and each criterion's result: the ``when`` conditions on
    the model's metrics (or on an evaluate step's ``metrics``), or the problem's criteria."""
    from kiln.training import parse_criterion

    config = run.config
    when = config.get("when")
    if when is None:
        criteria = problem_criteria(run.ctx, config["model"], config.get("problem"))
        return bool(criteria["passed"]), list(criteria["results"])
    if "metrics" in config:
        metrics = {"test": dict(config["metrics"] or {})}
    else:
        metrics = run.ctx.models.get(config["model"]).metrics
    results = []
    for text in _criteria_list(when):
        result = parse_criterion(text).check(metrics)
        if result["value"] is None:
            reported = sorted({m for part in metrics.values() for m in (part or {})})
            raise ConfigError(
                f"Step {run.step.name!r}: the condition {text!r} names metric "
                f"{result['split']}.{result['metric']}, which the "
                f"{'evaluation' if 'metrics' in config else 'model ' + config['model']} does not "
                f"report. Reported: {', '.join(reported)}.",
                code="pipeline.unknown-metric",
                field=run.step.name,
            )
        results.append(result)
    return all(r["passed"] for r in results), results


def problem_criteria(ctx: Context, model: str, problem: str | None) -> dict:
    """The problem's criteria for ``model``: those recorded in its details (training with a
    problem records them), else evaluated now by :func:`kiln.training.evaluate_criteria`."""
    version = ctx.models.get(model)
    details = version.details or {}
    recorded = details.get("criteria")
    if recorded and (problem is None or _same_problem(ctx, details.get("problem"), problem)):
        return recorded
    if problem is None:
        raise ConfigError(
            f"Model {version.ref} has no criteria recorded: name the problem whose criteria "
            "gate it ('problem: churn'), or give 'when' conditions on its metrics.",
            code="pipeline.missing-field",
        )
    from kiln import training

    return training.evaluate_criteria(ctx, version.ref, problem)  # type: ignore[attr-defined]


def _same_problem(ctx: Context, recorded: str | None, wanted: str) -> bool:
    """Whether the criteria recorded for problem version ``recorded`` are those of ``wanted``
    (``churn`` is its latest version: criteria recorded for an older one are evaluated again)."""
    if recorded is None:
        return False
    return recorded == ctx.problems.get(wanted).ref


def _describe(results: list[dict]) -> str:
    def value(result: dict) -> Any:
        number = result.get("value")
        return number if number is None else round(number, 4)

    return "; ".join(
        f"{r.get('criterion')}: {value(r)} {'passed' if r.get('passed') else 'failed'}"
        for r in results
    )


def _condition(run: StepRun) -> dict:
    passed, results = _gate_results(run)
    run.log(f"{'True' if passed else 'False'}: {_describe(results)}.")
    return {"passed": passed, "results": results}


def _register(run: StepRun) -> dict:
    config = run.config
    version = run.ctx.models.get(config["model"])
    if config.get("details"):
        run.ctx.models.add_details(version.ref, **dict(config["details"]))
    if config.get("alias"):
        run.ctx.models.set_alias(version.ref, str(config["alias"]))
        run.log(f"{version.group}@{config['alias']} is {version.ref}.")
    return {"model": version.ref}


def _approve(run: StepRun) -> dict:
    """Auto: approve (or reject) by the criteria. Manual: wait for a person's
    ``kiln models approve`` (or reject), up to ``timeout_seconds``."""
    config = run.config
    models = run.ctx.models
    ref = models.get(config["model"]).ref
    mode = config.get("mode", "manual")
    if mode == "auto":
        passed, results = _gate_results(run)
        recorded = (models.get(ref).details or {}).get("criteria") or {}
        if config.get("when") is not None and recorded.get("passed") is False:
            # 'when' adds to the problem's criteria the model was trained against: a model that
            # failed one is not approved because its metrics pass the step's conditions.
            passed = False
            results = [*results, *(r for r in recorded.get("results", []) if not r["passed"])]
        reason = f"pipeline {run.pipeline.name} ({run.execution_id}): {_describe(results)}"
        status = models.get(ref).approval_status
        if passed and status != "Approved":
            models.approve(ref, reason=reason)
        elif not passed and status != "Rejected":
            models.reject(ref, reason=reason)
        run.log(f"{ref} {'approved' if passed else 'rejected'}: {_describe(results)}.")
        return {"model": ref, "status": models.get(ref).approval_status, "passed": passed}
    timeout = float(config.get("timeout_seconds", 3600))
    deadline = time.monotonic() + timeout
    run.log(f"Waiting up to {timeout:g} s for a person: 'kiln models approve {ref}'.")
    while True:
        status = models.get(ref).approval_status
        if status in ("Approved", "Rejected"):
            run.log(f"{ref} is {status}.")
            return {"model": ref, "status": status, "passed": status == "Approved"}
        if time.monotonic() >= deadline:
            raise StateError(
                f"Step {run.step.name!r} waited {timeout:g} s and {ref} is still {status}. "
                f"Approve it ('kiln models approve {ref}') or reject it, then resume the "
                f"execution ('kiln pipelines resume {run.execution_id}').",
                code="pipeline.approval-timeout",
                field=run.step.name,
            )
        time.sleep(min(1.0, max(0.05, deadline - time.monotonic())))


# -- serving and monitoring ---------------------------------------------------------------------
def _deploy(run: StepRun) -> dict:
    config = run.config
    options = {
        k: config[k]
        for k in ("strategy", "variant", "alarms", "alarm_window", "allow_unapproved")
        if k in config
    }
    result = run.ctx.endpoints.deploy(
        config["model"], endpoint=config["endpoint"], on_log=run.log, **options
    )
    job_id = getattr(result, "kind", None) == "deployment" and result.id
    if job_id:
        run.adopt(job_id)
    if config.get("capture") is not None:
        run.ctx.endpoints.set_capture(config["endpoint"], float(config["capture"]))
    endpoint = run.ctx.endpoints.get(config["endpoint"])
    run.log(f"Endpoint {endpoint.name} (revision {endpoint.revision}) serves {endpoint.model}.")
    return {"endpoint": endpoint.name, "model": run.ctx.models.get(config["model"]).ref}


def _transform(run: StepRun) -> dict:
    """Batch transform of a data set version as a transform job; the scored rows become a new
    data set version."""
    import shutil
    import tempfile

    from kiln.serving import transform

    config = run.config
    with tempfile.TemporaryDirectory(prefix="kiln-pipeline-") as folder:
        # The transform job reads a file by its suffix; the lake's files are named by digest.
        source, target = Path(folder) / "input.parquet", Path(folder) / "scored.parquet"
        shutil.copyfile(run.ctx.data.path(config["data"]), source)
        options = {k: config[k] for k in ("keep", "id_column", "chunk_rows") if k in config}
        job = run.run_job(
            lambda: transform(
                run.ctx, config["model"], input=source, output=target, on_log=run.log, **options
            ),
            lambda finished: finished.id,
        )
        version = run.ctx.data.ingest(
            target,
            name=config.get("name") or f"{run.pipeline.name}_{run.step.name}",
            lineage=(("job", job.id, "transform"), ("job", run.execution_id, "pipeline")),
        )
    run.log(f"Scored {version.ref} ({version.row_count} rows).")
    return {"data": version.ref, "job": job.id}


def _baseline(run: StepRun) -> dict:
    from kiln.monitoring import MonitoringService

    config = run.config
    baseline = MonitoringService(run.ctx).baseline(config.get("data"), model=config.get("model"))
    run.log(f"Baseline {baseline.id}.")
    return {"baseline": baseline.id}


def _monitor(run: StepRun) -> dict:
    from kiln.errors import NotFound
    from kiln.monitoring import MonitoringService, start_monitor_run

    config = dict(run.config)
    monitoring = MonitoringService(run.ctx)
    name = config.pop("name", None) or f"{run.pipeline.name}_{run.step.name}"
    run_now = bool(config.pop("run", False))
    with contextlib.suppress(NotFound):
        monitoring.delete(name)  # the pipeline owns its monitor: it is made again as defined
    monitor = monitoring.create(
        name, endpoint=config.pop("endpoint"), type=config.pop("monitor_type"), **config
    )
    run.log(f"Monitor {monitor.name} ({monitor.type}) on endpoint {monitor.endpoint}.")
    outputs = {"monitor": monitor.name}
    if run_now:
        outputs["job"] = run.run_job(
            lambda: start_monitor_run(run.ctx, monitor.name, on_log=run.log), lambda j: j
        )
    return outputs


STEP_TYPES: dict[str, StepType] = {
    t.name: t
    for t in [
        StepType("ingest", _ingest, {"data": DATA}, ("source", "name"),
                 ("format", "delimiter", "encoding"), check=_check_names,
                 description="a file (CSV, Parquet, JSON lines) as a data set version"),
        StepType("profile", _profile, {"profile": None, "data": DATA, "warnings": None},
                 ("data",), ("target", "sample_rows", "model", "seed"),
                 description="statistics, warnings and a quick model of a data set version"),
        StepType("split", _split, {"train": DATA, "validation": DATA, "test": DATA},
                 ("data",), ("target", "ratios", "time_column", "stratify", "seed"),
                 description="train, validation and test data set versions"),
        StepType("processing", _processing, {}, (),
                 ("inputs", "params", "outputs", "name"), ("function", "script", "sql"),
                 check=_check_names,
                 description="a Python function, a script or SQL over data set versions; "
                 "its results are new data set versions"),
        StepType("train", _train, {"model": MODEL, "job": None}, ("data", "algorithm"),
                 _TRAINING_OPTIONS, description="a training job; registers the model"),
        StepType("tune", _tune, {"model": MODEL, "job": None},
                 ("data", "target", "algorithm"),
                 ("objective", "direction", "strategy", "max_jobs", "max_parallel_jobs",
                  "ranges", "hyperparameters", "early_stopping", "seed", "name", "ratios",
                  "validation", "recipe", "problem"),
                 description="a tuning job; registers the best model"),
        StepType("automl", _automl, {"model": MODEL, "job": None},
                 ("data", "target", "time_limit"),
                 ("metric", "problem_type", "name", "algorithms", "test_size", "test_data",
                  "seed", "problem"),
                 description="an AutoML job; registers the best model"),
        StepType("evaluate", _evaluate, {"metrics": None, "model": MODEL}, ("model", "data"),
                 ("target",), description="a model's metrics on a data set version"),
        StepType("condition", _condition, {"passed": None, "results": None}, (),
                 ("when", "model", "metrics", "criteria", "problem"), check=_check_when,
                 description="a gate: later steps that depend on it are skipped when false"),
        StepType("register", _register, {"model": MODEL}, ("model",), ("alias", "details"),
                 description="an alias and details for a registered model"),
        StepType("approve", _approve, {"model": MODEL, "status": None, "passed": None},
                 ("model",), ("mode", "timeout_seconds", "when", "problem"), check=_check_approve,
                 description="approval: auto by criteria, or wait for a person"),
        StepType("deploy", _deploy, {"endpoint": None, "model": MODEL}, ("model", "endpoint"),
                 ("strategy", "variant", "alarms", "alarm_window", "allow_unapproved", "capture"),
                 description="deploy to an endpoint, with a strategy (canary, linear, ...)"),
        StepType("transform", _transform, {"data": DATA, "job": None}, ("model", "data"),
                 ("name", "keep", "id_column", "chunk_rows"),
                 description="a batch transform job; the scored rows as a data set version"),
        StepType("baseline", _baseline, {"baseline": None}, (), ("data", "model"),
                 description="statistics and constraints for monitoring"),
        StepType("monitor", _monitor, {"monitor": None, "job": None},
                 ("endpoint", "monitor_type"),
                 ("name", "baseline", "schedule", "window", "offset", "run", "thresholds",
                  "facet", "label_value", "facet_value"),
                 description="a monitor on an endpoint's captured traffic"),
    ]
}  # fmt: skip
