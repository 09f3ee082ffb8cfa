"""Report sections of classifiers: ROC and precision-recall curves, confusion matrices,
calibration and the decision threshold."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from kiln.algorithms import BINARY
from kiln.evaluation._run import _COLOURS, CURVE_POINTS, MAX_CLASS_CURVES, _f32, _Run, _table, _thin
from kiln.reports import (
    Section,
    figure,
    grid,
    note,
)

if TYPE_CHECKING:
    pass

__all__ = ["threshold_table"]


# -- classification -------------------------------------------------------------------------------
def _classification_sections(run: _Run) -> list[Section]:
    if not run.held_out:
        return [Section("Curves", note("The job has no held-out rows to draw curves on."))]
    sections = [_roc_pr_section(run), _confusion_section(run), _calibration_section(run)]
    if run.problem_type == BINARY:
        sections.append(_threshold_section(run))
    return sections


def _roc_pr_section(run: _Run) -> Section:
    import plotly.graph_objects as go
    from sklearn.metrics import (
        average_precision_score,
        precision_recall_curve,
        roc_auc_score,
        roc_curve,
    )

    roc, pr = go.Figure(), go.Figure()
    roc.add_scatter(
        x=[0, 1],
        y=[0, 1],
        mode="lines",
        name="chance",
        line={"dash": "dash", "color": "#cbd2d9"},
    )
    if run.problem_type == BINARY:
        positive = run.labels[1]
        for split in run.held_out:
            y, p = run.y[split], run.proba[split][:, 1]
            if len(np.unique(y)) < 2:
                continue
            fpr, tpr, _ = roc_curve(y, p)
            precision, recall, _ = precision_recall_curve(y, p)
            colour = {"color": _COLOURS[split]}
            x, yv = _thin(fpr, tpr, CURVE_POINTS)
            roc.add_scatter(
                x=_f32(x),
                y=_f32(yv),
                mode="lines",
                line=colour,
                name=f"{split} (AUC {roc_auc_score(y, p):.3f})",
            )
            x, yv = _thin(recall, precision, CURVE_POINTS)
            pr.add_scatter(
                x=_f32(x),
                y=_f32(yv),
                mode="lines",
                line=colour,
                name=f"{split} (AP {average_precision_score(y, p):.3f})",
            )
        main = run.held_out[0]
        prevalence = float(np.mean(run.y[main] == 1))
        pr.add_hline(
            y=prevalence,
            line_dash="dash",
            line_color="#cbd2d9",
            annotation_text=f"share of {positive} in {main}: {prevalence:.2f}",
        )
        roc_title, pr_title = "ROC curve", f"Precision-recall curve (positive class {positive!r})"
        text = (
            f"The {run.held_out[0]} split is the main estimate"
            + ("; validation is shown for comparison. " if len(run.held_out) > 1 else ". ")
            + "AP is the average precision (the area under the precision-recall curve)."
        )
    else:
        split = run.held_out[0]
        y, proba = run.y[split], run.proba[split]
        for k in _frequent_classes(y, len(run.labels)):
            truth = y == k
            if truth.all() or not truth.any():
                continue
            fpr, tpr, _ = roc_curve(truth, proba[:, k])
            precision, recall, _ = precision_recall_curve(truth, proba[:, k])
            x, yv = _thin(fpr, tpr, CURVE_POINTS)
            roc.add_scatter(
                x=_f32(x),
                y=_f32(yv),
                mode="lines",
                name=f"{run.labels[k]} (AUC {roc_auc_score(truth, proba[:, k]):.3f})",
                legendgroup=run.labels[k],
            )
            x, yv = _thin(recall, precision, CURVE_POINTS)
            pr.add_scatter(
                x=_f32(x),
                y=_f32(yv),
                mode="lines",
                name=f"{run.labels[k]} (AP {average_precision_score(truth, proba[:, k]):.3f})",
                legendgroup=run.labels[k],
            )
        roc_title = "ROC, each class against the rest"
        pr_title = "Precision-recall, each class against the rest"
        text = f"One curve per class, that class against all others, on the {split} split."
        if len(run.labels) > MAX_CLASS_CURVES:
            text += f" The {MAX_CLASS_CURVES} most frequent classes are drawn."
    roc.update_layout(
        title=roc_title, xaxis_title="false positive rate", yaxis_title="true positive rate"
    )
    pr.update_layout(title=pr_title, xaxis_title="recall", yaxis_title="precision")
    for fig in (roc, pr):
        fig.update_xaxes(range=[0, 1])
        fig.update_yaxes(range=[0, 1.02])
    body = grid(figure(roc, height=420, compact=True), figure(pr, height=420, compact=True))
    return Section("ROC and precision-recall", body + note(text))


def _frequent_classes(y: np.ndarray, n_classes: int) -> list[int]:
    counts = np.bincount(y, minlength=n_classes)
    return sorted(np.argsort(-counts, kind="stable")[:MAX_CLASS_CURVES].tolist())


def _confusion_section(run: _Run) -> Section:
    from sklearn.metrics import confusion_matrix

    figures = []
    k = len(run.labels)
    for split in run.held_out:
        predicted = run.model.encoded_labels(run.proba[split])
        matrix = confusion_matrix(run.y[split], predicted, labels=list(range(k)))
        figures.append(
            figure(
                _confusion_figure(matrix, run.labels, f"{split} split ({len(predicted)} rows)"),
                height=min(300 + 32 * k, 900),
                compact=True,
            )
        )
    text = (
        "Rows are the actual class, columns the predicted one; each cell shows the count and its "
        "share of the actual class (the row), so the diagonal is each class's recall."
    )
    if run.problem_type == BINARY:
        text += f" Predictions use the model's decision threshold {run.model.threshold:.2f}."
    return Section("Confusion matrix", grid(*figures) + note(text))


def _confusion_figure(matrix: np.ndarray, labels: list[str], title: str):
    import plotly.graph_objects as go

    totals = matrix.sum(axis=1, keepdims=True)
    share = np.divide(matrix, totals, out=np.zeros(matrix.shape), where=totals > 0)
    text = [
        [f"{count}<br>{fraction:.0%}" for count, fraction in zip(row, shares, strict=True)]
        for row, shares in zip(matrix.tolist(), share.tolist(), strict=True)
    ]
    fig = go.Figure(
        go.Heatmap(
            z=_f32(share),
            x=labels,
            y=labels,
            text=text,
            texttemplate="%{text}",
            colorscale="Blues",
            zmin=0,
            zmax=1,
            showscale=False,
            hovertemplate="actual %{y}<br>predicted %{x}<br>%{text}<extra></extra>",
        )
    )
    fig.update_layout(title=title, xaxis_title="predicted", yaxis_title="actual")
    fig.update_xaxes(type="category", side="bottom")
    fig.update_yaxes(type="category", autorange="reversed")
    return fig


def _reliability(hit: np.ndarray, p: np.ndarray, bins: int = 10) -> dict:
    """Quantile-binned mean prediction against observed frequency, and the expected calibration
    error (the row-weighted mean gap)."""
    edges = np.unique(np.quantile(p, np.linspace(0, 1, bins + 1)))
    which = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, max(len(edges) - 2, 0))
    predicted, observed, counts = [], [], []
    for b in range(max(len(edges) - 1, 1)):
        rows = which == b
        if rows.any():
            predicted.append(float(p[rows].mean()))
            observed.append(float(hit[rows].mean()))
            counts.append(int(rows.sum()))
    weights = np.asarray(counts) / max(sum(counts), 1)
    ece = float(np.sum(weights * np.abs(np.asarray(predicted) - np.asarray(observed))))
    return {"predicted": predicted, "observed": observed, "counts": counts, "ece": ece}


def _calibration_section(run: _Run) -> Section:
    import plotly.graph_objects as go
    from sklearn.metrics import brier_score_loss

    curve = go.Figure()
    curve.add_scatter(
        x=[0, 1],
        y=[0, 1],
        mode="lines",
        name="perfectly calibrated",
        line={"dash": "dash", "color": "#cbd2d9"},
    )
    binary = run.problem_type == BINARY
    for split in run.held_out:
        proba = run.proba[split]
        if binary:
            hit, p = run.y[split] == 1, proba[:, 1]
            extra = f", Brier {brier_score_loss(run.y[split], p):.3f}"
        else:
            hit, p = proba.argmax(axis=1) == run.y[split], proba.max(axis=1)
            extra = ""
        points = _reliability(hit.astype(float), p)
        curve.add_scatter(
            x=_f32(points["predicted"]),
            y=_f32(points["observed"]),
            mode="lines+markers",
            name=f"{split} (ECE {points['ece']:.3f}{extra})",
            line={"color": _COLOURS[split]},
            customdata=points["counts"],
            hovertemplate="predicted %{x:.3f}<br>observed %{y:.3f}<br>%{customdata} rows",
        )
    if binary:
        curve.update_layout(
            title=f"Calibration curve of {run.labels[1]!r}",
            xaxis_title="mean predicted probability (per tenth of the rows)",
            yaxis_title="observed share of positives",
        )
    else:
        curve.update_layout(
            title="Calibration of the predicted class",
            xaxis_title="mean probability of the predicted class (per tenth of the rows)",
            yaxis_title="share predicted correctly",
        )
    curve.update_xaxes(range=[0, 1])
    curve.update_yaxes(range=[0, 1.02])
    main = run.held_out[0]
    histogram = go.Figure()
    edges = np.linspace(0, 1, 41)
    centres = (edges[:-1] + edges[1:]) / 2
    if binary:
        p = run.proba[main][:, 1]
        for k, label in enumerate(run.labels):
            counts, _ = np.histogram(p[run.y[main] == k], bins=edges)
            histogram.add_bar(x=_f32(centres), y=counts.astype(np.int32), name=f"actual {label}")
        histogram.update_layout(
            title="Predicted probability by actual class",
            xaxis_title=f"predicted probability of {run.labels[1]!r} ({main} split)",
        )
    else:
        p = run.proba[main].max(axis=1)
        right = run.proba[main].argmax(axis=1) == run.y[main]
        for name, rows in (("correct", right), ("wrong", ~right)):
            counts, _ = np.histogram(p[rows], bins=edges)
            histogram.add_bar(x=_f32(centres), y=counts.astype(np.int32), name=name)
        histogram.update_layout(
            title="Confidence, right and wrong",
            xaxis_title=f"probability of the predicted class ({main} split)",
        )
    histogram.update_layout(barmode="overlay", yaxis_title="rows", bargap=0)
    histogram.update_traces(opacity=0.6)
    body = grid(
        figure(curve, height=420, compact=True), figure(histogram, height=420, compact=True)
    )
    text = (
        "Predictions are grouped into ten bins of equal size; a calibrated model's points lie on "
        "the diagonal. ECE (expected calibration error) is the row-weighted mean distance from it"
        + ("; the Brier score is the mean squared error of the probability." if binary else ".")
    )
    return Section("Calibration", body + note(text))


def threshold_table(y: np.ndarray, scores: np.ndarray) -> list[dict]:
    """Precision, recall and F1 of the positive class at thresholds 0.01 … 0.99."""
    thresholds = np.round(np.linspace(0.01, 0.99, 99), 2)
    predicted = scores[None, :] >= thresholds[:, None]
    positive = (y == 1)[None, :]
    tp = np.sum(predicted & positive, axis=1)
    fp = np.sum(predicted & ~positive, axis=1)
    fn = np.sum(~predicted & positive, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(tp + fp > 0, tp / (tp + fp), 0.0)
        recall = np.where(tp + fn > 0, tp / (tp + fn), 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    return [
        {
            "threshold": float(t),
            "precision": round(float(p), 6),
            "recall": round(float(r), 6),
            "f1": round(float(f), 6),
        }
        for t, p, r, f in zip(thresholds, precision, recall, f1, strict=True)
    ]


def _threshold_section(run: _Run) -> Section:
    import plotly.graph_objects as go

    result = run.job.result
    stored = (result.get("metrics") or {}).get("threshold_analysis") or result.get(
        "threshold_analysis"
    )
    chosen = result.get("threshold")
    if stored:
        rows, source = stored, ("out-of-fold" if run.cross_validated else "validation")
    else:
        split = "validation" if "validation" in run.held_out else run.held_out[0]
        rows, source = threshold_table(run.y[split], run.proba[split][:, 1]), split
    frame = pd.DataFrame(rows)
    fig = go.Figure()
    for name, colour in (("precision", "#636efa"), ("recall", "#00cc96"), ("f1", "#ab63fa")):
        fig.add_scatter(
            x=_f32(frame["threshold"]),
            y=_f32(frame[name]),
            name=name.upper() if name == "f1" else name,
            mode="lines",
            line={"color": colour},
        )
    has_cost = "cost" in frame and frame["cost"].abs().sum() > 0
    if has_cost:
        fig.add_scatter(
            x=_f32(frame["threshold"]),
            y=_f32(frame["cost"]),
            name="expected cost per row",
            mode="lines",
            line={"color": "#EF553B", "dash": "dot"},
            yaxis="y2",
        )
        fig.update_layout(
            yaxis2={"title": "expected cost per row", "overlaying": "y", "side": "right"}
        )
    best_f1 = frame.loc[frame["f1"].idxmax(), "threshold"]
    model_threshold = chosen if chosen is not None else 0.5
    fig.add_vline(
        x=model_threshold,
        line_dash="dash",
        line_color="#1f2933",
        annotation_text=f"model {model_threshold:.2f}",
    )
    if chosen is None and abs(best_f1 - 0.5) > 1e-9:
        fig.add_vline(
            x=best_f1,
            line_dash="dot",
            line_color="#ab63fa",
            annotation_text=f"best F1 {best_f1:.2f}",
            annotation_position="bottom right",
        )
    fig.update_layout(
        title=f"Precision, recall and F1 of {run.labels[1]!r} by threshold ({source} predictions)",
        xaxis_title="threshold on the predicted probability",
        yaxis_title="score",
        legend={"orientation": "h", "y": -0.2},
    )
    fig.update_xaxes(range=[0, 1])
    shown = sorted({0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, round(model_threshold, 2)})
    picked = frame[frame["threshold"].round(2).isin(shown)]
    columns = ["threshold", "precision", "recall", "f1"] + (["cost"] if has_cost else [])
    body = figure(fig, height=440, compact=True) + _table(
        [c if c != "cost" else "expected cost per row" for c in columns],
        [[f"{row[0]:.2f}", *row[1:]] for row in picked[columns].astype(object).values.tolist()],
    )
    if chosen is not None:
        text = (
            f"At training time a false positive cost {run.job.spec.get('cost_fp') or 0} and a "
            f"false negative {run.job.spec.get('cost_fn') or 0}; threshold {chosen:.2f} minimises "
            f"the expected cost on the {source} predictions, and the model uses it."
        )
    else:
        text = (
            f"No business cost was given, so the model predicts {run.labels[1]!r} from "
            f"probability 0.50; on the {source} split F1 peaks at {best_f1:.2f}. To let cost "
            "pick the threshold, retrain with 'kiln train ... --cost-fp C --cost-fn C'."
        )
    return Section("Threshold analysis", body + note(text))
