"""The target: problem type, single-feature predictive power (leakage) and the quick model."""

from __future__ import annotations

import time
import warnings
from typing import Any

import numpy as np
import pandas as pd

from kiln.data import BOOLEAN, CATEGORICAL, IDENTIFIER, NUMERIC, TEXT
from kiln.profile._stats import clean

BINARY, MULTICLASS, REGRESSION = "binary", "multiclass", "regression"
# A numeric target with more distinct values than this is a regression target.
MAX_CLASSES = 20
# Categories kept per feature when measuring single-feature power (the rest pooled as "other").
POWER_CATEGORIES = 50
# Quantile bins of a numeric feature when measuring single-feature power.
POWER_BINS = 20
# Rows of the sample the quick model cross-validates on, and its settings.
MODEL_ROWS = 25_000
MODEL_FOLDS = 3
MODEL_TREES = 60
# Categorical features with more distinct values than this are left out of the quick model.
MODEL_MAX_CATEGORIES = 200
TOP_FEATURES = 15


def labelled(sample: pd.DataFrame, target: str) -> pd.DataFrame:
    """The sample rows with a known target: not missing, and finite for a float target (the
    column statistics count ±inf as missing too)."""
    values = sample[target]
    known = values.notna()
    if pd.api.types.is_float_dtype(values):
        known &= np.isfinite(values.to_numpy(dtype=float, na_value=np.nan))
    return sample[known.to_numpy()]


def problem_type(stats: dict) -> str | None:
    """``binary``, ``multiclass`` or ``regression`` from the target's column statistics."""
    if stats["distinct"] < 2:
        return None
    if stats["type"] == NUMERIC and stats["distinct"] > MAX_CLASSES:
        return REGRESSION
    return BINARY if stats["distinct"] == 2 else MULTICLASS


def _codes(feature: pd.Series, semantic: str) -> np.ndarray:
    """Integer groups of a feature: quantile bins (numeric) or its frequent categories."""
    if semantic == NUMERIC:
        values = pd.to_numeric(feature, errors="coerce").to_numpy(dtype=float)
        present = np.isfinite(values)
        if not present.any():
            return np.full(len(values), -1, dtype=np.int64)
        edges = np.unique(np.quantile(values[present], np.linspace(0, 1, POWER_BINS + 1)[1:-1]))
        return np.where(present, np.searchsorted(edges, values, side="right"), -1).astype(np.int64)
    codes, uniques = pd.factorize(feature)  # missing values get -1
    if len(uniques) == 0:
        return np.full(len(codes), -1, dtype=np.int64)
    counts = np.bincount(codes[codes >= 0], minlength=len(uniques))
    frequent = np.argsort(-counts, kind="stable")[:POWER_CATEGORIES]
    group = np.full(len(uniques), POWER_CATEGORIES, dtype=np.int64)  # the rest: "other"
    group[frequent] = np.arange(len(frequent))
    return np.where(codes >= 0, group[np.maximum(codes, 0)], -1).astype(np.int64)


def single_feature_power(
    sample: pd.DataFrame, target: str, problem: str, types: dict[str, str]
) -> list[dict]:
    """How well each feature alone predicts the target, on the sample.

    Classification: the accuracy of predicting the majority class within each feature group
    (20 quantile bins, or the 50 most frequent categories), as skill over the majority-class
    baseline, plus the ROC-AUC of a numeric feature for a binary target. Regression: the share of
    the target's variance explained by the feature's group means (η²), plus |Spearman ρ| for a
    numeric feature. A value near 1 means the feature alone predicts the target.
    """
    rows = labelled(sample, target)
    y = rows[target]
    out = []
    for column, semantic in types.items():
        if column == target or semantic not in (NUMERIC, CATEGORICAL, BOOLEAN, IDENTIFIER, TEXT):
            continue
        codes = _codes(rows[column], semantic if semantic == NUMERIC else CATEGORICAL)
        entry: dict[str, Any] = {"column": column}
        if problem == REGRESSION:
            target_values = pd.to_numeric(y, errors="coerce").to_numpy(dtype=float)
            frame = pd.DataFrame({"g": codes, "y": target_values})
            means = frame.groupby("g")["y"].transform("mean").to_numpy()
            total = np.nansum((target_values - np.nanmean(target_values)) ** 2)
            eta2 = 1 - np.nansum((target_values - means) ** 2) / total if total > 0 else 0.0
            entry |= {"measure": "eta_squared", "value": clean(round(float(eta2), 6))}
            if semantic == NUMERIC:
                rho = pd.to_numeric(rows[column], errors="coerce").corr(
                    pd.Series(target_values, index=rows.index), method="spearman"
                )
                entry["abs_spearman"] = clean(round(abs(float(rho)), 6)) if pd.notna(rho) else None
        else:
            labels = pd.Categorical(y.astype("string")).codes.astype(np.int64)
            width = int(labels.max()) + 1
            table = np.bincount((codes + 1) * width + labels).astype(float)
            table = np.pad(table, (0, -len(table) % width)).reshape(-1, width)
            accuracy = table.max(axis=1).sum() / table.sum()
            baseline = table.sum(axis=0).max() / table.sum()
            skill = (accuracy - baseline) / (1 - baseline) if baseline < 1 else 0.0
            entry |= {"measure": "accuracy_skill", "value": clean(round(float(skill), 6))}
            if problem == BINARY and semantic == NUMERIC:
                entry["roc_auc"] = _auc(pd.to_numeric(rows[column], errors="coerce"), labels)
        out.append(entry)
    return sorted(out, key=lambda e: -(e["value"] or 0.0))


