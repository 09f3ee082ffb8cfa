"""``automl`` (checks the options and runs the job) and ``AutoML``, its notebook face."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC
from typing import TYPE_CHECKING

import numpy as np

from kiln.algorithms import PROBLEM_TYPES, get_algorithm
from kiln.automl._search import FAMILIES, METRICS
from kiln.compute import COMPLETED, FINAL_STATUSES, executor_for, run_in_background
from kiln.context import Context
from kiln.data import unknown_column
from kiln.errors import ConfigError, DataError, StateError
from kiln.problems import infer_problem_type
from kiln.refs import check_name
from kiln.training import check_problem_fits, resolve_problem

if TYPE_CHECKING:
    import pandas as pd

    from kiln.compute import Job
    from kiln.data import DatasetVersion
    from kiln.registry import ModelVersion, TrainedModel

__all__ = [
    "AutoML",
    "AutoMLResult",
    "automl",
    "automl_progress",
    "check_target",
    "start_automl",
]

MIN_TIME_LIMIT = 10.0


@dataclass(frozen=True)
class AutoMLResult:
    job: Job
    model: ModelVersion

    @property
    def leaderboard(self) -> list[dict]:
        return self.job.result["leaderboard"]

    def to_dict(self) -> dict:
        result = self.job.result
        return {
            "job": self.job.id,
            "model": self.model.ref,
            "problem_type": result["problem_type"],
            "metric": result["metric"],
            "score": result["score"],
            "score_source": "out-of-fold",
            "test_score": result.get("test_score"),
            "test_rows": result.get("test_rows"),
            "validation": result["validation"],
            "trials": result["trials"],
            "ensemble": result["ensemble"],
            "leaderboard": result["leaderboard"],
            "seconds": result.get("seconds_since_call", result["total_seconds"]),
        }


def automl(
    workspace: Context,
    data: str,
    *,
    target: str | None = None,
    time_limit: float,
    metric: str | None = None,
    problem_type: str | None = None,
    name: str | None = None,
    algorithms: list[str] | None = None,
    test_size: float | None = None,
    test_data: str | None = None,
    seed: int = 42,
    on_log: Callable[[str], None] | None = None,
    started: float | None = None,
    problem: str | None = None,
) -> AutoMLResult:
    """Run AutoML on data set ``data`` (``name`` or ``name:3``) as a job, and register the model.

    Parameters
    ----------
    time_limit
        Seconds for the whole run, from this call to the registered model (at least 10). The
        search stops early enough to ensemble, explain and register within it.
    metric
        What to optimise: ``roc_auc`` (binary), ``log_loss`` (multiclass) or ``rmse``
        (regression) by default; see ``kiln.automl._search.METRICS`` for the others.
    problem_type
        ``binary``, ``multiclass`` or ``regression``; inferred from the target when omitted.
    name
        The model group to register in; defaults to the data set name.
    algorithms
        Restrict the candidates (default: lightgbm, linear, extra_trees, xgboost,
        random_forest, knn, catboost when installed, mlp).
    test_size
        A share of the rows (0 < test_size < 1) held out before the search as a test split:
        never searched on or used to choose, only to score the final model (its ``test``
        metrics), so the score compares with a trained model's test score.
    test_data
        A data set (``name`` or ``name:3``) with the same columns to score the final model on
        instead; give ``test_size`` or ``test_data``, not both.
    started
        ``time.time()`` when the caller's clock started (defaults to now): the deadline is
        ``started + time_limit``.
    problem
        A problem spec (``churn`` or ``churn:2``): the target and problem type default from it,
        and the model is checked against its criteria before it is registered.
    """

    job = _create_job(
        workspace,
        data,
        target=target,
        time_limit=time_limit,
        metric=metric,
        problem_type=problem_type,
        name=name,
        algorithms=algorithms,
        test_size=test_size,
        test_data=test_data,
        seed=seed,
        started=started,
        problem=problem,
    )
    finished = executor_for(workspace).run(job, on_log=on_log)
    return AutoMLResult(job=finished, model=workspace.models.get(finished.result["model"]))


def start_automl(workspace: Context, data: str, *, time_limit: float, **options) -> Job:
    """Check the options and start AutoML as :func:`automl` does, but return the Pending job at
    once and run it from a thread (:func:`kiln.compute.run_in_background`): for a caller that
    must answer now and show progress (:func:`automl_progress`), such as Studio. The options are
    :func:`automl`'s, without ``on_log``."""
    job = _create_job(workspace, data, time_limit=time_limit, **options)
    run_in_background(workspace, job)
    return job


