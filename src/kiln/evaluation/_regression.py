"""Report sections of regression models: predicted against actual, residuals."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from kiln.algorithms import REGRESSION
from kiln.evaluation._metrics import evaluate
from kiln.evaluation._run import _COLOURS, SCATTER_POINTS, _f32, _Run, _table
from kiln.reports import (
    Section,
    figure,
    grid,
    note,
)

if TYPE_CHECKING:
    pass


# -- regression -----------------------------------------------------------------------------------
def _regression_sections(run: _Run) -> list[Section]:
    import plotly.graph_objects as go

    if not run.held_out:
        return [Section("Predictions", note("The job has no held-out rows to plot."))]
    rng = np.random.default_rng(run.seed)
    scatter, residuals, histogram = go.Figure(), go.Figure(), go.Figure()
    low, high, stats = np.inf, -np.inf, []
    residual_all = np.concatenate([run.y[s] - run.values[s] for s in run.held_out])
    edges = np.histogram_bin_edges(residual_all, bins=40)
    for split in run.held_out:
        actual, predicted = run.y[split], run.values[split]
        error = actual - predicted
        low = min(low, actual.min(), predicted.min())
        high = max(high, actual.max(), predicted.max())
        rows = np.arange(len(actual))
        if len(rows) > SCATTER_POINTS:
            rows = np.sort(rng.choice(rows, SCATTER_POINTS, replace=False))
        colour = {"color": _COLOURS[split], "size": 5, "opacity": 0.6}
        scatter.add_scattergl(
            x=_f32(actual[rows]), y=_f32(predicted[rows]), mode="markers", marker=colour, name=split
        )
        residuals.add_scattergl(
            x=_f32(predicted[rows]), y=_f32(error[rows]), mode="markers", marker=colour, name=split
        )
        counts, _ = np.histogram(error, bins=edges)
        histogram.add_bar(
            x=_f32((edges[:-1] + edges[1:]) / 2),
            y=counts.astype(np.int32),
            name=split,
            marker={"color": _COLOURS[split]},
            opacity=0.6,
        )
        scores = evaluate(REGRESSION, actual, y_pred=predicted)
        stats.append(
            [
                split,
                len(actual),
                float(error.mean()),
                float(np.median(np.abs(error))),
                scores.get("mae"),
                scores.get("rmse"),
                scores.get("r2"),
            ]
        )
    scatter.add_scatter(
        x=[low, high],
        y=[low, high],
        mode="lines",
        name="perfect",
        line={"dash": "dash", "color": "#9aa5b1"},
    )
    scatter.update_layout(
        title="Predicted against actual",
        xaxis_title=f"actual {run.target}",
        yaxis_title=f"predicted {run.target}",
    )
    residuals.add_hline(y=0, line_dash="dash", line_color="#9aa5b1")
    residuals.update_layout(
        title="Residuals against predictions",
        xaxis_title=f"predicted {run.target}",
        yaxis_title="residual (actual − predicted)",
    )
    histogram.update_layout(
        title="Distribution of residuals",
        barmode="overlay",
        bargap=0,
        xaxis_title="residual (actual − predicted)",
        yaxis_title="rows",
    )
    sampled = any(len(run.y[s]) > SCATTER_POINTS for s in run.held_out)
    first = grid(
        figure(scatter, height=440, compact=True), figure(residuals, height=440, compact=True)
    ) + note(
        "Points on the dashed diagonal are predicted exactly; a cloud that flattens towards the "
        "mean at the extremes is a model that shrinks large and small values. Residuals should "
        "scatter evenly around zero at every prediction level: a trend or a funnel shape means "
        "the model misses structure or the error grows with the value (consider a "
        "log-transformed target)."
        + (f" A sample of {SCATTER_POINTS} rows per split is drawn." if sampled else "")
    )
    stats_table = _table(
        ["split", "rows", "mean residual", "median |residual|", "MAE", "RMSE", "R²"], stats
    )
    second = grid(figure(histogram, height=400, compact=True), stats_table) + note(
        "The mean residual is the model's bias (positive: it predicts too low on average)."
    )
    return [Section("Predicted against actual", first), Section("Residuals", second)]
