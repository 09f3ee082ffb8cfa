"""Gradient-boosted trees: XGBoost, LightGBM, scikit-learn's histogram gradient boosting and
CatBoost (an optional extra)."""

from __future__ import annotations

import inspect

from kiln.algorithms._algorithm import (
    CLASS_WEIGHT,
    INF,
    Algorithm,
    AutoMLHints,
    default_threads,
)
from kiln.algorithms._params import Param
from kiln.errors import ConfigError
from kiln.problems import BINARY, PROBLEM_TYPES, REGRESSION

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
CATEGORICAL_ENCODING = Param(
    "categorical_encoding",
    "choice",
    "native",
    "categorical columns as one integer code each that the trees split by category (native; at "
    "most 255 values, the rarest grouped) or as one-hot columns (one_hot)",
    choices=("native", "one_hot"),
)

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
    CATEGORICAL_ENCODING,
]


def _build_lightgbm(problem_type: str, hp: dict, seed: int):
    import lightgbm

    # The categorical encoding is the recipe's (kiln.training.build_features), not LightGBM's.
    params = {
        k: v for k, v in hp.items() if k not in ("early_stopping_rounds", "categorical_encoding")
    }
    common = dict(
        random_state=seed, n_jobs=default_threads(), verbose=-1, subsample_freq=1, **params
    )
    if problem_type == REGRESSION:
        return lightgbm.LGBMRegressor(**common)
    return lightgbm.LGBMClassifier(**common)


def _lightgbm_fit_options(hp: dict, train: tuple, validation: tuple) -> dict:
    import lightgbm

    rounds = hp["early_stopping_rounds"]
    options = {
        "eval_names": ["train", "validation"],
        "callbacks": [lightgbm.early_stopping(rounds, verbose=False)] if rounds else [],
    }
    if "eval_X" in inspect.signature(lightgbm.LGBMModel.fit).parameters:  # LightGBM >= 4.6
        options.update(eval_X=(train[0], validation[0]), eval_y=(train[1], validation[1]))
    else:
        options["eval_set"] = [train, validation]
    return options


def _lightgbm_curves(estimator) -> dict[str, list[float]]:
    return {
        f"{split}_{metric}": list(values)
        for split, metrics in estimator.evals_result_.items()
        for metric, values in metrics.items()
    }


# -- scikit-learn's histogram gradient boosting ----------------------------------------------------
# scikit-learn's own defaults throughout: the default trial is HistGradientBoostingClassifier() /
# HistGradientBoostingRegressor() as a user would write it by hand.
_HIST_GRADIENT_BOOSTING_PARAMS = [
    Param("learning_rate", "float", 0.1, "shrinkage per iteration", 1e-4, 1.0),
    Param("max_iter", "int", 100, "number of boosting iterations (trees per class)", 1, 10000),
    Param(
        "max_leaf_nodes",
        "int",
        31,
        "maximum leaves per tree (none: no limit)",
        2,
        131072,
        nullable=True,
    ),
    Param("max_depth", "int", None, "maximum tree depth (none: no limit)", 1, 1000, nullable=True),
    Param("min_samples_leaf", "int", 20, "minimum rows in a leaf", 1, 100000),
    Param("l2_regularization", "float", 0.0, "L2 regularisation on leaf values", 0.0, INF),
    Param("max_features", "float", 1.0, "feature fraction tried at each split", 0.01, 1.0),
    Param(
        "max_bins", "int", 255, "histogram bins per feature (missing values get one more)", 2, 255
    ),
    Param(
        "early_stopping",
        "choice",
        "auto",
        "stop when the loss on an internal 10% validation split stops improving for 10 "
        "iterations (auto: on above 10,000 rows)",
        choices=("auto", "on", "off"),
    ),
    CLASS_WEIGHT,
    CATEGORICAL_ENCODING,
]
_EARLY_STOPPING = {"auto": "auto", "on": True, "off": False}


def _build_hist_gradient_boosting(problem_type: str, hp: dict, seed: int):
    from kiln.algorithms._hist_gradient_boosting import (
        HistGradientBoostingClassifier,
        HistGradientBoostingRegressor,
    )

    common = dict(
        learning_rate=hp["learning_rate"],
        max_iter=hp["max_iter"],
        max_leaf_nodes=hp["max_leaf_nodes"],
        max_depth=hp["max_depth"],
        min_samples_leaf=hp["min_samples_leaf"],
        l2_regularization=hp["l2_regularization"],
        max_features=hp["max_features"],
        max_bins=hp["max_bins"],
        early_stopping=_EARLY_STOPPING[hp["early_stopping"]],
        random_state=seed,
    )
    if problem_type == REGRESSION:
        return HistGradientBoostingRegressor(**common)
    class_weight = None if hp["class_weight"] == "none" else hp["class_weight"]
    return HistGradientBoostingClassifier(class_weight=class_weight, **common)


# -- CatBoost (optional extra) --------------------------------------------------------------------
_CATBOOST_PARAMS = [
    Param("n_estimators", "int", 500, "number of boosting rounds", 1, 10000),
    Param("learning_rate", "float", 0.05, "shrinkage per round", 1e-4, 1.0),
    Param("depth", "int", 6, "depth of the symmetric (oblivious) trees", 1, 16),
    Param("l2_leaf_reg", "float", 3.0, "L2 regularisation on leaf values", 0.0, INF),
    Param(
        "random_strength",
        "float",
        1.0,
        "noise added to split scores (against overfitting)",
        0.0,
        INF,
    ),
    Param("colsample_bylevel", "float", 1.0, "column fraction tried at each tree level", 0.05, 1.0),
    Param(
        "early_stopping_rounds",
        "int",
        30,
        "stop when the validation loss has not improved for this many rounds (0: off)",
        0,
        10000,
    ),
]


