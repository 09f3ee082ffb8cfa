"""Report sections on features: permutation importance (every model) and SHAP values (tree
models)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from kiln.algorithms import REGRESSION
from kiln.evaluation._diagnosis import METRIC_LABELS, SKILL_METRIC
from kiln.evaluation._explain import ShapUnavailable, shap_values, transformed_feature_names
from kiln.evaluation._run import (
    _SCORERS,
    IMPORTANCE_ROWS,
    PERMUTATION_MIN_ROWS,
    PERMUTATION_REPEATS,
    PERMUTATION_SECONDS,
    TOP_FEATURES,
    _f32,
    _Run,
)
from kiln.reports import (
    Section,
    figure,
    note,
)

if TYPE_CHECKING:
    pass


# -- feature importance ---------------------------------------------------------------------------
def _importance_rows(run: _Run) -> tuple[str, pd.DataFrame, np.ndarray] | None:
    split = next(iter(run.held_out), None)
    if split is None:
        return None
    frame, y = run.frames[split], run.y[split]
    if len(y) > IMPORTANCE_ROWS:
        rows = np.sort(
            np.random.default_rng(run.seed).choice(len(y), IMPORTANCE_ROWS, replace=False)
        )
        frame, y = frame.iloc[rows], y[rows]
    return split, frame[run.model.input_columns], y


def _permutation_section(run: _Run) -> Section:
    import plotly.graph_objects as go
    from sklearn.inspection import permutation_importance

    title = "Permutation importance"
    picked = _importance_rows(run)
    if picked is None:
        return Section(title, note("No held-out rows to measure importance on."))
    split, X, y = picked
    scoring = _SCORERS[run.problem_type]
    # Slow predictors (kernel SVMs, big forests) get fewer rows, to stay within the budget.
    tick = time.perf_counter()
    if run.problem_type == REGRESSION:
        run.model.pipeline.predict(X)
    else:
        run.model.pipeline.predict_proba(X)
    projected = (time.perf_counter() - tick) * X.shape[1] * PERMUTATION_REPEATS
    reduced = projected > PERMUTATION_SECONDS and len(y) > PERMUTATION_MIN_ROWS
    if reduced:
        keep = max(PERMUTATION_MIN_ROWS, int(len(y) * PERMUTATION_SECONDS / projected))
        rows = np.sort(np.random.default_rng(run.seed).permutation(len(y))[:keep])
        X, y = X.iloc[rows], y[rows]
    if run.problem_type != REGRESSION and len(np.unique(y)) < 2:
        return Section(title, note(f"The {split} split holds a single class."))
    result = permutation_importance(
        run.model.pipeline,
        X,
        y,
        scoring=scoring,
        n_repeats=PERMUTATION_REPEATS,
        random_state=run.seed,
        n_jobs=1,
    )
    order = np.argsort(-result.importances_mean, kind="stable")
    top = order[:TOP_FEATURES][::-1]
    label = METRIC_LABELS[SKILL_METRIC[run.problem_type]]
    fig = go.Figure(
        go.Bar(
            x=_f32(result.importances_mean[top]),
            y=[X.columns[i] for i in top],
            orientation="h",
            error_x={"type": "data", "array": _f32(result.importances_std[top])},
            marker={"color": "#636efa"},
        )
    )
    fig.update_layout(
        title=f"Drop in {label} when a column is shuffled ({split} split, {len(y)} rows)",
        xaxis_title=f"mean decrease in {label}",
    )
    useless = [X.columns[i] for i in order if result.importances_mean[i] <= 0]
    text = (
        f"Each input column is shuffled {PERMUTATION_REPEATS} times (seeded) and the model "
        f"re-scored; the bar is the mean drop in {label}, the whisker its standard deviation. "
        "Shuffling breaks the column's link to the target, so it works for every model, recipe "
        "included. Correlated columns share their importance."
    )
    if len(X.columns) > TOP_FEATURES:
        text += f" The top {TOP_FEATURES} of {len(X.columns)} columns are shown."
    if reduced:
        text += (
            f" The model predicts slowly, so {len(y)} rows are used to keep this to about "
            f"{PERMUTATION_SECONDS:.0f} s."
        )
    body = figure(fig, height=max(300, 24 * len(top) + 120), compact=True) + note(text)
    if useless:
        shown = ", ".join(useless[:15]) + (" …" if len(useless) > 15 else "")
        body += note(f"No measurable effect (candidates to drop): {shown}.")
    return Section(title, body)


def _shap_section(run: _Run) -> Section:
    import plotly.graph_objects as go

    title = "SHAP values"
    picked = _importance_rows(run)
    if picked is None:
        return Section(title, note("No held-out rows to explain."))
    split, X, _ = picked
    preprocessor, estimator = run.model.pipeline[:-1], run.model.pipeline[-1]
    try:
        Xt = preprocessor.transform(X)
        values, method, units = shap_values(estimator, Xt)
    except ShapUnavailable as exc:
        return Section(title, note(str(exc)))
    except Exception as exc:  # an optional section: say why, and keep the rest of the report
        return Section(
            title,
            note(
                f"SHAP values could not be computed for {type(estimator).__name__} "
                f"({type(exc).__name__}: {exc}). Permutation importance above covers every model."
            ),
        )
    names = transformed_feature_names(preprocessor, values.shape[-1])
    # values: (rows, outputs, features); mean |SHAP| per output and feature.
    strength = np.abs(values).mean(axis=0)
    total = strength.sum(axis=0)
    top = np.argsort(-total, kind="stable")[:TOP_FEATURES][::-1]
    fig = go.Figure()
    if strength.shape[0] == 1:
        fig.add_bar(
            x=_f32(strength[0, top]),
            y=[names[i] for i in top],
            orientation="h",
            marker={"color": "#00cc96"},
            name="mean |SHAP|",
        )
    else:
        for k in range(strength.shape[0]):
            fig.add_bar(
                x=_f32(strength[k, top]),
                y=[names[i] for i in top],
                orientation="h",
                name=run.labels[k] if k < len(run.labels) else f"output {k}",
            )
        fig.update_layout(barmode="stack")
    fig.update_layout(
        title=f"Mean |SHAP value| per model feature ({split} split, {values.shape[0]} rows)",
        xaxis_title=f"mean |SHAP value| ({units})",
    )
    text = (
        f"SHAP values from {method}, on the features the model sees (after the recipe: one-hot "
        "columns, missing-value indicators). Each is a feature's contribution to one prediction; "
        "the bar is its mean size over the rows"
        + (", stacked by class." if strength.shape[0] > 1 else ".")
    )
    if len(names) > TOP_FEATURES:
        text += f" The top {TOP_FEATURES} of {len(names)} features are shown."
    return Section(
        title, figure(fig, height=max(300, 24 * len(top) + 120), compact=True) + note(text)
    )
