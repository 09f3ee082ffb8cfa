"""The clustering section: cluster sizes, quality metrics and a 2-D projection."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from kiln.errors import DataError
from kiln.evaluation._run import SCATTER_POINTS, _f32, _table
from kiln.evaluation._unsupervised import clustering_metrics
from kiln.reports import (
    Section,
    figure,
    grid,
    note,
)

if TYPE_CHECKING:
    pass

__all__ = ["clustering_section"]


# -- clustering -----------------------------------------------------------------------------------
def clustering_section(
    X,
    labels_pred,
    labels_true=None,
    *,
    seed: int = 42,
    sample_size: int = 5000,
) -> tuple[Section, dict]:
    """The clustering section of a report, and its metrics.

    Parameters
    ----------
    X
        The feature matrix the clusters were found in (numeric: the recipe's output), dense or
        scipy sparse, or a DataFrame of numeric columns.
    labels_pred
        The cluster of each row; ``-1`` marks noise (DBSCAN) and is left out of the internal
        scores.
    labels_true
        Known classes of the rows, if any: adds the Rand index, the adjusted Rand index, the
        adjusted mutual information and a contingency table.
    seed, sample_size
        The silhouette is computed on a seeded sample of at most ``sample_size`` rows.

    Returns
    -------
    (Section, dict)
        The section, and ``{"clusters", "noise_share", "silhouette", "davies_bouldin",
        "calinski_harabasz", "rand", "adjusted_rand", "adjusted_mutual_info", "sizes"}`` (scores
        that cannot be computed, e.g. with a single cluster, are ``None``).
    """
    import plotly.graph_objects as go
    import scipy.sparse as sp

    if isinstance(X, pd.DataFrame):
        X = X.select_dtypes("number").to_numpy(dtype=float)
    elif not sp.issparse(X):
        X = np.asarray(X, dtype=float)
    labels = np.asarray(labels_pred)
    if X.shape[0] != len(labels):
        raise DataError(
            f"X has {X.shape[0]} rows but there are {len(labels)} cluster labels.",
            code="reports.bad-clustering-input",
        )
    clustered = labels != -1
    cluster_ids = sorted(set(labels[clustered].tolist()))
    sizes = {str(c): int(np.sum(labels == c)) for c in cluster_ids}
    if not clustered.all():
        sizes["noise"] = int(np.sum(~clustered))
    truth = None
    if labels_true is not None:
        truth = np.asarray(labels_true).astype(str)
        if len(truth) != len(labels):
            raise DataError(
                f"There are {len(labels)} cluster labels but {len(truth)} true labels.",
                code="reports.bad-clustering-input",
            )
    metrics: dict[str, Any] = dict.fromkeys(
        (
            "silhouette",
            "davies_bouldin",
            "calinski_harabasz",
            "rand",
            "adjusted_rand",
            "adjusted_mutual_info",
        )
    )
    metrics.update(clustering_metrics(X, labels, truth, seed=seed, sample_size=sample_size))
    metrics["sizes"] = sizes

    described = {
        "clusters": "number of clusters found (noise excluded)",
        "noise_share": "share of rows in no cluster (DBSCAN noise)",
        "silhouette": "-1 … 1, higher is better: rows sit closer to their own cluster than to "
        "the next one",
        "davies_bouldin": "0 … ∞, lower is better: how similar each cluster is to its closest one",
        "calinski_harabasz": "higher is better: between-cluster against within-cluster spread",
        "rand": "0 … 1: share of row pairs on which clusters and labels agree",
        "adjusted_rand": "-0.5 … 1: the Rand index corrected for chance (0: random, 1: identical)",
        "adjusted_mutual_info": "0 … 1: information shared by clusters and labels, "
        "chance-corrected",
    }
    rows = [
        [name, metrics[name], meaning]
        for name, meaning in described.items()
        if metrics[name] is not None or name in ("silhouette", "davies_bouldin")
    ]
    body = _table(["metric", "value", "meaning"], rows)
    if metrics["silhouette"] is None:
        body += note("Internal scores need at least two clusters (and fewer clusters than rows).")

    figures = []
    size_fig = go.Figure(go.Bar(x=list(sizes), y=list(sizes.values()), marker={"color": "#636efa"}))
    size_fig.update_layout(title="Rows per cluster", xaxis_title="cluster", yaxis_title="rows")
    size_fig.update_xaxes(type="category")
    figures.append(figure(size_fig, height=360, compact=True))
    if X.shape[0] >= 3 and X.shape[1] >= 2:
        rng = np.random.default_rng(seed)
        rows_shown = np.arange(X.shape[0])
        if len(rows_shown) > SCATTER_POINTS:
            rows_shown = np.sort(rng.choice(rows_shown, SCATTER_POINTS, replace=False))
        if sp.issparse(X):
            from sklearn.decomposition import TruncatedSVD

            projected = TruncatedSVD(2, random_state=seed).fit_transform(X[rows_shown])
            how = "truncated SVD"
        else:
            from sklearn.decomposition import PCA

            projected = PCA(2, random_state=seed).fit_transform(X[rows_shown])
            how = "PCA"
        scatter = go.Figure()
        shown_labels = labels[rows_shown]
        for c in [*cluster_ids, -1]:
            mask = shown_labels == c
            if mask.any():
                scatter.add_scattergl(
                    x=_f32(projected[mask, 0]),
                    y=_f32(projected[mask, 1]),
                    mode="markers",
                    marker={"size": 5, "opacity": 0.7, **({"color": "#9aa5b1"} if c == -1 else {})},
                    name="noise" if c == -1 else f"cluster {c}",
                )
        scatter.update_layout(
            title=f"Rows in two dimensions ({how})",
            xaxis_title="component 1",
            yaxis_title="component 2",
        )
        figures.append(figure(scatter, height=360, compact=True))
    body += grid(*figures)
    if truth is not None:
        classes = sorted(set(truth.tolist()))
        columns = [str(c) for c in cluster_ids] + (["noise"] if not clustered.all() else [])
        keys = [*cluster_ids, -1][: len(columns)]
        matrix = np.array(
            [[int(np.sum((truth == t) & (labels == c))) for c in keys] for t in classes]
        )
        heat = go.Figure(
            go.Heatmap(
                z=matrix.astype(np.int32),
                x=columns,
                y=classes,
                text=matrix.tolist(),
                texttemplate="%{text}",
                colorscale="Blues",
                showscale=False,
                hovertemplate="label %{y}<br>cluster %{x}<br>%{z} rows<extra></extra>",
            )
        )
        heat.update_layout(title="Known labels against clusters", xaxis_title="cluster")
        heat.update_xaxes(type="category")
        heat.update_yaxes(type="category", autorange="reversed")
        body += figure(heat, height=min(300 + 28 * len(classes), 900), compact=True)
    return Section("Clustering", body), metrics
