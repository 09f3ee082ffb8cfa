"""The training job: split, preprocess, fit, validate, evaluate, register — in its own process."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from kiln.algorithms import (
    BINARY,
    REGRESSION,
    UNSUPERVISED_PROBLEM_TYPES,
    Algorithm,
    best_iteration,
    get_algorithm,
)
from kiln.compute import JobContext
from kiln.context import Context
from kiln.errors import ConfigError, DataError
from kiln.evaluation import evaluate
from kiln.problems import encode_target, infer_problem_type, metric_names, order_classes
from kiln.recipe import (
    ModelPipeline,
    categorical_code_columns,
    native_categorical_options,
    recipe_reads,
)
from kiln.registry import TrainedModel, set_estimator_threads
from kiln.training._criteria import check_metric_names, parse_criterion
from kiln.training._live import LiveLoss, attach, fit_until, grows_in_steps, stop_at, unhook
from kiln.training._options import TrainingSpec
from kiln.training._register import held_out_frame, register_and_finish
from kiln.training._signature import build_signature
from kiln.training._unsupervised import build_features, run_unsupervised
from kiln.training._validation import Validation, fold_indices, parse_validation


@dataclass
class Problem:
    """Everything the fits share: data, labels, features and the algorithm."""

    problem_type: str
    algorithm: Algorithm
    hyperparameters: dict
    column_types: dict[str, str]
    features: list[str]
    classes: list | None
    seed: int
    recipe: list[dict] | None = None
    # A tuning trial's fit writes its validation loss as it goes (see _live).
    live: object | None = None
    # Threads per estimator (None: the machine's cores); AutoML fits one model per core.
    threads: int | None = None
    # Boosted fits stop growing trees at this time.time() (AutoML's time limit).
    deadline: float | None = None
    X: dict[str, pd.DataFrame] = field(default_factory=dict)
    y: dict[str, np.ndarray] = field(default_factory=dict)
    groups: dict[str, np.ndarray] = field(default_factory=dict)

    def fit(self, X_train, y_train, X_eval=None, y_eval=None, *, hyperparameters=None):
        """Fit a fresh recipe and estimator on these rows only; returns (pipeline, curves)."""
        hp = dict(hyperparameters or self.hyperparameters)
        has_eval = X_eval is not None and len(X_eval) > 0
        if not has_eval and "early_stopping_rounds" in hp:
            hp["early_stopping_rounds"] = 0
        preprocessor = build_features(
            self.algorithm,
            self.problem_type,
            self.features,
            self.column_types,
            hp,
            self.recipe,
            self.seed,
        )
        if self.recipe:
            # The recipe may drop or synthesise training rows; the estimator fits on those.
            Xt, y_train = preprocessor.fit_resample(X_train, y_train)
        else:
            Xt = preprocessor.fit_transform(X_train, y_train)
        estimator = self.algorithm.build_estimator(self.problem_type, hp, self.seed)
        if self.threads is not None:
            set_estimator_threads(estimator, self.threads)
        codes = categorical_code_columns(preprocessor)
        categorical = native_categorical_options(estimator, codes, Xt.shape[1])
        options = {}
        if self.algorithm.fit_options is not None and has_eval:
            options = self.algorithm.fit_options(
                hp, (Xt, y_train), (preprocessor.transform(X_eval), y_eval)
            )
        if self.live is not None and options:
            attach(self.algorithm.name, estimator, options, self.live)
        if self.deadline is not None and options:
            stop_at(self.algorithm.name, estimator, options, self.deadline)
        if self.deadline is not None and not options and grows_in_steps(estimator):
            fit_until(estimator, Xt, y_train, self.deadline)
        else:
            estimator.fit(Xt, y_train, **options, **categorical)
        if self.live is not None:
            self.live.flush()
        if self.deadline is not None or self.live is not None:
            unhook(self.algorithm.name, estimator)
        curves = {}
        if self.algorithm.iteration_metrics is not None and options:
            curves = self.algorithm.iteration_metrics(estimator)
        # A ModelPipeline refits (learning curves) with the codes made known again.
        kind = ModelPipeline if self.recipe or codes else Pipeline
        return kind([("preprocess", preprocessor), ("model", estimator)]), curves

    def model(self, pipeline, signature=None, threshold=None) -> TrainedModel:
        """The TrainedModel for ``pipeline``; without a signature, one for scoring only."""
        if signature is None:
            signature = {"inputs": [{"name": c} for c in self.features], "outputs": {}}
        model = TrainedModel(
            pipeline, problem_type=self.problem_type, classes=self.classes, signature=signature
        )
        if threshold is not None:
            model.threshold = threshold
        return model

    def scores(self, model: TrainedModel, X, y) -> dict:
        if len(X) == 0:
            return {}
        if self.problem_type == REGRESSION:
            return evaluate(
                REGRESSION, y, y_pred=model.predict_values(X), n_features=len(self.features)
            )
        proba = model.predict_proba(X)
        return evaluate(self.problem_type, y, y_pred=model.encoded_labels(proba), proba=proba)


def run_training_job(workspace: Context, context: JobContext, stored: dict) -> dict:
    """The training job's own process: split, fit, evaluate and register (see TrainingSpec)."""
    spec = TrainingSpec.from_dict(stored)
    started = time.perf_counter()
    log = context.log
    data = workspace.data
    dataset = data.get_by_id(spec.dataset_version_id)
    target = spec.target
    validation = parse_validation(spec.validation)
    log(f"Data set {dataset.ref}: {dataset.row_count} rows, {dataset.column_count} columns.")
    column_types = dataset.column_types()
    algorithm = get_algorithm(spec.algorithm)
    unsupervised = [t for t in algorithm.problem_types if t in UNSUPERVISED_PROBLEM_TYPES]
    if unsupervised:
        criteria = [parse_criterion(c) for c in spec.require or []]
        check_metric_names(criteria, metric_names(unsupervised[0]))
        log(
            f"Problem type: {unsupervised[0]}"
            + (f" (labels {target!r} for evaluation only)." if target else ".")
        )
        return run_unsupervised(workspace, context, spec, dataset, algorithm, unsupervised[0])
    target_values = data.load(dataset, columns=[target])[target]
    problem_type = spec.problem_type or infer_problem_type(target_values)
    if problem_type not in algorithm.problem_types:
        raise ConfigError(
            f"{algorithm.name} does not support {problem_type} problems; it supports "
            f"{', '.join(algorithm.problem_types)}.",
            code="algorithm.problem-type",
        )
    criteria = [parse_criterion(c) for c in spec.require or []]
    check_metric_names(criteria, metric_names(problem_type))
    log(f"Problem type: {problem_type} (target {target!r}); validation: {validation}.")

    splits = data.split(
        dataset,
        target=target,
        ratios=tuple(spec.ratios),
        time_column=spec.time_column,
        stratify=problem_type != REGRESSION,
        seed=spec.seed,
    )
    frames = {part: data.load(version) for part, version in splits.items()}
    log("Split " + ", ".join(f"{p} {splits[p].ref} ({len(f)} rows)" for p, f in frames.items()))
    for version in splits.values():
        workspace.jobs.add_lineage(context.job_id, ("dataset_version", version.id), "input")

    classes = None
    if problem_type != REGRESSION:
        classes = order_classes(target_values.dropna().unique().tolist())
        if problem_type == BINARY and len(classes) != 2:
            raise DataError(
                f"A binary problem needs exactly 2 target values; {target!r} has {len(classes)}.",
                code="training.bad-target",
                field=target,
            )
        log(f"Classes: {classes}.")
    group_column = spec.group_column
    signature = build_signature(
        frames["train"],
        column_types={c: t for c, t in column_types.items() if c != group_column},
        target=target,
        problem_type=problem_type,
        classes=classes,
        positive_label=classes[1] if problem_type == BINARY else None,
        text_inputs=algorithm.text_input,
        also=recipe_reads(
            spec.recipe,
            {c: t for c, t in column_types.items() if c not in (target, group_column)},
            problem_type,
        ),
    )
    features = [c["name"] for c in signature["inputs"]]
    if not features:
        what = (
            "text columns"
            if algorithm.text_input
            else (
                "feature columns (text and identifier columns are not used by the default recipe)"
            )
        )
        raise DataError(
            f"No usable {what} besides the target {target!r} in {dataset.ref}.",
            code="training.no-features",
        )
    if signature["ignored"]:
        ignored = ", ".join(f"{c['name']} ({c['type']})" for c in signature["ignored"])
        log(f"Not used as features: {ignored}.")
    problem = Problem(
        problem_type=problem_type,
        algorithm=algorithm,
        hyperparameters=dict(spec.hyperparameters),
        column_types=column_types,
        features=features,
        classes=classes,
        seed=spec.seed,
        recipe=spec.recipe,
    )
    if spec.tuning.get("live") and not validation.is_cross_validation:
        problem.live = LiveLoss(context)
    if problem.recipe:
        log(f"Recipe: {' → '.join(step['step'] for step in problem.recipe)}.")
    for part, frame in frames.items():
        problem.X[part] = frame[features]
        problem.y[part] = encode_target(frame[target], problem_type, classes, target)
        if group_column:
            problem.groups[part] = frame[group_column].to_numpy()
    if classes is not None:
        missing = sorted(set(range(len(classes))) - set(np.unique(problem.y["train"])))
        if missing:
            raise DataError(
                f"The training split has no rows of class(es) {[classes[i] for i in missing]}. "
                "Use more data or a stratified (not time-ordered) split.",
                code="training.missing-class",
            )

    if validation.is_cross_validation:
        result = _cross_validate(problem, validation, context)
    else:
        result = _holdout(problem, context)
    pipeline, metrics = result["pipeline"], result["metrics"]

    threshold = None
    if problem_type == BINARY and (spec.cost_fp is not None or spec.cost_fn is not None):
        y_scores, p_scores = result["threshold_data"]
        threshold, table = choose_threshold(
            y_scores,
            p_scores,
            cost_fp=spec.cost_fp or 0.0,
            cost_fn=spec.cost_fn or 0.0,
        )
        log(
            f"Decision threshold {threshold:.3f} minimises the expected cost "
            f"(false positive {spec.cost_fp or 0}, "
            f"false negative {spec.cost_fn or 0}) "
            f"on {result['threshold_source']} predictions."
        )
        signature["outputs"]["threshold"] = threshold
        metrics["threshold_analysis"] = table
    model = problem.model(pipeline, signature, threshold)
    if threshold is not None:
        # Recompute label metrics at the chosen threshold.
        rows = {
            "train": result["train_rows"],
            "validation": (problem.X["validation"], problem.y["validation"]),
            "test": (problem.X["test"], problem.y["test"]),
        }
        for part, (X_part, y_part) in rows.items():
            if part in metrics and len(X_part):
                metrics[part] = problem.scores(model, X_part, y_part)
    for part in ("cv_mean", "validation", "test"):
        if metrics.get(part):
            shown = {k: v for k, v in metrics[part].items() if not isinstance(v, list)}
            log(f"{part} metrics: " + ", ".join(f"{k}={v}" for k, v in shown.items()))

    return register_and_finish(
        workspace,
        context,
        spec,
        rows=held_out_frame(frames),
        model=model,
        metrics=metrics,
        dataset=dataset,
        algorithm=algorithm,
        hyperparameters=result["hyperparameters"],
        splits=splits,
        extra={
            "problem_type": problem_type,
            "validation": str(validation),
            "threshold": threshold,
            "threshold_source": result.get("threshold_source") if threshold is not None else None,
            "folds": result.get("folds", []),
            "early_stopping": result.get("early_stopping"),
            "fit_seconds": round(result["fit_seconds"], 3),
            "total_seconds": round(time.perf_counter() - started, 3),
        },
    )


