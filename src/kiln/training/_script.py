"""Custom training scripts: a user's ``train(run)`` runs as a job, kiln registers what it returns.

A script is a Python file with one function, ``train(run)``. ``run`` (a :class:`ScriptRun`) hands
it the data set versions as DataFrames and takes its metrics and log lines; the function returns a
fitted scikit-learn-compatible model that takes the data set's columns (a ``Pipeline`` with its own
preprocessing, usually). kiln records the model as the next version of a model group, with a
signature read from the input data, so the registry, endpoints, batch transform and lineage work
on it as on any model. The script's text is stored in the job's spec: the job is what ran.
"""

from __future__ import annotations

import hashlib
import io
import math
import pickle
import tokenize
import traceback
import types
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kiln.compute import executor_for
from kiln.errors import ConfigError, KilnError
from kiln.problems import BINARY, MULTICLASS, REGRESSION, infer_problem_type
from kiln.refs import check_name
from kiln.registry import TrainedModel
from kiln.training._signature import build_signature

if TYPE_CHECKING:
    import pandas as pd

    from kiln.compute import JobContext
    from kiln.context import Context
    from kiln.training._train import TrainingResult

__all__ = ["ScriptRun", "run_script_job", "script_report", "train_script"]

ENTRY_POINT = "train"


class ScriptRun:
    """What a training script's ``train(run)`` is given.

    Attributes
    ----------
    data
        The input data set versions as DataFrames, by data set name (``run.data["churn"]``).
    target
        The column to predict (``--target``); a script may set it when it was not given.
    params
        The ``--hp key=value`` pairs given with the script, as text.
    """

    def __init__(
        self,
        data: dict[str, pd.DataFrame],
        *,
        target: str | None,
        params: dict[str, Any],
        context: JobContext | None = None,
    ):
        self.data = data
        self.target = target
        self.params = params
        self._context = context
        self.metrics: dict[str, float] = {}
        self._steps: dict[str, int] = {}

    def frame(self, name: str | None = None) -> pd.DataFrame:
        """The input named ``name``, or the first one given."""
        if name is None:
            return next(iter(self.data.values()))
        if name not in self.data:
            raise ConfigError(
                f"The script asked for input {name!r}; its inputs are "
                f"{', '.join(self.data)}. Add it with --data {name}.",
                code="script.unknown-input",
            )
        return self.data[name]

    def log(self, message: str) -> None:
        """A line in the job's log."""
        if self._context is not None:
            self._context.log(str(message))

    def log_metric(self, name: str, value: float, *, step: int | None = None) -> None:
        """Record a metric: its series on the job, its last value on the model version."""
        number = float(value)
        if not math.isfinite(number):
            raise ConfigError(
                f"Metric {name!r} must be a finite number. Got {value!r}.",
                code="script.bad-metric",
            )
        self._steps[name] = self._steps.get(name, 0) + 1 if step is None else step
        if self._context is not None:
            self._context.log_metric_series(name, [number], start_step=self._steps[name])
        self.metrics[name] = number


