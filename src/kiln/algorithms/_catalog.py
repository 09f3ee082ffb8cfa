"""The built-in algorithms: each builds a scikit-learn estimator from validated hyperparameters."""

from __future__ import annotations

import difflib
import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kiln.algorithms._params import Param, validate_hyperparameters
from kiln.errors import ConfigError

BINARY, MULTICLASS, REGRESSION = "binary", "multiclass", "regression"
PROBLEM_TYPES = (BINARY, MULTICLASS, REGRESSION)
INF = math.inf


def default_threads() -> int:
    return max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class Algorithm:
    """A built-in algorithm: its hyperparameter schema and how to build the estimator."""

    name: str
    summary: str
    problem_types: tuple[str, ...]
    params: list[Param]
    build: Callable[[str, dict, int], Any]
    scale_numeric: bool = False
    # One-hot columns stay a scipy sparse matrix (for models built for sparse input).
    sparse_input: bool = False
    # Reads per-iteration losses off a fitted estimator: {metric name: [values by iteration]}.
    iteration_metrics: Callable[[Any], dict[str, list[float]]] | None = None
    # Extra fit() arguments given the training and validation (X, y) pairs, e.g. eval_set.
    fit_options: Callable[[dict, tuple, tuple], dict] | None = None
    aliases: tuple[str, ...] = field(default=())

    def hyperparameters(self, given: dict[str, Any] | None = None) -> dict[str, Any]:
        return validate_hyperparameters(self.name, self.params, given or {})

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "summary": self.summary,
            "problem_types": list(self.problem_types),
            "hyperparameters": [p.to_dict() for p in self.params],
        }


# -- XGBoost --------------------------------------------------------------------------------------
_BOOSTING_COMMON = [
    Param("n_estimators", "int", 300, "number of boosting rounds", 1, 10000),
    Param("learning_rate", "float", 0.05, "shrinkage per round", 1e-4, 1.0),
    Param("max_depth", "int", 6, "maximum tree depth", 1, 30),
    Param("subsample", "float", 0.9, "row fraction sampled per round", 0.05, 1.0),
    Param("colsample_bytree", "float", 0.9, "column fraction sampled per tree", 0.05, 1.0),
    Param("reg_lambda", "float", 1.0, "L2 regularisation on leaf weights", 0.0, INF),
    Param("reg_alpha", "float", 0.0, "L1 regularisation on leaf weights", 0.0, INF),
    Param(
        "early_stopping_rounds",
        "int",
        30,
        "stop when the validation loss has not improved for this many rounds (0: off)",
        0,
        10000,
    ),
]


def _build_xgboost(problem_type: str, hp: dict, seed: int):
    import xgboost

    params = dict(hp)
    params["early_stopping_rounds"] = params["early_stopping_rounds"] or None
    common = dict(random_state=seed, n_jobs=default_threads(), tree_method="hist", **params)
    if problem_type == REGRESSION:
        return xgboost.XGBRegressor(eval_metric="rmse", **common)
    return xgboost.XGBClassifier(
        eval_metric="logloss" if problem_type == BINARY else "mlogloss", **common
    )


def _xgboost_fit_options(hp: dict, train: tuple, validation: tuple) -> dict:
    return {"eval_set": [train, validation], "verbose": False}


def _xgboost_curves(estimator) -> dict[str, list[float]]:
    results = estimator.evals_result()
    names = {"validation_0": "train", "validation_1": "validation"}
    return {
        f"{names.get(split, split)}_{metric}": list(values)
        for split, metrics in results.items()
        for metric, values in metrics.items()
    }


# -- LightGBM -------------------------------------------------------------------------------------
_LIGHTGBM_PARAMS = [
    Param("n_estimators", "int", 300, "number of boosting rounds", 1, 10000),
    Param("learning_rate", "float", 0.05, "shrinkage per round", 1e-4, 1.0),
    Param("num_leaves", "int", 31, "maximum leaves per tree", 2, 131072),
    Param("max_depth", "int", -1, "maximum tree depth (-1: no limit)", -1, 100),
    Param("min_child_samples", "int", 20, "minimum rows in a leaf", 1, 100000),
    Param("subsample", "float", 0.9, "row fraction sampled (bagging)", 0.05, 1.0),
    Param("colsample_bytree", "float", 0.9, "column fraction sampled per tree", 0.05, 1.0),
    Param("reg_lambda", "float", 0.0, "L2 regularisation", 0.0, INF),
    Param("reg_alpha", "float", 0.0, "L1 regularisation", 0.0, INF),
    Param(
        "early_stopping_rounds",
        "int",
        30,
        "stop when the validation loss has not improved for this many rounds (0: off)",
        0,
        10000,
    ),
]


def _build_lightgbm(problem_type: str, hp: dict, seed: int):
    import lightgbm

    params = {k: v for k, v in hp.items() if k != "early_stopping_rounds"}
    common = dict(
        random_state=seed, n_jobs=default_threads(), verbose=-1, subsample_freq=1, **params
    )
    if problem_type == REGRESSION:
        return lightgbm.LGBMRegressor(**common)
    return lightgbm.LGBMClassifier(**common)