def _create_job(
    workspace: Context,
    data: str,
    *,
    target: str | None = None,
    time_limit: float,
    metric: str | None = None,
    problem_type: str | None = None,
    name: str | None = None,
    algorithms: list[str] | None = None,
    test_size: float | None = None,
    test_data: str | None = None,
    seed: int = 42,
    started: float | None = None,
    problem: str | None = None,
) -> Job:
    """The checked AutoML job, created Pending with its lineage; nothing runs yet."""
    started = time.time() if started is None else started
    if not isinstance(time_limit, int | float) or not time_limit >= MIN_TIME_LIMIT:
        raise ConfigError(
            f"time_limit must be at least {MIN_TIME_LIMIT:g} seconds; got {time_limit!r}.",
            code="automl.bad-time-limit",
            field="time_limit",
        )
    dataset = workspace.data.get(data)
    checked_problem = None
    if problem is not None:
        checked_problem, target, problem_type = resolve_problem(
            workspace, problem, dataset, target=target, problem_type=problem_type
        )
    if target is None:
        raise ConfigError(
            "AutoML needs the column to predict: give target= (--target), or problem= "
            "(--problem) naming a problem spec with a target.",
            code="training.missing-target",
            field="target",
        )
    kind = check_target(workspace, dataset, target, problem_type=problem_type)
    if checked_problem is not None:
        check_problem_fits(checked_problem, kind)
    if metric is not None and metric not in METRICS[kind]:
        raise ConfigError(
            f"AutoML cannot optimise {metric!r} for a {kind} problem; use one of "
            f"{', '.join(METRICS[kind])}.",
            code="automl.bad-metric",
            field="metric",
        )
    if algorithms:
        for algorithm in algorithms:
            checked = get_algorithm(algorithm).name
            if checked not in FAMILIES:
                raise ConfigError(
                    f"AutoML does not search {checked!r}; it searches {', '.join(FAMILIES)}.",
                    code="automl.bad-algorithm",
                    field="algorithms",
                )
        algorithms = [get_algorithm(a).name for a in algorithms]
    test_dataset = _check_test_options(workspace, dataset, target, test_size, test_data)
    spec = {
        "dataset": dataset.ref,
        "dataset_version_id": dataset.id,
        "target": target,
        "problem_type": problem_type,
        "metric": metric,
        "time_limit": float(time_limit),
        "deadline": started + float(time_limit),
        "group": check_name(name or dataset.name, what="model group"),
        "algorithms": algorithms,
        "test_size": float(test_size) if test_size is not None else None,
        "test_dataset": test_dataset.ref if test_dataset else None,
        "test_dataset_version_id": test_dataset.id if test_dataset else None,
        "seed": int(seed),
    }
    if checked_problem is not None:
        spec["problem"] = checked_problem.ref
    job = workspace.jobs.create("automl", spec)
    workspace.jobs.add_lineage(job.id, ("dataset_version", dataset.id), "input")
    if test_dataset is not None:
        workspace.jobs.add_lineage(job.id, ("dataset_version", test_dataset.id), "input")
    return job