def train_script(
    workspace: Context,
    script: str | Path,
    *,
    data: str | list[str],
    target: str | None = None,
    name: str | None = None,
    params: dict[str, Any] | None = None,
    on_log: Callable[[str], None] | None = None,
) -> TrainingResult:
    """Run training script ``script`` as a job on data set versions ``data`` and register the
    model its ``train(run)`` returns.

    Parameters
    ----------
    script
        A Python file defining ``train(run)`` (see :class:`ScriptRun`).
    data
        One data set reference or several (``churn``, ``["churn:2", "regions"]``).
    target
        The column the model predicts (else the script sets ``run.target``).
    name
        The model group (default: the first data set's name).
    params
        Values the script reads from ``run.params``.

    Returns
    -------
    TrainingResult
        The completed job and the registered model version. A script that raises fails the job
        with its traceback (``script.failed``).
    """
    from kiln.training._train import TrainingResult

    path = Path(script)
    if not path.is_file():
        raise ConfigError(
            f"No training script at {str(path)!r} (looked in {Path.cwd()}). Give the path of a "
            f"Python file that defines {ENTRY_POINT}(run).",
            code="script.not-found",
            field="script",
        )
    raw = path.read_bytes()
    try:
        # Compiled from its bytes, as Python reads a file: a coding declaration is honoured and
        # text in no encoding is a SyntaxError here, not a UnicodeDecodeError below.
        compile(raw, str(path), "exec")
        source = raw.decode(tokenize.detect_encoding(io.BytesIO(raw).readline)[0])
    except SyntaxError as exc:
        raise ConfigError(
            f"Training script {path} is not valid Python: {exc.msg} (line {exc.lineno}).",
            code="script.syntax-error",
            field="script",
        ) from exc
    refs = [data] if isinstance(data, str) else list(data)
    if not refs:
        raise ConfigError("A training script needs a data set: give --data.", code="script.no-data")
    versions = [workspace.data.get(ref) for ref in refs]
    names = [v.name for v in versions]
    if len(set(names)) != len(names):
        raise ConfigError(
            f"Data set {sorted(n for n in names if names.count(n) > 1)[0]!r} is given twice; "
            "a script reads each data set once, by name.",
            code="script.duplicate-input",
        )
    if target is not None and target not in versions[0].columns:
        from kiln.data import unknown_column

        raise unknown_column(target, versions[0])
    group = check_name(name or versions[0].name, what="model")
    spec = {
        "script": str(path),
        "source": source,
        "digest": hashlib.sha256(source.encode()).hexdigest(),
        "inputs": [{"ref": v.ref, "id": v.id} for v in versions],
        "target": target,
        "group": group,
        "params": dict(params or {}),
    }
    job = workspace.jobs.create("script", spec)
    for version in versions:
        workspace.jobs.add_lineage(job.id, ("dataset_version", version.id), "input")
    finished = executor_for(workspace).run(job, on_log=on_log)
    return TrainingResult(job=finished, model=workspace.models.get(finished.result["model"]))


def run_script_job(workspace: Context, context: JobContext, spec: dict) -> dict:
    """The script job's own process: load the inputs, call ``train(run)``, register the model."""
    script = spec["script"]
    versions = [workspace.data.get_by_id(i["id"]) for i in spec["inputs"]]
    frames = {v.name: workspace.data.load(v) for v in versions}
    context.log(
        f"Running {script} ({spec['digest'][:12]}) on "
        + ", ".join(f"{v.ref} ({v.row_count} rows)" for v in versions)
    )
    # A module of its own, not in sys.modules: a class the script defines cannot be pickled, which
    # is what a server would need to load the model (see the check below).
    module = types.ModuleType(f"kiln_script_{spec['digest'][:12]}")
    module.__file__ = script
    run = ScriptRun(
        frames, target=spec.get("target"), params=spec.get("params", {}), context=context
    )
    try:
        exec(compile(spec["source"], script, "exec"), module.__dict__)  # noqa: S102 — the user's own code
        entry = module.__dict__.get(ENTRY_POINT)
        if not callable(entry):
            raise ConfigError(
                f"Training script {script} defines no {ENTRY_POINT}(run) function. Add one that "
                "returns the fitted model.",
                code="script.no-entry-point",
            )
        model = entry(run)
    except KilnError:
        raise
    except Exception as exc:  # noqa: BLE001 — the script's own failure, shown with its traceback
        raise KilnError(
            f"Training script {script} raised {type(exc).__name__}: {exc}\n"
            + _script_traceback(exc, script),
            code="script.failed",
        ) from exc
    return _register(workspace, context, spec, run, model, versions[0], frames[versions[0].name])