def _log_curves(context: JobContext, curves: dict, prefix: str = "") -> None:
    for name, values in curves.items():
        context.log_metric_series(f"{prefix}{name}", values)


def _holdout(problem: Problem, context: JobContext) -> dict:
    X, y = problem.X, problem.y
    fit_started = time.perf_counter()
    context.log(f"Fitting {problem.algorithm.name} with {problem.hyperparameters}.")
    pipeline, curves = problem.fit(X["train"], y["train"], X["validation"], y["validation"])
    fit_seconds = time.perf_counter() - fit_started
    _log_curves(context, curves)
    stopped = None
    if curves:
        best = best_iteration(problem.algorithm, pipeline[-1])
        context.log(
            f"Logged per-iteration {', '.join(curves)}"
            + (f"; best iteration {best}." if best else ".")
        )
        stopped = early_stopping_record(problem, [best] if best else [], best)
    model = problem.model(pipeline)
    metrics = {
        part: problem.scores(model, X[part], y[part])
        for part in ("train", "validation", "test")
        if len(X[part])
    }
    out = {
        "pipeline": pipeline,
        "metrics": metrics,
        "fit_seconds": fit_seconds,
        "hyperparameters": problem.hyperparameters,
        "train_rows": (X["train"], y["train"]),
        "early_stopping": stopped,
    }
    if problem.problem_type == BINARY and len(X["validation"]):
        out["threshold_data"] = (y["validation"], model.predict_proba(X["validation"])[:, 1])
        out["threshold_source"] = "validation"
    return out