def check_target(
    workspace: Context,
    data: str | DatasetVersion,
    target: str,
    *,
    problem_type: str | None = None,
) -> str:
    """The problem type AutoML would solve for ``target`` of data set version ``data``, or the
    error it would refuse the target with (an unknown column, no values, a single value, a
    non-numeric regression target, a binary problem without two values). Cheap: it reads the
    target column only, so a caller may check a choice before starting a run."""
    dataset = workspace.data.get(data) if isinstance(data, str) else data
    if target not in dataset.columns:
        raise unknown_column(target, dataset)
    if problem_type is not None and problem_type not in PROBLEM_TYPES:
        raise ConfigError(
            f"Unknown problem type {problem_type!r}. Use one of {', '.join(PROBLEM_TYPES)}.",
            code="training.bad-problem-type",
            field="problem_type",
        )
    values = workspace.data.load(dataset, columns=[target])[target].dropna()
    if values.empty:
        raise ConfigError(
            f"The target {target!r} of {dataset.ref} has no values.",
            code="automl.empty-target",
            field="target",
        )
    if values.nunique() == 1:
        raise ConfigError(
            f"The target {target!r} of {dataset.ref} has one value ({values.iloc[0]!r}) in every "
            "row with a value: there is nothing to learn. Choose another column, or add rows "
            "with other values.",
            code="automl.constant-target",
            field="target",
        )
    import pandas as pd

    kind = problem_type or infer_problem_type(values)
    if kind == "regression" and not pd.api.types.is_numeric_dtype(values):
        raise ConfigError(
            f"The target {target!r} is not numeric, so it cannot be a regression target. "
            "Use problem_type binary or multiclass.",
            code="training.bad-target",
            field="target",
        )
    if kind == "regression" and not np.isfinite(values.to_numpy(dtype=float)).all():
        count = int((~np.isfinite(values.to_numpy(dtype=float))).sum())
        raise ConfigError(
            f"The target {target!r} has {count} infinite value(s). Fix or drop those rows "
            "(rows with a missing target are dropped for you).",
            code="training.bad-target",
            field="target",
        )
    if kind == "binary" and values.nunique() != 2:
        raise ConfigError(
            f"A binary problem needs exactly 2 target values; {target!r} has "
            f"{values.nunique()}. Use problem_type multiclass.",
            code="training.bad-target",
            field="target",
        )
    return kind


def automl_progress(workspace: Context, job_id: str, *, log_lines: int = 8) -> dict:
    """What a live view of AutoML job ``job_id`` shows, in one cheap read: its status, seconds
    elapsed and left of its time limit, the trials so far and the best score so far (the job's
    ``trial_score`` and ``best_score`` metrics, with their series), its last ``log_lines`` log
    lines; and, once Completed, the registered model with its score, leaderboard and feature
    importance."""
    job = workspace.jobs.get(job_id)
    if job.kind != "automl":
        raise ConfigError(
            f"Job {job.id} is a {job.kind} job, not an AutoML run; see 'kiln jobs show {job.id}'.",
            code="automl.not-automl-job",
        )
    spec = job.spec
    time_limit = float(spec.get("time_limit", 0.0))
    # Jobs record their deadline (time.time()); a job from before they did counts from creation.
    deadline = spec.get("deadline", job.created_at.replace(tzinfo=UTC).timestamp() + time_limit)
    started = deadline - time_limit
    active = job.status not in FINAL_STATUSES
    if active:
        elapsed = time.time() - started
    elif job.status == COMPLETED:
        elapsed = job.result.get("seconds_since_call", job.result.get("total_seconds", 0.0))
    else:
        elapsed = ((job.ended_at or job.created_at) - job.created_at).total_seconds()
    metrics = workspace.jobs.metrics(job.id)
    best = metrics.get("best_score", [])
    progress = {
        "job": job.id,
        "status": job.status,
        "failure_reason": job.failure_reason,
        "failure_code": job.failure_code,
        "dataset": spec["dataset"],
        "target": spec["target"],
        "time_limit": time_limit,
        "elapsed_seconds": round(max(elapsed, 0.0), 1),
        "remaining_seconds": round(max(deadline - time.time(), 0.0), 1) if active else 0.0,
        "trials": len(metrics.get("trial_score", [])),
        "best_score": best[-1][1] if best else None,
        # [trial number, score] of each trial that completed, and the best so far after it.
        "trial_scores": [list(point) for point in metrics.get("trial_score", [])],
        "best_scores": [list(point) for point in best],
        "log": [message for _seq, _at, _level, message in workspace.jobs.logs(job.id)][-log_lines:],
        "result": None,
    }
    if job.status == COMPLETED:
        result = job.result
        model = workspace.models.get(result["model"])
        details = model.details or {}
        progress["result"] = {
            "model": model.ref,
            "approval_status": model.approval_status,
            "problem_type": result["problem_type"],
            "metric": result["metric"],
            "score": result["score"],
            "trials": result["trials"],
            "validation": result["validation"],
            "leaderboard": details.get("leaderboard", result["leaderboard"]),
            "explanation": details.get("explanation"),
        }
    return progress