def _script_traceback(exc: BaseException, script: str) -> str:
    """The traceback from the script's first frame on (kiln's own frames above it say nothing)."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename != script:
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(exc), exc, tb or exc.__traceback__)).rstrip()


def _register(workspace, context, spec, run, model, dataset, frame) -> dict:
    script = spec["script"]
    if model is None or not callable(getattr(model, "predict", None)):
        got = "nothing (None)" if model is None else f"a {type(model).__name__}"
        raise ConfigError(
            f"{ENTRY_POINT}(run) in training script {script} returned {got}; it must return the "
            "fitted scikit-learn-compatible model (an object with predict, e.g. a Pipeline).",
            code="script.no-model",
        )
    target = run.target
    if not target or target not in frame.columns:
        raise ConfigError(
            f"Training script {script} named no target column of {dataset.ref} (got "
            f"{target!r}): give --target, or set run.target in {ENTRY_POINT}(run).",
            code="script.no-target",
        )
    classifier = callable(getattr(model, "predict_proba", None)) and hasattr(model, "classes_")
    if classifier:
        classes = list(model.classes_)
        problem_type = BINARY if len(classes) == 2 else MULTICLASS
    else:
        classes = None
        problem_type = infer_problem_type(frame[target])
        if problem_type != REGRESSION:
            raise ConfigError(
                f"The model {script} returned predicts {target!r}, a {problem_type} target, but "
                "has no predict_proba and classes_: return a fitted classifier.",
                code="script.no-model",
            )
    signature = build_signature(
        frame,
        column_types=dataset.column_types(),
        target=target,
        problem_type=problem_type,
        classes=classes,
        positive_label=classes[1] if problem_type == BINARY else None,
        # The script chose what its model reads: every column but the target is an input.
        also=[c for c in frame.columns if c != target],
    )
    trained = TrainedModel(
        _as_pipeline(model), problem_type=problem_type, classes=classes, signature=signature
    )
    try:
        trained.to_bytes()
    except (pickle.PicklingError, AttributeError, TypeError) as exc:
        raise ConfigError(
            f"The model training script {script} returned cannot be stored: {exc}. A class the "
            "model uses must live in an importable module (installed, or on PYTHONPATH), not in "
            "the script itself, so that servers can load it.",
            code="script.unpicklable-model",
        ) from exc
    version = workspace.models.register(
        trained,
        group=spec["group"],
        algorithm=f"script:{Path(script).name}",
        target=target,
        hyperparameters=dict(spec.get("params", {})),
        metrics={"script": dict(run.metrics)} if run.metrics else {},
        dataset_version_id=dataset.id,
        job_id=context.job_id,
        details={"script": {"path": script, "digest": spec["digest"]}},
    )
    context.log(f"Registered model {version.ref} ({version.approval_status}).")
    return {
        "model": version.ref,
        "model_version_id": version.id,
        "metrics": {"script": dict(run.metrics)},
        "problem_type": problem_type,
    }


def _as_pipeline(model):
    """The model behind a pass-through first step: kiln's model keeps ``pipeline[0]`` for the
    recipe and ``pipeline[-1]`` for the estimator, and a script's model does its own
    preprocessing on the raw columns."""
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer

    return Pipeline([("inputs", FunctionTransformer()), ("model", model)])


def script_report(workspace: Context, job, *, out=None, **_options):
    """The report of a completed script job: what ran on what, the metrics it logged, the model's
    inputs, the script itself and its log. (The script chose its own held-out rows, so there is
    no evaluation to redo: that is ``kiln jobs report`` of a training job.)"""
    import html
    import time

    from kiln.reports import JobReport, Section, fields, render, table, write

    started = time.perf_counter()
    spec, result = job.spec, job.result
    version = workspace.models.get(result["model"])
    series = workspace.jobs.metrics(job.id)
    sections = [
        Section(
            "Summary",
            fields(
                {
                    "script": spec["script"],
                    "SHA-256": spec["digest"],
                    "inputs": ", ".join(i["ref"] for i in spec["inputs"]),
                    "target": version.target,
                    "model": f"{version.ref} ({version.approval_status})",
                    "problem type": version.problem_type,
                    "parameters": ", ".join(f"{k}={v}" for k, v in spec["params"].items()) or "—",
                    "seconds": f"{job.duration_seconds:.1f}" if job.duration_seconds else "—",
                }
            ),
        ),
        Section(
            "Metrics the script logged",
            table(
                ["metric", "last value", "steps"],
                [[name, values[-1][1], len(values)] for name, values in series.items()],
            ),
        ),
        Section(
            "Model inputs (the signature)",
            table(
                ["column", "type", "sent as"],
                [[c["name"], c["type"], c["dtype"]] for c in version.signature["inputs"]],
            ),
        ),
        Section("Script", f"<pre>{html.escape(spec['source'])}</pre>"),
        Section(
            "Log",
            "<pre>"
            + html.escape("\n".join(line for _, _, _, line in workspace.jobs.logs(job.id)))
            + "</pre>",
        ),
    ]
    path = Path(out) if out else Path(workspace.home) / "reports" / f"{job.id}.html"
    write(path, render(f"Training script job {job.id}", sections, plotly_bundle=None))
    return JobReport(
        path=path,
        job_id=job.id,
        diagnosis=None,
        metrics=dict(version.metrics),
        seconds=time.perf_counter() - started,
        sections=[s.title for s in sections],
    )
