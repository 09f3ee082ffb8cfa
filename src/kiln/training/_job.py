"""The training job: split, preprocess, fit, evaluate and register — in the job's own process."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from kiln.algorithms import BINARY, MULTICLASS, REGRESSION, get_algorithm
from kiln.compute import JobContext
from kiln.errors import ConfigError, DataError
from kiln.evaluation import evaluate
from kiln.recipe import build_preprocessor
from kiln.training._model import TrainedModel
from kiln.training._signature import build_signature
from kiln.workspace import Workspace

_POSITIVE_NAMES = ("yes", "y", "true", "t", "1", "positive", "pos")


def infer_problem_type(target: pd.Series) -> str:
    """binary for two values, multiclass for text labels or few integers, else regression."""
    values = target.dropna()
    distinct = values.nunique()
    if distinct <= 2:
        return BINARY
    kind = values.dtype.kind
    if kind == "f":
        return (
            REGRESSION if not np.allclose(values, values.round()) or distinct > 10 else MULTICLASS
        )
    if kind in "iu":
        return MULTICLASS if distinct <= 10 else REGRESSION
    return MULTICLASS


def order_classes(values: list) -> list:
    """Sorted labels, the positive one last for binary problems (so it is column 1)."""
    classes = sorted(values, key=lambda v: (str(type(v)), v))
    if len(classes) == 2:
        first, second = classes
        if str(first).lower() in _POSITIVE_NAMES and str(second).lower() not in _POSITIVE_NAMES:
            classes = [second, first]
    return classes


def run_training_job(workspace: Workspace, context: JobContext, spec: dict) -> dict:
    started = time.perf_counter()
    log = context.log
    data = workspace.data
    dataset = data.get_by_id(spec["dataset_version_id"])
    target = spec["target"]
    log(f"Data set {dataset.ref}: {dataset.row_count} rows, {dataset.column_count} columns.")
    if target not in dataset.columns:
        raise DataError(
            f"Data set {dataset.ref} has no column {target!r} to use as the target.",
            code="data.unknown-column",
            field=target,
        )
    column_types = dataset.column_types()
    target_values = data.load(dataset, columns=[target])[target]
    problem_type = spec.get("problem_type") or infer_problem_type(target_values)
    algorithm = get_algorithm(spec["algorithm"])
    if problem_type not in algorithm.problem_types:
        raise ConfigError(
            f"{algorithm.name} does not support {problem_type} problems.",
            code="algorithm.problem-type",
        )
    log(f"Problem type: {problem_type} (target {target!r}).")

    splits = data.split(
        dataset,
        target=target,
        ratios=tuple(spec["ratios"]),
        time_column=spec.get("time_column"),
        stratify=problem_type != REGRESSION,
        seed=spec["seed"],
    )
    frames = {part: data.load(version) for part, version in splits.items()}
    log(
        "Split "
        + ", ".join(f"{part} {splits[part].ref} ({len(f)} rows)" for part, f in frames.items())
    )
    for version in splits.values():
        workspace.jobs.add_lineage(context.job_id, ("dataset_version", version.id), "input")

    classes = None
    y = {}
    if problem_type == REGRESSION:
        for part, frame in frames.items():
            if not pd.api.types.is_numeric_dtype(frame[target]):
                raise DataError(
                    f"The target {target!r} is not numeric, so it cannot be a regression target. "
                    "Use --problem-type binary or multiclass.",
                    code="training.bad-target",
                    field=target,
                )
            y[part] = frame[target].to_numpy(dtype=float)
    else:
        classes = order_classes(target_values.dropna().unique().tolist())
        if problem_type == BINARY and len(classes) != 2:
            raise DataError(
                f"A binary problem needs exactly 2 target values; {target!r} has {len(classes)}.",
                code="training.bad-target",
                field=target,
            )
        index = {c: i for i, c in enumerate(classes)}
        for part, frame in frames.items():
            y[part] = frame[target].map(index).to_numpy(dtype=int)
        missing = sorted(set(range(len(classes))) - set(np.unique(y["train"])))
        if missing:
            raise DataError(
                f"The training split has no rows of class(es) {[classes[i] for i in missing]}. "
                "Use more data or a stratified (not time-ordered) split.",
                code="training.missing-class",
            )
        log(f"Classes: {classes}.")

    signature = build_signature(
        frames["train"],
        column_types=column_types,
        target=target,
        problem_type=problem_type,
        classes=classes,
        positive_label=classes[1] if problem_type == BINARY else None,
    )
    features = [c["name"] for c in signature["inputs"]]
    if not features:
        raise DataError(
            f"No usable feature columns besides the target {target!r} (text and identifier "
            "columns are not used by the default recipe).",
            code="training.no-features",
        )
    if signature["ignored"]:
        log(
            "Not used as features: "
            + ", ".join(f"{c['name']} ({c['type']})" for c in signature["ignored"])
        )
    X = {part: frame[features] for part, frame in frames.items()}

    hyperparameters = dict(spec["hyperparameters"])
    has_validation = len(X["validation"]) > 0
    if not has_validation and "early_stopping_rounds" in hyperparameters:
        hyperparameters["early_stopping_rounds"] = 0
    preprocessor = build_preprocessor(
        {c: column_types[c] for c in features}, scale_numeric=algorithm.scale_numeric
    )
    fit_started = time.perf_counter()
    Xt_train = preprocessor.fit_transform(X["train"], y["train"])
    log(f"Preprocessing fit on the training split: {Xt_train.shape[1]} model inputs.")
    estimator = algorithm.build(problem_type, hyperparameters, spec["seed"])
    fit_options = {}
    if algorithm.fit_options is not None and has_validation:
        fit_options = algorithm.fit_options(
            hyperparameters,
            (Xt_train, y["train"]),
            (preprocessor.transform(X["validation"]), y["validation"]),
        )
    log(f"Fitting {algorithm.name} with {hyperparameters}.")
    estimator.fit(Xt_train, y["train"], **fit_options)
    fit_seconds = time.perf_counter() - fit_started
    if algorithm.iteration_metrics is not None and fit_options:
        curves = algorithm.iteration_metrics(estimator)
        for name, values in curves.items():
            context.log_metric_series(name, values)
        best = getattr(estimator, "best_iteration", None) or getattr(
            estimator, "best_iteration_", None
        )
        log(
            f"Logged per-iteration {', '.join(curves)}"
            + (f"; best iteration {best}." if best else ".")
        )
    pipeline = Pipeline([("preprocess", preprocessor), ("model", estimator)])
    model = TrainedModel(pipeline, problem_type=problem_type, classes=classes, signature=signature)

    metrics = {}
    for part in ("train", "validation", "test"):
        if len(X[part]) == 0:
            continue
        if problem_type == REGRESSION:
            metrics[part] = evaluate(
                problem_type,
                y[part],
                y_pred=model.predict_values(X[part]),
                n_features=len(features),
            )
        else:
            proba = model.predict_proba(X[part])
            metrics[part] = evaluate(
                problem_type, y[part], y_pred=proba.argmax(axis=1), proba=proba
            )
    for part in ("validation", "test"):
        if part in metrics:
            shown = {k: v for k, v in metrics[part].items() if not isinstance(v, list)}
            log(f"{part} metrics: " + ", ".join(f"{k}={v}" for k, v in shown.items()))

    version = workspace.models.register(
        model,
        group=spec["group"],
        algorithm=algorithm.name,
        target=target,
        hyperparameters=hyperparameters,
        metrics=metrics,
        dataset_version_id=dataset.id,
        job_id=context.job_id,
    )
    log(f"Registered model {version.ref} ({version.approval_status}).")
    return {
        "model": version.ref,
        "model_version_id": version.id,
        "problem_type": problem_type,
        "metrics": metrics,
        "splits": {part: v.ref for part, v in splits.items()},
        "fit_seconds": round(fit_seconds, 3),
        "total_seconds": round(time.perf_counter() - started, 3),
    }