def _check_test_options(workspace: Context, dataset, target: str, test_size, test_data):
    """The test data set version (or None), once the test options are known to be usable."""
    if test_size is not None and test_data is not None:
        raise ConfigError(
            "Give test_size (a share of the rows to hold out) or test_data (a data set to test "
            "on), not both.",
            code="automl.bad-test-size",
            field="test_size",
        )
    if test_size is not None and (
        isinstance(test_size, bool)
        or not isinstance(test_size, int | float)
        or not 0 < test_size < 1
    ):
        raise ConfigError(
            f"test_size is the share of rows held out for testing, between 0 and 1 (e.g. 0.2); "
            f"got {test_size!r}.",
            code="automl.bad-test-size",
            field="test_size",
        )
    if test_data is None:
        return None
    test = workspace.data.get(test_data)
    missing = [c for c in dataset.columns if c not in test.columns]
    if missing:
        raise DataError(
            f"The test data set {test.ref} lacks column(s) {', '.join(map(repr, missing[:10]))} "
            f"of {dataset.ref}; test on data with the same columns as the training data.",
            code="automl.bad-test-data",
            field="test_data",
        )
    if test.id == dataset.id:
        raise ConfigError(
            f"The test data set {test.ref} is the training data set; test on rows the search "
            "never sees (or use test_size to hold some out).",
            code="automl.bad-test-data",
            field="test_data",
        )
    return test