def _cross_validate(problem: Problem, validation: Validation, context: JobContext) -> dict:
    """Fit one fresh recipe + model per fold on the development rows (train + validation split),
    report each metric's mean and spread, then refit on all development rows."""
    X = pd.concat([problem.X["train"], problem.X["validation"]])
    y = np.concatenate([problem.y["train"], problem.y["validation"]])
    groups = None
    if validation.kind == "group_kfold":
        if not problem.groups:
            raise ConfigError(
                "group_kfold needs --group-column.",
                code="training.bad-validation",
                field="group_column",
            )
        groups = np.concatenate([problem.groups["train"], problem.groups["validation"]])
    folds = fold_indices(
        validation,
        n_rows=len(X),
        y=y if problem.problem_type != REGRESSION else None,
        groups=groups,
        seed=problem.seed,
    )
    context.log(f"Cross-validation {validation}: {len(folds)} fits on {len(X)} development rows.")
    fit_started = time.perf_counter()
    per_fold, best_iterations = [], []
    oof_index, oof_scores, oof_y = [], [], []
    pooled = validation.kind == "loocv"
    for number, (train_idx, held_idx) in enumerate(folds, start=1):
        X_train, X_held = X.iloc[train_idx], X.iloc[held_idx]
        pipeline, curves = problem.fit(X_train, y[train_idx], X_held, y[held_idx])
        if number <= 10:  # enough curves to see the spread; LOOCV would log thousands
            _log_curves(context, curves, prefix=f"fold{number}/")
        best = best_iteration(problem.algorithm, pipeline[-1])
        if best:
            best_iterations.append(best)
        model = problem.model(pipeline)
        if problem.problem_type == REGRESSION:
            oof_scores.append(model.predict_values(X_held))
        else:
            oof_scores.append(model.predict_proba(X_held))
        oof_index.append(held_idx)
        oof_y.append(y[held_idx])
        if not pooled:
            scores = problem.scores(model, X_held, y[held_idx])
            per_fold.append({k: v for k, v in scores.items() if not isinstance(v, list)})
        if number % max(1, len(folds) // 10) == 0 or number == len(folds):
            context.log(f"Fold {number}/{len(folds)} done.")
    metrics: dict = {}
    y_oof = np.concatenate(oof_y)
    scores_oof = np.concatenate(oof_scores)
    if pooled:
        if problem.problem_type == REGRESSION:
            metrics["cv_mean"] = evaluate(
                REGRESSION, y_oof, y_pred=scores_oof, n_features=len(problem.features)
            )
        else:
            metrics["cv_mean"] = evaluate(
                problem.problem_type, y_oof, y_pred=scores_oof.argmax(axis=1), proba=scores_oof
            )
        metrics["cv_std"] = {}
    else:
        names = [n for n in per_fold[0] if all(f.get(n) is not None for f in per_fold)]
        metrics["cv_mean"] = {n: round(float(np.mean([f[n] for f in per_fold])), 6) for n in names}
        metrics["cv_std"] = {
            n: round(float(np.std([f[n] for f in per_fold], ddof=1)), 6)
            if len(per_fold) > 1
            else 0.0
            for n in names
        }

    hyperparameters = dict(problem.hyperparameters)
    param = problem.algorithm.iterations_param
    stopped = None
    if best_iterations and param in hyperparameters:
        rounds = int(round(np.mean(best_iterations)))
        context.log(
            f"Early stopping chose {rounds} {param} on average across folds; the final "
            "model is refit with that many."
        )
        hyperparameters[param] = max(rounds, 1)
        stopped = early_stopping_record(problem, best_iterations, hyperparameters[param])
    pipeline, _ = problem.fit(X, y, hyperparameters=hyperparameters)
    fit_seconds = time.perf_counter() - fit_started
    model = problem.model(pipeline)
    metrics["train"] = problem.scores(model, X, y)
    if len(problem.X["test"]):
        metrics["test"] = problem.scores(model, problem.X["test"], problem.y["test"])
    out = {
        "pipeline": pipeline,
        "metrics": metrics,
        "fit_seconds": fit_seconds,
        "hyperparameters": hyperparameters,
        "folds": per_fold,
        "train_rows": (X, y),
        "early_stopping": stopped,
    }
    if problem.problem_type == BINARY:
        out["threshold_data"] = (y_oof, scores_oof[:, 1])
        out["threshold_source"] = "out-of-fold"
    return out


def early_stopping_record(problem: Problem, best: list[int], chosen: int | None) -> dict | None:
    """What early stopping chose, beside what was configured: ``{"param": "n_estimators",
    "configured": 300, "chosen": 98, "per_fold": [...]}`` (None when it did not stop a fit)."""
    param = problem.algorithm.iterations_param
    configured = problem.hyperparameters.get(param)
    if not chosen or configured is None:
        return None
    record = {"param": param, "configured": configured, "chosen": int(chosen)}
    if len(best) > 1:
        record["per_fold"] = [int(b) for b in best]
    return record


def choose_threshold(y: np.ndarray, scores: np.ndarray, *, cost_fp: float, cost_fn: float):
    """The threshold on the positive-class probability with the lowest expected cost per row,
    and the analysis table (precision, recall, F1, cost by threshold)."""
    thresholds = np.round(np.linspace(0.01, 0.99, 99), 2)
    positives = y == 1
    table = []
    for t in thresholds:
        predicted = scores >= t
        tp = int(np.sum(predicted & positives))
        fp = int(np.sum(predicted & ~positives))
        fn = int(np.sum(~predicted & positives))
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        cost = (cost_fp * fp + cost_fn * fn) / max(len(y), 1)
        table.append(
            {
                "threshold": float(t),
                "precision": round(precision, 6),
                "recall": round(recall, 6),
                "f1": round(f1, 6),
                "cost": round(cost, 6),
            }
        )
    best = min(table, key=lambda row: (row["cost"], abs(row["threshold"] - 0.5)))
    return best["threshold"], table
