"""Training for unsupervised algorithms: no target to fit, optional labels to evaluate against."""

from __future__ import annotations

import time

import numpy as np
from sklearn.pipeline import Pipeline

from kiln.algorithms import (
    ANOMALY_DETECTION,
    CLUSTERING,
    DIMENSIONALITY_REDUCTION,
    TOPIC_MODELING,
    Algorithm,
)
from kiln.compute import JobContext
from kiln.context import Context
from kiln.errors import DataError
from kiln.evaluation import (
    anomaly_metrics,
    clustering_metrics,
    reduction_metrics,
    topic_metrics,
)
from kiln.problems import order_classes
from kiln.recipe import (
    MAX_CODES,
    STEPS,
    build_preprocessor,
    build_text_preprocessor,
    compile_recipe,
    recipe_reads,
)
from kiln.registry import TrainedModel
from kiln.training._options import TrainingSpec
from kiln.training._register import held_out_frame, register_and_finish
from kiln.training._signature import build_signature


def build_features(
    algorithm: Algorithm, problem_type: str, features, column_types, hp, recipe=None, seed=42
):
    """The recipe part of the pipeline: the user's recipe, else the text vectoriser or the
    default tabular recipe. An algorithm whose ``categorical_encoding`` is ``native`` gets its
    categorical columns as codes (the estimator is told which: ``ModelPipeline``)."""
    codes = _categorical_codes(hp, recipe)
    if recipe:
        return compile_recipe(
            recipe,
            {c: column_types[c] for c in features},
            problem_type=problem_type,
            scale_numeric=algorithm.scale_numeric,
            seed=seed,
            categorical_codes=codes,
        )
    if algorithm.text_input:
        return build_text_preprocessor(
            features,
            ngram_max=hp["ngram_max"],
            min_df=hp["min_document_frequency"],
            max_features=hp["vocabulary_size"],
            counts=problem_type == TOPIC_MODELING,
        )
    return build_preprocessor(
        {c: column_types[c] for c in features},
        scale_numeric=algorithm.scale_numeric,
        sparse=algorithm.sparse_input,
        categorical_codes=codes,
    )


def _categorical_codes(hp: dict, recipe) -> int | None:
    """At most how many codes per categorical column, or None for one-hot columns."""
    if hp.get("categorical_encoding") != "native":
        return None
    steps = recipe if isinstance(recipe, list) else []
    if any(
        isinstance(step, dict)
        and isinstance(step.get("step"), str)
        and getattr(STEPS.get(step["step"]), "synthesises_rows", False)
        for step in steps
    ):
        return None  # see Step.synthesises_rows
    return min(MAX_CODES, int(hp.get("max_bins", MAX_CODES)))


def run_unsupervised(
    workspace: Context,
    context: JobContext,
    spec: TrainingSpec,
    dataset,
    algorithm: Algorithm,
    problem_type: str,
) -> dict:
    started = time.perf_counter()
    data, log = workspace.data, context.log
    labels_column = spec.target
    splits = data.split(
        dataset,
        target=None,
        ratios=tuple(spec.ratios),
        time_column=spec.time_column,
        stratify=False,
        seed=spec.seed,
    )
    frames = {part: data.load(version) for part, version in splits.items()}
    log("Split " + ", ".join(f"{p} {splits[p].ref} ({len(f)} rows)" for p, f in frames.items()))
    for version in splits.values():
        workspace.jobs.add_lineage(context.job_id, ("dataset_version", version.id), "input")
    column_types = dataset.column_types()
    signature = build_signature(
        frames["train"],
        column_types=column_types,
        target=labels_column,
        problem_type=problem_type,
        classes=None,
        text_inputs=algorithm.text_input,
        also=recipe_reads(spec.recipe, column_types, None),
    )
    features = [c["name"] for c in signature["inputs"]]
    if not features:
        kind = "text" if algorithm.text_input else "numeric, categorical or datetime"
        raise DataError(
            f"{algorithm.name} needs at least one {kind} column; {dataset.ref} has "
            "none besides the ones it cannot use.",
            code="training.no-features",
        )
    hp = dict(spec.hyperparameters)
    preprocessor = build_features(
        algorithm, problem_type, features, column_types, hp, spec.recipe, spec.seed
    )
    fit_started = time.perf_counter()
    Xt = preprocessor.fit_transform(frames["train"][features])
    log(f"Preprocessing fit on the training split: {Xt.shape[1]} model inputs.")
    estimator = algorithm.build_estimator(problem_type, hp, spec.seed)
    log(f"Fitting {algorithm.name} with {hp}.")
    estimator.fit(Xt)
    fit_seconds = time.perf_counter() - fit_started
    model = TrainedModel(
        Pipeline([("preprocess", preprocessor), ("model", estimator)]),
        problem_type=problem_type,
        classes=None,
        signature=signature,
    )

    positive = None
    if labels_column and problem_type == ANOMALY_DETECTION:
        positive = order_classes(frames["train"][labels_column].dropna().unique().tolist())[-1]
        log(f"Evaluating anomaly scores against {labels_column!r} = {positive!r}.")
    metrics = {}
    for part, frame in frames.items():
        if len(frame) == 0:
            continue
        X = frame[features]
        truth = frame[labels_column].to_numpy() if labels_column else None
        features_part = model.pipeline[:-1].transform(X)
        if problem_type == CLUSTERING:
            metrics[part] = clustering_metrics(
                features_part, model.clusters(X), truth, seed=spec.seed
            )
        elif problem_type == ANOMALY_DETECTION:
            scores, flags = model.anomaly_scores(X)
            metrics[part] = anomaly_metrics(
                scores, flags, None if truth is None else truth == positive
            )
        elif problem_type == DIMENSIONALITY_REDUCTION:
            metrics[part] = reduction_metrics(estimator, features_part)
        else:
            metrics[part] = topic_metrics(estimator, features_part)
        log(f"{part} metrics: " + ", ".join(f"{k}={v}" for k, v in metrics[part].items()))
    if problem_type == TOPIC_MODELING:
        if hasattr(preprocessor, "fit_resample"):  # a recipe: "COLUMN_bag_of_words=word"
            vocabulary = [n.split("=", 1)[-1] for n in preprocessor.get_feature_names_out()]
        else:
            vocabulary = preprocessor[-1].get_feature_names_out()
        top = np.argsort(-estimator.components_, axis=1)[:, :8]
        signature["outputs"]["topic_words"] = [[str(vocabulary[i]) for i in row] for row in top]
        for number, words in enumerate(signature["outputs"]["topic_words"]):
            log(f"Topic {number}: {', '.join(words)}")
    return register_and_finish(
        workspace,
        context,
        spec,
        rows=held_out_frame(frames),
        model=model,
        metrics=metrics,
        dataset=dataset,
        algorithm=algorithm,
        hyperparameters=hp,
        splits=splits,
        extra={
            "problem_type": problem_type,
            "validation": "holdout",
            "threshold": None,
            "folds": [],
            "fit_seconds": round(fit_seconds, 3),
            "total_seconds": round(time.perf_counter() - started, 3),
        },
    )