class AutoML:
    """AutoML from a notebook or a script, with nothing set up::

        automl = AutoML(target="churn", time_limit=60)
        automl.fit(train_df)              # a pandas DataFrame, or a data set name
        automl.predict(test_df)           # labels or values
        automl.predict_proba(test_df)     # DataFrame, one column per class label
        automl.leaderboard()              # DataFrame, one row per candidate

    It uses the current workspace (``$KILN_HOME``, else ``.kiln`` here), creating it when there
    is none, and registers its model there; ``automl.model`` is the registered version.
    """

    def __init__(
        self,
        target: str,
        time_limit: float = 60,
        metric: str | None = None,
        *,
        problem_type: str | None = None,
        name: str | None = None,
        algorithms: list[str] | None = None,
        test_size: float | None = None,
        workspace: Context | str | None = None,
        seed: int = 42,
        verbose: bool = False,
    ):
        self.target = target
        self.time_limit = time_limit
        self.metric = metric
        self.problem_type = problem_type
        self.name = name
        self.algorithms = algorithms
        self.test_size = test_size
        self.seed = seed
        self.verbose = verbose
        self._workspace = workspace
        self.result: AutoMLResult | None = None
        self._model: TrainedModel | None = None

    @property
    def workspace(self) -> Context:
        if not hasattr(self._workspace, "data"):
            self._workspace = Context.open_or_create(self._workspace)
        return self._workspace

    def fit(self, data: pd.DataFrame | str, test_data: pd.DataFrame | str | None = None) -> AutoML:
        """Search, ensemble and register a model for ``data`` (a DataFrame is stored as a new
        version of the data set ``automl_<target>``, or of ``name`` when given).

        ``test_data`` (a DataFrame, stored as ``<that name>_test``, or a data set name) is never
        searched on: the final model is scored on it, and its ``test`` metrics recorded."""
        started = time.time()
        ws = self.workspace
        name = self.name or _data_name(self.target)
        ref = self._ingest(data, name)
        test_ref = None if test_data is None else self._ingest(test_data, f"{name}_test")
        self.result = automl(
            ws,
            ref,
            target=self.target,
            time_limit=self.time_limit,
            metric=self.metric,
            problem_type=self.problem_type,
            name=self.name,
            algorithms=self.algorithms,
            test_size=self.test_size,
            test_data=test_ref,
            seed=self.seed,
            on_log=print if self.verbose else None,
            started=started,
        )
        self._model = None
        return self

    def _ingest(self, data: pd.DataFrame | str, name: str) -> str:
        """The data set ref of ``data``: a name as given, a DataFrame stored as ``name``."""
        if isinstance(data, str):
            return data
        if hasattr(data, "columns"):
            if self.target not in data.columns:
                raise DataError(
                    f"The DataFrame has no column {self.target!r} (the target). Its columns: "
                    f"{', '.join(map(str, list(data.columns)[:20]))}.",
                    code="data.unknown-column",
                    field="target",
                )
            duplicated = sorted({str(c) for c in data.columns[data.columns.duplicated()]})
            if duplicated:
                raise DataError(
                    f"The DataFrame has duplicated column name(s) {', '.join(duplicated)}; "
                    "rename them so each column has its own name.",
                    code="data.duplicate-column",
                    field=duplicated[0],
                )
            return self.workspace.data.ingest(data, name=name).ref
        raise ConfigError(
            f"fit() takes a pandas DataFrame or a data set name; got {type(data).__name__}.",
            code="automl.bad-data",
        )

    @property
    def model(self) -> ModelVersion:
        """The registered model version."""
        return self._fitted().model

    def _fitted(self) -> AutoMLResult:
        if self.result is None:
            raise StateError(
                "This AutoML has not been fit yet: call fit(data) first.", code="automl.not-fit"
            )
        return self.result

    def _trained(self) -> TrainedModel:
        if self._model is None:
            self._model = self.workspace.models.load(self._fitted().model)
        return self._model

    def _inputs(self, frame: pd.DataFrame) -> pd.DataFrame:
        model = self._trained()
        missing = [c for c in model.input_columns if c not in frame.columns]
        if missing:
            raise DataError(
                f"Missing input column(s) {', '.join(map(repr, missing))}; the model reads "
                f"{', '.join(model.input_columns)}.",
                code="automl.missing-columns",
                field=missing[0],
            )
        return frame

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """Labels (classification, in the target's own values) or values (regression)."""
        return self._trained().predict(self._inputs(frame))

    def predict_proba(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Class probabilities: one column per class label, rows as ``frame``'s."""
        import pandas as pd

        model = self._trained()
        if not model.is_classifier:
            raise StateError(
                "predict_proba is for classification; this is a regression model. Use predict.",
                code="automl.not-classifier",
            )
        proba = model.predict_proba(self._inputs(frame))
        return pd.DataFrame(proba, columns=list(model.classes), index=frame.index)

    def leaderboard(self) -> pd.DataFrame:
        """One row per candidate, best first; the first row is the ensemble."""
        return leaderboard_frame(self._fitted().leaderboard)


def leaderboard_frame(rows: list[dict]) -> pd.DataFrame:
    import json

    import pandas as pd

    frame = pd.DataFrame(rows)
    frame["hyperparameters"] = frame["hyperparameters"].map(
        lambda hp: json.dumps(hp, sort_keys=True, default=str)
    )
    return frame.set_index("rank")


def _data_name(target: str) -> str:
    return "automl_" + (re.sub(r"[^A-Za-z0-9_]", "_", target) or "data")