def _auc(values: pd.Series, labels: np.ndarray) -> float | None:
    """max(AUC, 1 − AUC) of a numeric feature used as a score (missing values left out).

    Computed as the Mann-Whitney U statistic over average ranks, which is the ROC-AUC.
    """
    present = values.notna().to_numpy()
    if not present.any():  # an all-missing column scores nothing
        return None
    positive = labels[present] == labels[present].max()
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if not n_pos or not n_neg:
        return None
    ranks = values[present].rank().to_numpy()
    auc = (ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
    return round(float(max(auc, 1 - auc)), 6)


def model_features(types: dict[str, str], stats: dict[str, dict], target: str) -> list[str]:
    """Columns the quick model uses: numeric, boolean and categorical ones of modest cardinality."""
    keep = []
    for column, semantic in types.items():
        if column == target or stats[column]["distinct"] < 2:
            continue
        few_categories = stats[column]["distinct"] <= MODEL_MAX_CATEGORIES
        if semantic in (NUMERIC, BOOLEAN) or (semantic == CATEGORICAL and few_categories):
            keep.append(column)
    return keep


def quick_model(
    sample: pd.DataFrame,
    target: str,
    problem: str,
    features: list[str],
    *,
    seed: int,
    rows: int = MODEL_ROWS,
) -> dict:
    """Cross-validated score and feature importance of a small LightGBM model on the sample."""
    import lightgbm
    from sklearn.model_selection import KFold, StratifiedKFold, cross_validate

    started = time.perf_counter()
    data = labelled(sample, target)
    if len(data) > rows:
        data = data.sample(rows, random_state=seed)
    if not features:
        return {"status": "skipped", "reason": "no usable feature columns"}
    # Positional names: LightGBM refuses feature names with JSON characters (, : " [ ] { }).
    encoded = {}
    for i, column in enumerate(features):
        values = data[column]
        if isinstance(values.dtype, pd.CategoricalDtype) or not (
            pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values)
        ):
            encoded[f"f{i}"] = values.astype("string").astype("category")
        else:
            encoded[f"f{i}"] = values.astype("float64")
    X = pd.DataFrame(encoded, index=data.index)
    params = dict(
        n_estimators=MODEL_TREES,
        learning_rate=0.1,
        num_leaves=31,
        min_child_samples=20,
        subsample_for_bin=50_000,
        max_bin=63,  # as good as 255 bins for an estimate, and faster
        importance_type="gain",
        # One thread: with OMP_WAIT_POLICY=passive (set by kiln) two threads sync per tree and
        # are 3x slower on a sample this size.
        n_jobs=1,
        verbose=-1,
        random_state=seed,
    )
    if problem == REGRESSION:
        y = pd.to_numeric(data[target], errors="coerce").astype("float64")
        model = lightgbm.LGBMRegressor(**params)
        cv = KFold(MODEL_FOLDS, shuffle=True, random_state=seed)
        scoring = {"r2": "r2", "rmse": "neg_root_mean_squared_error"}
    else:
        y = data[target].astype("string").to_numpy()
        smallest = pd.Series(y).value_counts().min()
        if smallest < MODEL_FOLDS:
            return {
                "status": "skipped",
                "reason": f"a target class has only {smallest} row(s) in the sample, fewer than "
                f"the {MODEL_FOLDS} folds",
            }
        model = lightgbm.LGBMClassifier(**params)
        cv = StratifiedKFold(MODEL_FOLDS, shuffle=True, random_state=seed)
        scoring = (
            {"roc_auc": "roc_auc", "accuracy": "accuracy"}
            if problem == BINARY
            else {"accuracy": "accuracy", "log_loss": "neg_log_loss"}
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = cross_validate(
            model, X, y, cv=cv, scoring=scoring, return_estimator=True, error_score="raise"
        )
    metrics = {}
    for name in scoring:
        scores = result[f"test_{name}"]
        if name in ("rmse", "log_loss"):
            scores = -scores
        metrics[name] = {"mean": clean(float(np.mean(scores))), "std": clean(float(np.std(scores)))}
    importance = np.mean([e.feature_importances_ for e in result["estimator"]], axis=0)
    total = importance.sum() or 1.0
    top = sorted(zip(features, importance / total, strict=True), key=lambda p: -p[1])
    return {
        "status": "ok",
        "algorithm": "lightgbm",
        "settings": {"n_estimators": MODEL_TREES, "learning_rate": 0.1, "num_leaves": 31},
        "folds": MODEL_FOLDS,
        "rows": len(data),
        "features": len(features),
        "metrics": metrics,
        "primary_metric": next(iter(scoring)),
        "top_features": [
            {"column": c, "importance": round(float(v), 6)} for c, v in top[:TOP_FEATURES]
        ],
        "seconds": round(time.perf_counter() - started, 3),
    }
