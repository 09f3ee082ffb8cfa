"""The learning curve (refits on growing shares of the training rows) and the loss by
iteration of boosted and epoch-trained models."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from kiln.algorithms import REGRESSION, best_iteration
from kiln.evaluation._diagnosis import LOSS_METRIC, METRIC_LABELS, SKILL_METRIC
from kiln.evaluation._metrics import evaluate
from kiln.evaluation._run import (
    _COLOURS,
    _PALETTE,
    CURVE_POINTS,
    LEARNING_CURVE_FRACTIONS,
    _f32,
    _Run,
    _table,
    _thin,
)
from kiln.reports import (
    Section,
    figure,
    grid,
    note,
)

if TYPE_CHECKING:
    pass


# -- learning curve and loss by iteration ---------------------------------------------------------
def _learning_curve_section(run: _Run) -> tuple[list[dict], Section]:
    """Refit clones of the pipeline (recipe included) on growing, stratified shares of the
    training split and score them on those rows and on the validation split."""
    import plotly.graph_objects as go
    from sklearn.base import clone

    title = "Learning curve"
    if not len(run.y.get("train", ())):
        return [], Section(title, note("The job recorded no training split."))
    eval_split = next((s for s in ("validation", "test") if len(run.y.get(s, ()))), None)
    if eval_split is None:
        return [], Section(title, note("No held-out split to score the refits on."))
    X, y = run.frames["train"], run.y["train"]
    order = _stratified_order(y, run.seed, classification=run.problem_type != REGRESSION)
    n_classes = len(run.model.classes or [])
    base = _refit_template(run)
    metric = SKILL_METRIC[run.problem_type]
    sizes = sorted(
        {max(int(round(f * len(y))), 2 * n_classes, 10) for f in LEARNING_CURVE_FRACTIONS}
    )
    sizes = [s for s in sizes if s <= len(y)] or [len(y)]
    points, skipped = [], []
    for size in sizes:
        rows = order[:size]
        y_part = y[rows]
        if n_classes and len(np.unique(y_part)) < n_classes:
            skipped.append(f"{size} rows (not every class present)")
            continue
        X_part = X.iloc[rows]
        tick = time.perf_counter()
        try:
            pipeline = clone(base).fit(X_part, y_part)
        except Exception as exc:  # a fit on few rows may fail where the full one did not
            skipped.append(f"{size} rows ({type(exc).__name__}: {exc})")
            continue
        seconds = time.perf_counter() - tick
        train_scores = _scores(run, pipeline, X_part, y_part)
        eval_scores = _scores(run, pipeline, run.frames[eval_split], run.y[eval_split])
        points.append(
            {
                "rows": int(size),
                "fraction": round(size / len(y), 4),
                "train": train_scores.get(metric),
                "validation": eval_scores.get(metric),
                "train_loss": train_scores.get(LOSS_METRIC[run.problem_type]),
                "validation_loss": eval_scores.get(LOSS_METRIC[run.problem_type]),
                "fit_seconds": round(seconds, 3),
            }
        )
    if not points:
        return [], Section(title, note("No refit succeeded: " + "; ".join(skipped)))
    label = METRIC_LABELS[metric]
    fig = go.Figure()
    rows = [p["rows"] for p in points]
    fig.add_scatter(
        x=rows,
        y=_f32([p["train"] for p in points]),
        name="training rows",
        mode="lines+markers",
        line={"color": _COLOURS["train"]},
    )
    fig.add_scatter(
        x=rows,
        y=_f32([p["validation"] for p in points]),
        name=f"{eval_split} split",
        mode="lines+markers",
        line={"color": _COLOURS["validation"]},
    )
    fig.update_layout(
        title=f"{label} by training-set size",
        xaxis_title="training rows",
        yaxis_title=label,
    )
    body = figure(fig, height=380, compact=True)
    body += _table(
        ["training rows", "share", f"train {label}", f"{eval_split} {label}", "fit seconds"],
        [[p["rows"], p["fraction"], p["train"], p["validation"], p["fit_seconds"]] for p in points],
    )
    text = (
        "Each point refits a fresh copy of the model's pipeline (recipe and estimator, same "
        "hyperparameters) on a seeded share of the training split"
        + (", stratified by class," if run.problem_type != REGRESSION else "")
        + f" and scores it on those rows and on the {eval_split} split. A gap that narrows as "
        "rows grow means more "
        "data helps; two curves that meet low mean the model is too simple."
    )
    if best_iteration(run.algorithm, run.model.pipeline[-1]):
        text += (
            " Models that stopped early are refit with the rounds (or epochs) early stopping chose."
        )
    body += note(text)
    if skipped:
        body += note("Skipped: " + "; ".join(skipped) + ".")
    return points, Section(title, body)


def _refit_template(run: _Run):
    """An unfitted copy of the model's pipeline for the learning curve's refits: the recipe, and
    the estimator built as training builds it, with the rounds early stopping chose and no early
    stopping (the refits have no evaluation set)."""
    from sklearn.base import clone

    pipeline = run.model.pipeline
    template = clone(pipeline)
    algorithm = run.algorithm
    best = best_iteration(algorithm, pipeline[-1])
    if algorithm is None:  # a model built outside the catalog: adjust its own parameters
        estimator = template.steps[-1][1]
        params = estimator.get_params(deep=False)
        updates: dict[str, Any] = {}
        if best and "n_estimators" in params:
            updates["n_estimators"] = best
        if params.get("early_stopping_rounds") is not None:
            updates["early_stopping_rounds"] = None
        estimator.set_params(**updates)
        return template
    hp = dict(run.version.hyperparameters)
    if best and algorithm.iterations_param in hp:
        hp[algorithm.iterations_param] = best
    if "early_stopping_rounds" in hp:
        hp["early_stopping_rounds"] = 0
    name = template.steps[-1][0]
    template.steps[-1] = (name, algorithm.build_estimator(run.problem_type, hp, run.seed))
    return template


def _stratified_order(y: np.ndarray, seed: int, *, classification: bool) -> np.ndarray:
    """A seeded row order whose every prefix keeps the class shares (nested subsets)."""
    rng = np.random.default_rng(seed)
    if not classification:
        return rng.permutation(len(y))
    rank = np.empty(len(y))
    for value in np.unique(y):
        rows = np.flatnonzero(y == value)
        rank[rng.permutation(rows)] = (np.arange(len(rows)) + rng.random(len(rows))) / len(rows)
    return np.argsort(rank, kind="stable")


def _scores(run: _Run, pipeline, X: pd.DataFrame, y: np.ndarray) -> dict:
    X = X[run.model.input_columns]
    if run.problem_type == REGRESSION:
        return evaluate(REGRESSION, y, y_pred=np.asarray(pipeline.predict(X), dtype=float))
    proba = pipeline.predict_proba(X)
    return evaluate(run.problem_type, y, y_pred=run.model.encoded_labels(proba), proba=proba)


def _iteration_section(run: _Run) -> Section:
    import plotly.graph_objects as go

    title = "Loss by iteration"
    series = run.ws.jobs.metrics(run.job.id)
    if not series:
        return Section(
            title,
            note(
                f"The {run.version.algorithm} algorithm fits in one go, so the job logged no "
                "per-iteration losses (boosted models log training and validation loss per "
                "round)."
            ),
        )
    by_metric: dict[str, list[tuple[str, str, list]]] = {}
    for name, points in series.items():
        fold, _, rest = name.rpartition("/")
        split, metric = "", rest
        for candidate in ("train", "validation"):
            if rest.startswith(candidate + "_"):
                split, metric = candidate, rest[len(candidate) + 1 :]
        by_metric.setdefault(metric, []).append((fold, split, points))
    figures = []
    best = best_iteration(run.algorithm, run.model.pipeline[-1])
    for metric, traces in by_metric.items():
        fig = go.Figure()
        folds = sorted({fold for fold, _, _ in traces}, key=_fold_number)
        for fold, split, points in sorted(traces, key=lambda t: (_fold_number(t[0]), t[1])):
            steps, values = zip(*points, strict=True)
            steps, values = _thin(np.asarray(steps), np.asarray(values), CURVE_POINTS)
            if len(folds) == 1:
                colour = _COLOURS.get(split or "validation")
            else:
                colour = _PALETTE[folds.index(fold) % len(_PALETTE)]
            fig.add_scatter(
                x=steps.astype(np.int32),
                y=_f32(values),
                mode="lines",
                name=" ".join(p for p in (fold, split) if p) or metric,
                legendgroup=fold or split,
                line={
                    "color": colour,
                    "dash": "dot" if split == "train" else "solid",
                    "width": 1.5,
                },
            )
        if best and len(folds) == 1:
            fig.add_vline(
                x=best,
                line_dash="dash",
                line_color="#52606d",
                annotation_text=f"best iteration {best}",
            )
        fig.update_layout(title=metric, xaxis_title="iteration", yaxis_title=metric)
        figures.append(figure(fig, height=380, compact=True))
    text = "Training (dotted) and validation (solid) loss after each boosting round"
    if any(fold for traces in by_metric.values() for fold, _, _ in traces):
        text += ", per cross-validation fold (the first ten are logged)"
    text += (
        ". A validation loss that turns upward while the training loss keeps falling is "
        "overfitting; early stopping keeps the model at the best round."
    )
    body = grid(*figures) if len(figures) > 1 else figures[0]
    return Section(title, body + note(text))


def _fold_number(fold: str) -> int:
    digits = "".join(ch for ch in fold if ch.isdigit())
    return int(digits) if digits else 0