def _lightgbm_fit_options(hp: dict, train: tuple, validation: tuple) -> dict:
    import lightgbm

    rounds = hp["early_stopping_rounds"]
    return {
        "eval_set": [train, validation],
        "eval_names": ["train", "validation"],
        "callbacks": [lightgbm.early_stopping(rounds, verbose=False)] if rounds else [],
    }


def _lightgbm_curves(estimator) -> dict[str, list[float]]:
    return {
        f"{split}_{metric}": list(values)
        for split, metrics in estimator.evals_result_.items()
        for metric, values in metrics.items()
    }


# -- linear ---------------------------------------------------------------------------------------
_LINEAR_PARAMS = [
    Param(
        "penalty",
        "choice",
        "l2",
        "regularisation: l2 (ridge), l1 (lasso), elasticnet or none",
        choices=("l2", "l1", "elasticnet", "none"),
    ),
    Param("alpha", "float", 1.0, "regularisation strength (larger: simpler model)", 1e-8, 1e6),
    Param("l1_ratio", "float", 0.5, "share of L1 in elasticnet", 0.0, 1.0),
    Param("max_iter", "int", 1000, "maximum solver iterations", 10, 100000),
    Param(
        "class_weight",
        "choice",
        "none",
        "balanced re-weights classes by inverse frequency",
        choices=("none", "balanced"),
    ),
]


def _build_linear(problem_type: str, hp: dict, seed: int):
    from sklearn import linear_model

    penalty, alpha = hp["penalty"], hp["alpha"]
    if problem_type == REGRESSION:
        if penalty == "none":
            return linear_model.LinearRegression()
        if penalty == "l2":
            return linear_model.Ridge(alpha=alpha, random_state=seed)
        ratio = 1.0 if penalty == "l1" else hp["l1_ratio"]
        return linear_model.ElasticNet(
            alpha=alpha, l1_ratio=ratio, max_iter=hp["max_iter"], random_state=seed
        )
    l1_ratio = {"l2": 0.0, "l1": 1.0, "elasticnet": hp["l1_ratio"], "none": 0.0}[penalty]
    return linear_model.LogisticRegression(
        C=math.inf if penalty == "none" else 1.0 / alpha,
        l1_ratio=l1_ratio,
        solver="lbfgs" if l1_ratio == 0.0 else "saga",
        max_iter=hp["max_iter"],
        class_weight=None if hp["class_weight"] == "none" else "balanced",
        random_state=seed,
    )


# -- random forest --------------------------------------------------------------------------------
_FOREST_PARAMS = [
    Param("n_estimators", "int", 300, "number of trees", 1, 10000),
    Param(
        "max_depth", "int", None, "maximum tree depth (none: grow fully)", 1, 1000, nullable=True
    ),
    Param("min_samples_leaf", "int", 1, "minimum rows in a leaf", 1, 100000),
    Param(
        "max_features",
        "choice",
        "sqrt",
        "features tried per split",
        choices=("sqrt", "log2", "all"),
    ),
    Param(
        "class_weight",
        "choice",
        "none",
        "balanced re-weights classes by inverse frequency",
        choices=("none", "balanced", "balanced_subsample"),
    ),
]


def _build_random_forest(problem_type: str, hp: dict, seed: int):
    from sklearn import ensemble

    common = dict(
        n_estimators=hp["n_estimators"],
        max_depth=hp["max_depth"],
        min_samples_leaf=hp["min_samples_leaf"],
        max_features=None if hp["max_features"] == "all" else hp["max_features"],
        n_jobs=default_threads(),
        random_state=seed,
    )
    if problem_type == REGRESSION:
        return ensemble.RandomForestRegressor(**common)
    class_weight = None if hp["class_weight"] == "none" else hp["class_weight"]
    return ensemble.RandomForestClassifier(class_weight=class_weight, **common)


ALGORITHMS: dict[str, Algorithm] = {
    a.name: a
    for a in [
        Algorithm(
            "xgboost",
            "XGBoost gradient-boosted trees (hist)",
            PROBLEM_TYPES,
            _BOOSTING_COMMON,
            _build_xgboost,
            iteration_metrics=_xgboost_curves,
            fit_options=_xgboost_fit_options,
        ),
        Algorithm(
            "lightgbm",
            "LightGBM gradient-boosted trees (leaf-wise)",
            PROBLEM_TYPES,
            _LIGHTGBM_PARAMS,
            _build_lightgbm,
            iteration_metrics=_lightgbm_curves,
            fit_options=_lightgbm_fit_options,
        ),
        Algorithm(
            "linear",
            "Logistic / linear regression with L1, L2 or elastic-net regularisation",
            PROBLEM_TYPES,
            _LINEAR_PARAMS,
            _build_linear,
            scale_numeric=True,
        ),
        Algorithm(
            "random_forest",
            "Random forest of fully grown trees",
            PROBLEM_TYPES,
            _FOREST_PARAMS,
            _build_random_forest,
        ),
    ]
}


def get_algorithm(name: str) -> Algorithm:
    if name in ALGORITHMS:
        return ALGORITHMS[name]
    close = difflib.get_close_matches(name, list(ALGORITHMS), n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise ConfigError(
        f"Unknown algorithm {name!r}.{hint} Built-in algorithms: {', '.join(ALGORITHMS)}.",
        code="algorithm.unknown",
        field="algorithm",
    )
