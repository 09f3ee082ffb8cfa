"""Computing the metrics of classification and regression, as plain JSON-ready dicts (which
metrics exist, and which way each is better, is declared in :mod:`kiln.problems`)."""

from __future__ import annotations

import warnings

import numpy as np
from sklearn import metrics as skm

from kiln.problems import BINARY, REGRESSION


def evaluate(
    problem_type: str,
    y_true: np.ndarray,
    *,
    y_pred: np.ndarray,
    proba: np.ndarray | None = None,
    n_features: int | None = None,
    positive_index: int = 1,
) -> dict:
    """Metrics for encoded labels (0..K-1) or regression values."""
    if len(y_true) == 0:
        return {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if problem_type == REGRESSION:
            return _regression(y_true, y_pred, n_features)
        if problem_type == BINARY:
            return _binary(y_true, y_pred, proba, positive_index)
        return _multiclass(y_true, y_pred, proba)


def _regression(y_true, y_pred, n_features) -> dict:
    mse = skm.mean_squared_error(y_true, y_pred)
    r2 = skm.r2_score(y_true, y_pred) if len(y_true) > 1 else float("nan")
    n, p = len(y_true), n_features or 0
    adjusted = 1 - (1 - r2) * (n - 1) / (n - p - 1) if n - p - 1 > 0 else float("nan")
    return _clean(
        {
            "mse": mse,
            "rmse": float(np.sqrt(mse)),
            "mae": skm.mean_absolute_error(y_true, y_pred),
            "mape": skm.mean_absolute_percentage_error(y_true, y_pred),
            "r2": r2,
            "adjusted_r2": adjusted,
        }
    )


def _binary(y_true, y_pred, proba, positive) -> dict:
    matrix = skm.confusion_matrix(y_true, y_pred, labels=[0, 1])
    score = proba[:, positive]
    both = len(np.unique(y_true)) == 2
    return _clean(
        {
            "accuracy": skm.accuracy_score(y_true, y_pred),
            "precision": skm.precision_score(y_true, y_pred, pos_label=positive, zero_division=0),
            "recall": skm.recall_score(y_true, y_pred, pos_label=positive, zero_division=0),
            "specificity": _specificity(matrix, positive),
            "f1": skm.f1_score(y_true, y_pred, pos_label=positive, zero_division=0),
            "roc_auc": skm.roc_auc_score(y_true == positive, score) if both else float("nan"),
            "pr_auc": skm.average_precision_score(y_true == positive, score)
            if both
            else float("nan"),
            "log_loss": skm.log_loss(y_true, proba, labels=[0, 1]),
            "confusion_matrix": matrix.tolist(),
        }
    )


def _specificity(matrix: np.ndarray, positive: int) -> float:
    """True-negative rate: of the rows not ``positive``, the share predicted not positive."""
    negatives = [i for i in range(matrix.shape[0]) if i != positive]
    actual_negative = matrix[negatives, :].sum()
    true_negative = matrix[np.ix_(negatives, negatives)].sum()
    return float(true_negative / actual_negative) if actual_negative else float("nan")


def _multiclass(y_true, y_pred, proba) -> dict:
    k = proba.shape[1]
    labels = list(range(k))
    matrix = skm.confusion_matrix(y_true, y_pred, labels=labels)
    support = matrix.sum(axis=1)
    specificities = np.array([_specificity(matrix, i) for i in labels])
    out = {"accuracy": skm.accuracy_score(y_true, y_pred)}
    for average in ("macro", "weighted"):
        kw = dict(labels=labels, average=average, zero_division=0)
        out[f"precision_{average}"] = skm.precision_score(y_true, y_pred, **kw)
        out[f"recall_{average}"] = skm.recall_score(y_true, y_pred, **kw)
        out[f"f1_{average}"] = skm.f1_score(y_true, y_pred, **kw)
        weights = None if average == "macro" else support
        valid = ~np.isnan(specificities)
        out[f"specificity_{average}"] = (
            float(
                np.average(
                    specificities[valid], weights=None if weights is None else weights[valid]
                )
            )
            if valid.any()
            else float("nan")
        )
    present = np.unique(y_true)
    onehot = np.eye(k)[y_true]
    if len(present) == k:
        for average in ("macro", "weighted"):
            out[f"roc_auc_{average}"] = skm.roc_auc_score(
                y_true, proba, multi_class="ovr", average=average, labels=labels
            )
            out[f"pr_auc_{average}"] = skm.average_precision_score(onehot, proba, average=average)
    out["log_loss"] = skm.log_loss(y_true, proba, labels=labels)
    out["confusion_matrix"] = matrix.tolist()
    return _clean(out)


def _clean(values: dict) -> dict:
    out = {}
    for name, value in values.items():
        if isinstance(value, list):
            out[name] = value
        elif isinstance(value, int | np.integer) and not isinstance(value, bool):
            out[name] = int(value)
        else:
            value = float(value)
            out[name] = None if np.isnan(value) or np.isinf(value) else round(value, 6)
    return out