def _build_catboost(problem_type: str, hp: dict, seed: int):
    try:
        import catboost
    except ImportError as exc:
        raise ConfigError(
            "CatBoost is not installed: pip install 'kiln[catboost]'",
            code="algorithm.missing-dependency",
        ) from exc
    common = dict(
        iterations=hp["n_estimators"],
        learning_rate=hp["learning_rate"],
        depth=hp["depth"],
        l2_leaf_reg=hp["l2_leaf_reg"],
        random_strength=hp["random_strength"],
        rsm=hp["colsample_bylevel"],
        early_stopping_rounds=hp["early_stopping_rounds"] or None,
        random_seed=seed,
        thread_count=default_threads(),
        verbose=False,
        allow_writing_files=False,
    )
    if problem_type == REGRESSION:
        return catboost.CatBoostRegressor(loss_function="RMSE", **common)
    loss = "Logloss" if problem_type == BINARY else "MultiClass"
    return catboost.CatBoostClassifier(loss_function=loss, **common)


def _catboost_fit_options(hp: dict, train: tuple, validation: tuple) -> dict:
    return {"eval_set": validation}


def _catboost_best_iteration(estimator) -> int | None:
    best = estimator.get_best_iteration()  # counted from 0; None without an eval set
    return None if best is None else best + 1


def _catboost_curves(estimator) -> dict[str, list[float]]:
    names = {"learn": "train", "validation": "validation"}
    return {
        f"{names.get(split, split)}_{metric.lower()}": [float(v) for v in values]
        for split, metrics in estimator.get_evals_result().items()
        for metric, values in metrics.items()
    }


# The catalog entries of this family (kiln.algorithms._catalog collects them).
ALGORITHMS: list[Algorithm] = [
    Algorithm(
        "xgboost",
        "XGBoost gradient-boosted trees (hist)",
        PROBLEM_TYPES,
        _BOOSTING_COMMON,
        _build_xgboost,
        iteration_metrics=_xgboost_curves,
        fit_options=_xgboost_fit_options,
        tuning_ranges=(
            "n_estimators=50:1000:log",
            "learning_rate=0.005:0.3:log",
            "max_depth=2:12",
            "subsample=0.5:1",
            "colsample_bytree=0.5:1",
            "reg_lambda=0.001:10:log",
            "reg_alpha=0.001:10:log",
        ),
        automl=AutoMLHints(
            order=4,
            first_trial_cost=1.5,
            portfolio=(
                {
                    "n_estimators": 1000,
                    "learning_rate": 0.03,
                    "max_depth": 4,
                    "subsample": 0.8,
                    "colsample_bytree": 0.7,
                },
            ),
            shap="native",
        ),
    ),
    Algorithm(
        "lightgbm",
        "LightGBM gradient-boosted trees (leaf-wise)",
        PROBLEM_TYPES,
        _LIGHTGBM_PARAMS,
        _build_lightgbm,
        iteration_metrics=_lightgbm_curves,
        fit_options=_lightgbm_fit_options,
        tuning_ranges=(
            "n_estimators=50:1000:log",
            "learning_rate=0.005:0.3:log",
            "num_leaves=8:256:log",
            "min_child_samples=5:200:log",
            "subsample=0.5:1",
            "colsample_bytree=0.5:1",
            "reg_lambda=0.001:10:log",
            "reg_alpha=0.001:10:log",
        ),
        automl=AutoMLHints(
            order=0,
            floor=True,
            portfolio=(
                {
                    "n_estimators": 1000,
                    "learning_rate": 0.03,
                    "num_leaves": 15,
                    "min_child_samples": 10,
                    "subsample": 0.8,
                    "colsample_bytree": 0.7,
                    "reg_lambda": 1.0,
                },
                {
                    "n_estimators": 600,
                    "learning_rate": 0.08,
                    "num_leaves": 63,
                    "min_child_samples": 30,
                    "subsample": 0.7,
                    "colsample_bytree": 0.5,
                    "reg_lambda": 3.0,
                },
            ),
            shap="native",
        ),
    ),
    Algorithm(
        "hist_gradient_boosting",
        "Histogram gradient-boosted trees (scikit-learn)",
        PROBLEM_TYPES,
        _HIST_GRADIENT_BOOSTING_PARAMS,
        _build_hist_gradient_boosting,
        # No fit_options: it early-stops on its own internal split (early_stopping), so AutoML's
        # deadline cannot stop it mid-fit; its default of 100 iterations is fit in one call.
        iterations_param="max_iter",
        dense_input_only=True,
        tuning_ranges=(
            "learning_rate=0.01:0.3:log",
            "max_iter=50:1000:log",
            "max_leaf_nodes=8:256:log",
            "min_samples_leaf=5:200:log",
            "l2_regularization=0.001:10:log",
            "max_features=0.5:1",
        ),
        automl=AutoMLHints(order=1, floor=True, shap="tree"),
    ),
    Algorithm(
        "catboost",
        "CatBoost gradient-boosted oblivious trees (needs the optional catboost extra)",
        PROBLEM_TYPES,
        _CATBOOST_PARAMS,
        _build_catboost,
        iteration_metrics=_catboost_curves,
        fit_options=_catboost_fit_options,
        best_iteration=_catboost_best_iteration,
        tuning_ranges=(
            "n_estimators=100:1500:log",
            "learning_rate=0.01:0.3:log",
            "depth=3:10",
            "l2_leaf_reg=0.1:30:log",
        ),
        automl=AutoMLHints(order=5, first_trial_cost=3.0, shap="native"),
    ),
]
