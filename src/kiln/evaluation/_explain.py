"""Explanations shared by the evaluation report and AutoML: SHAP values of tree models and the
names of the features a recipe outputs."""

from __future__ import annotations

import time
import warnings

import numpy as np

__all__ = ["ShapUnavailable", "shap_values", "transformed_feature_names"]

# shap.TreeExplainer on scikit-learn forests is slow (fully grown trees): it explains as many rows
# (within these bounds) as fit a budget of tree nodes × rows, about 4 s on one core.
SHAP_EXPLAINER_ROWS = (40, 300)
SHAP_NODE_BUDGET = 20_000_000


class ShapUnavailable(Exception):
    """SHAP values are not available for this model; the message says why."""


def shap_values(
    estimator, Xt, *, seconds: float | None = None, min_rows: int = 1
) -> tuple[np.ndarray, str, str]:
    """SHAP values as (rows, outputs, features), how they were computed, and their units.

    ``seconds`` bounds shap's TreeExplainer (scikit-learn trees), whose cost per row on deep
    forests no prediction time foretells: it explains as many rows as fit, after timing the
    first, and raises ShapUnavailable when fewer than ``min_rows`` would."""
    import scipy.sparse as sp

    module = type(estimator).__module__.split(".")[0]
    classifier = hasattr(estimator, "predict_proba")
    margin = "log-odds" if classifier else "target units"
    if module == "lightgbm":
        contrib = estimator.predict(Xt, pred_contrib=True)
        if isinstance(contrib, list):  # sparse input, multiclass: one matrix per class
            contrib = np.stack([c.toarray() if sp.issparse(c) else c for c in contrib], axis=1)
        elif sp.issparse(contrib):
            contrib = contrib.toarray()
        n_features = Xt.shape[1]
        contrib = np.asarray(contrib).reshape(Xt.shape[0], -1, n_features + 1)
        return contrib[..., :-1], "LightGBM's own tree contributions (pred_contrib)", margin
    if module == "xgboost":
        import xgboost

        booster = estimator.get_booster()
        options = {}
        best = getattr(estimator, "best_iteration", None)
        if isinstance(best, int):
            options["iteration_range"] = (0, best + 1)
        contrib = booster.predict(xgboost.DMatrix(Xt), pred_contribs=True, **options)
        contrib = np.asarray(contrib)
        if contrib.ndim == 2:
            contrib = contrib[:, None, :]
        return contrib[..., :-1], "XGBoost's own tree contributions (pred_contribs)", margin
    if module == "catboost":
        from catboost import Pool

        data = Xt.toarray() if sp.issparse(Xt) else Xt
        pool = Pool(data, cat_features=estimator.get_cat_feature_indices() or None)
        contrib = np.asarray(estimator.get_feature_importance(pool, type="ShapValues"))
        if contrib.ndim == 2:
            contrib = contrib[:, None, :]
        return contrib[..., :-1], "CatBoost's own ShapValues", margin
    if _sklearn_trees(estimator):
        try:
            with warnings.catch_warnings():  # shap's own deprecation noise at import
                warnings.simplefilter("ignore")
                import shap
        except ImportError:
            raise ShapUnavailable(
                f"SHAP values for {type(estimator).__name__} need the shap library: "
                "pip install 'kiln[explain]'. Permutation importance above covers every model."
            ) from None
        data = Xt.toarray() if sp.issparse(Xt) else np.asarray(Xt)
        trees = np.ravel(getattr(estimator, "estimators_", [estimator]))
        nodes = sum(getattr(getattr(t, "tree_", None), "node_count", 0) for t in trees) or 1
        low, high = SHAP_EXPLAINER_ROWS
        data = data[: int(np.clip(SHAP_NODE_BUDGET // nodes, low, high))]
        try:
            raw = _tree_shap(shap, estimator, data, seconds, min_rows)
        except ShapUnavailable:
            raise
        except Exception as exc:  # shap supports most, not all, scikit-learn tree models
            raise ShapUnavailable(
                f"shap could not explain {type(estimator).__name__}: {str(exc).rstrip('.!')}. "
                "Permutation importance above covers every model."
            ) from None
        if isinstance(raw, list):
            values = np.stack(raw, axis=1)
        else:
            values = np.asarray(raw)
            values = values[:, None, :] if values.ndim == 2 else np.moveaxis(values, 2, 1)
        if values.shape[1] == 2:  # binary: the positive class; the other is its mirror image
            values = values[:, 1:, :]
        # Forests and trees average probabilities; gradient boosting adds up log-odds.
        boosted = "GradientBoosting" in type(estimator).__name__
        units = "probability" if classifier and not boosted else margin
        return values, "shap.TreeExplainer", units
    raise ShapUnavailable(
        f"SHAP values are computed for tree models (LightGBM, XGBoost, CatBoost and scikit-learn "
        f"tree ensembles); this model is {type(estimator).__name__}. Permutation importance "
        "above covers every model."
    )


def _tree_shap(shap, estimator, data: np.ndarray, seconds: float | None, min_rows: int):
    """shap.TreeExplainer's values on as many of ``data``'s rows as fit in ``seconds`` (None:
    all of them); the cost of a row is measured on the first. (A forest of deep trees on 5,000
    TF-IDF columns took 46 s for 40 rows where its predictions foretold 10 s.)"""
    started = time.perf_counter()
    explainer = shap.TreeExplainer(estimator)
    if seconds is None or len(data) <= 1:
        return explainer.shap_values(data, check_additivity=False)
    before_row = time.perf_counter()
    first = explainer.shap_values(data[:1], check_additivity=False)
    now = time.perf_counter()
    per_row = max(now - before_row, 1e-6)
    more = min(len(data) - 1, int((seconds - (now - started)) / per_row))
    if 1 + max(more, 0) < min_rows:
        raise ShapUnavailable(
            f"shap's TreeExplainer takes {per_row:.1f} s a row on this "
            f"{type(estimator).__name__}, and {min_rows} rows do not fit in the "
            f"explanation's {seconds:.1f} s. Permutation importance covers every model."
        )
    if more <= 0:
        return first
    rest = explainer.shap_values(data[1 : 1 + more], check_additivity=False)
    if isinstance(first, list):
        return [np.concatenate([a, b]) for a, b in zip(first, rest, strict=True)]
    return np.concatenate([first, rest])


def _sklearn_trees(estimator) -> bool:
    """A scikit-learn tree model shap.TreeExplainer reads: a tree, a forest, or histogram
    gradient boosting (kiln's own subclass of it included)."""
    from sklearn import ensemble

    if isinstance(
        estimator, (ensemble.HistGradientBoostingClassifier, ensemble.HistGradientBoostingRegressor)
    ):
        return True
    module = type(estimator).__module__.split(".")[0]
    return module == "sklearn" and (
        hasattr(estimator, "tree_") or hasattr(estimator, "estimators_")
    )


def transformed_feature_names(preprocessor, width: int) -> list[str]:
    """Names of the columns the recipe outputs (``contract_Two year``, ``tenure``, …), or
    ``feature_<i>`` when they cannot be told."""
    names = _recipe_names(preprocessor)
    if names is None or len(names) != width:
        try:
            names = [str(n) for n in preprocessor.get_feature_names_out()]
        except Exception:  # a step without get_feature_names_out
            names = None
    if names is None or len(names) != width:
        names = [f"feature_{i}" for i in range(width)]
    return names


def _recipe_names(preprocessor) -> list[str] | None:
    steps = [s for _, s in preprocessor.steps] if hasattr(preprocessor, "steps") else [preprocessor]
    names: list[str] | None = None
    for step in steps:
        if hasattr(step, "transformers_"):
            names = []
            for name, transformer, columns in step.transformers_:
                if transformer == "drop" or name == "remainder":
                    continue
                inner = _step_names(transformer, [str(c) for c in columns])
                if inner is None:
                    return None
                names += inner
        else:
            names = _step_names(step, names or [])
            if names is None:
                return None
    return names


def _step_names(transformer, columns: list[str]) -> list[str] | None:
    steps = [s for _, s in transformer.steps] if hasattr(transformer, "steps") else [transformer]
    names = columns
    for step in steps:
        if step == "passthrough":
            continue
        function = getattr(step, "func", None)
        if function is not None and getattr(step, "feature_names_out", None) is None:
            if getattr(function, "__name__", "") == "datetime_parts":
                parts = ("year", "month", "day", "day_of_week", "hour")
                names = [f"{c}_{p}" for c in names for p in parts]
            continue  # other recipe functions keep one output column per input column
        try:
            names = [str(n) for n in step.get_feature_names_out(names)]
        except Exception:
            return None
    return names
