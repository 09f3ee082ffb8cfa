"""Metrics for unsupervised models: clusters, anomaly scores, components and topics."""

from __future__ import annotations

import warnings

import numpy as np
from sklearn import metrics as skm

from kiln.evaluation._metrics import _clean

MAX_SILHOUETTE_ROWS = 5000


def clustering_metrics(
    features,
    labels: np.ndarray,
    labels_true=None,
    *,
    seed: int = 0,
    sample_size: int = MAX_SILHOUETTE_ROWS,
) -> dict:
    """Silhouette, Davies-Bouldin and Calinski-Harabasz on the model's features (noise points,
    label -1, left out); Rand, adjusted Rand and adjusted mutual information when true labels
    are given."""
    features = features.toarray() if hasattr(features, "toarray") else np.asarray(features)
    labels = np.asarray(labels)
    clustered = labels != -1
    distinct = np.unique(labels[clustered])
    out: dict = {"clusters": len(distinct), "noise_share": float(1 - clustered.mean())}
    if 2 <= len(distinct) < clustered.sum():
        X, y = features[clustered], labels[clustered]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out["silhouette"] = skm.silhouette_score(
                X, y, sample_size=min(len(X), sample_size), random_state=seed
            )
            out["davies_bouldin"] = skm.davies_bouldin_score(X, y)
            out["calinski_harabasz"] = skm.calinski_harabasz_score(X, y)
    if labels_true is not None:
        out["rand"] = skm.rand_score(labels_true, labels)
        out["adjusted_rand"] = skm.adjusted_rand_score(labels_true, labels)
        out["adjusted_mutual_info"] = skm.adjusted_mutual_info_score(labels_true, labels)
    return _clean(out)


def anomaly_metrics(scores: np.ndarray, flags: np.ndarray, is_anomaly=None) -> dict:
    """The flagged share and score spread; ROC-AUC, PR-AUC, precision and recall of the flags
    when it is known which rows are anomalies."""
    out = {
        "flagged_share": float(np.mean(flags)),
        "score_mean": float(np.mean(scores)),
        "score_p95": float(np.quantile(scores, 0.95)),
    }
    if is_anomaly is not None and 0 < np.sum(is_anomaly) < len(is_anomaly):
        out["roc_auc"] = skm.roc_auc_score(is_anomaly, scores)
        out["pr_auc"] = skm.average_precision_score(is_anomaly, scores)
        out["precision"] = skm.precision_score(is_anomaly, flags, zero_division=0)
        out["recall"] = skm.recall_score(is_anomaly, flags, zero_division=0)
    return _clean(out)


def reduction_metrics(estimator, features) -> dict:
    """Explained variance and reconstruction error of a PCA-like model."""
    features = features.toarray() if hasattr(features, "toarray") else np.asarray(features)
    restored = estimator.inverse_transform(estimator.transform(features))
    return _clean(
        {
            "explained_variance": float(np.sum(estimator.explained_variance_ratio_)),
            "reconstruction_mse": float(np.mean((features - restored) ** 2)),
            "components": int(estimator.n_components_),
        }
    )


def topic_metrics(estimator, counts) -> dict:
    """Perplexity (lower is better) and log-likelihood of a topic model on count features."""
    return _clean(
        {
            "perplexity": float(estimator.perplexity(counts)),
            "log_likelihood": float(estimator.score(counts)),
        }
    )
