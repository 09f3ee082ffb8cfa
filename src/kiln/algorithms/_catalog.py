"""The built-in algorithms: each builds a scikit-learn estimator from validated hyperparameters."""

from __future__ import annotations

import difflib
import inspect
import math
import numbers
import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from kiln.algorithms._params import Param, validate_hyperparameters
from kiln.errors import ConfigError
from kiln.problems import BINARY, MULTICLASS, PROBLEM_TYPES, REGRESSION

INF = math.inf
# The hyperparameters of a text model's vectoriser: the recipe takes them, not the estimator.
TEXT_VECTORISER_PARAMS = ("ngram_max", "min_document_frequency", "vocabulary_size")

# Shared by the classifiers that can re-weight classes.
CLASS_WEIGHT = Param(
    "class_weight",
    "choice",
    "none",
    "balanced re-weights classes by inverse frequency",
    choices=("none", "balanced"),
)


def default_threads() -> int:
    """The cores this process may use (its CPU affinity, e.g. under taskset or a container
    limit), not all the machine's."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
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
    # Reads the data set's text columns (TF-IDF / counts) instead of the tabular recipe.
    text_input: bool = False
    # Reads per-iteration losses off a fitted estimator: {metric name: [values by iteration]}.
    iteration_metrics: Callable[[Any], dict[str, list[float]]] | None = None
    # Extra fit() arguments given the training and validation (X, y) pairs, e.g. eval_set.
    fit_options: Callable[[dict, tuple, tuple], dict] | None = None
    # The hyperparameter counting boosting rounds or epochs: a cross-validated model is refit with
    # the folds' mean best iteration (from early stopping) in it.
    iterations_param: str = "n_estimators"
    # The best iteration of a fitted estimator, counted from 1 (None: no early stopping took place).
    best_iteration: Callable[[Any], int | None] | None = None
    aliases: tuple[str, ...] = field(default=())
    # The default search space of a tuning job, as --range texts (see kiln.tuning).
    tuning_ranges: tuple[str, ...] = field(default=())

    def build_estimator(self, problem_type: str, hp: dict[str, Any], seed: int) -> Any:
        """The estimator for hyperparameters ``hp``, less those of the text vectoriser (which the
        recipe consumes); training and the report's refits build it this one way."""
        if self.text_input:
            hp = {k: v for k, v in hp.items() if k not in TEXT_VECTORISER_PARAMS}
        return self.build(problem_type, hp, seed)

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
    CLASS_WEIGHT,
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


# -- extra trees ----------------------------------------------------------------------------------
_EXTRA_TREES_PARAMS = [
    Param("n_estimators", "int", 300, "number of trees", 1, 10000),
    Param(
        "max_depth", "int", None, "maximum tree depth (none: grow fully)", 1, 1000, nullable=True
    ),
    Param("min_samples_leaf", "int", 3, "minimum rows in a leaf", 1, 100000),
    Param(
        "max_features",
        "choice",
        "auto",
        "features tried per split (auto: sqrt for classification, all for regression)",
        choices=("auto", "sqrt", "log2", "all"),
    ),
    Param(
        "class_weight",
        "choice",
        "none",
        "balanced re-weights classes by inverse frequency",
        choices=("none", "balanced", "balanced_subsample"),
    ),
]


def _build_extra_trees(problem_type: str, hp: dict, seed: int):
    from sklearn import ensemble

    max_features = hp["max_features"]
    if max_features == "auto":
        max_features = "all" if problem_type == REGRESSION else "sqrt"
    common = dict(
        n_estimators=hp["n_estimators"],
        max_depth=hp["max_depth"],
        min_samples_leaf=hp["min_samples_leaf"],
        max_features=None if max_features == "all" else max_features,
        n_jobs=default_threads(),
        random_state=seed,
    )
    if problem_type == REGRESSION:
        return ensemble.ExtraTreesRegressor(**common)
    class_weight = None if hp["class_weight"] == "none" else hp["class_weight"]
    return ensemble.ExtraTreesClassifier(class_weight=class_weight, **common)


# -- decision tree --------------------------------------------------------------------------------
_DECISION_TREE_PARAMS = [
    Param("max_depth", "int", 6, "maximum tree depth (none: grow fully)", 1, 1000, nullable=True),
    Param("min_samples_leaf", "int", 5, "minimum rows in a leaf", 1, 100000),
    Param(
        "ccp_alpha",
        "float",
        0.0,
        "cost-complexity pruning: larger prunes more of the grown tree",
        0.0,
        INF,
    ),
    CLASS_WEIGHT,
]


def _build_decision_tree(problem_type: str, hp: dict, seed: int):
    from sklearn import tree

    common = dict(
        max_depth=hp["max_depth"],
        min_samples_leaf=hp["min_samples_leaf"],
        ccp_alpha=hp["ccp_alpha"],
        random_state=seed,
    )
    if problem_type == REGRESSION:
        return tree.DecisionTreeRegressor(**common)
    class_weight = None if hp["class_weight"] == "none" else hp["class_weight"]
    return tree.DecisionTreeClassifier(class_weight=class_weight, **common)


# -- k-nearest neighbours -------------------------------------------------------------------------
_KNN_PARAMS = [
    Param("n_neighbors", "int", 15, "neighbours that vote (or are averaged)", 1, 10000),
    Param(
        "weights",
        "choice",
        "uniform",
        "uniform: every neighbour counts the same; distance: closer ones count more",
        choices=("uniform", "distance"),
    ),
    Param(
        "metric",
        "choice",
        "euclidean",
        "distance between rows (numerics standardised)",
        choices=("euclidean", "manhattan"),
    ),
]


def _build_knn(problem_type: str, hp: dict, seed: int):
    from sklearn import neighbors

    common = dict(
        n_neighbors=hp["n_neighbors"],
        weights=hp["weights"],
        metric=hp["metric"],
        n_jobs=default_threads(),
    )
    if problem_type == REGRESSION:
        return neighbors.KNeighborsRegressor(**common)
    return neighbors.KNeighborsClassifier(**common)


# -- naive Bayes ----------------------------------------------------------------------------------
_NAIVE_BAYES_PARAMS = [
    Param(
        "var_smoothing",
        "float",
        1e-9,
        "share of the largest feature variance added to every variance (stability)",
        0.0,
        1.0,
    ),
]


def _build_naive_bayes(problem_type: str, hp: dict, seed: int):
    from sklearn import naive_bayes

    return naive_bayes.GaussianNB(var_smoothing=hp["var_smoothing"])


# -- support vector machine -----------------------------------------------------------------------
_SVM_PARAMS = [
    Param("kernel", "choice", "rbf", "kernel function", choices=("rbf", "linear", "poly")),
    Param("C", "float", 0.5, "penalty on margin violations (larger: less regularised)", 1e-6, 1e6),
    Param(
        "gamma",
        "float",
        None,
        "rbf/poly kernel coefficient (none: 1 / number of features, scikit-learn's 'auto')",
        1e-8,
        1e4,
        nullable=True,
    ),
    Param("degree", "int", 3, "degree of the poly kernel", 1, 10),
    Param(
        "epsilon",
        "float",
        0.1,
        "regression: width of the no-penalty tube, in standard deviations of the target",
        0.0,
        10.0,
    ),
    CLASS_WEIGHT,
]


def _build_svm(problem_type: str, hp: dict, seed: int):
    from sklearn import svm

    kernel = dict(
        kernel=hp["kernel"],
        C=hp["C"],
        gamma="auto" if hp["gamma"] is None else hp["gamma"],
        degree=hp["degree"],
        cache_size=500,
    )
    if problem_type == REGRESSION:
        from sklearn.compose import TransformedTargetRegressor
        from sklearn.preprocessing import StandardScaler

        # On the standardised target, so C and epsilon mean the same for any target scale.
        return TransformedTargetRegressor(
            regressor=svm.SVR(epsilon=hp["epsilon"], **kernel), transformer=StandardScaler()
        )
    from sklearn.calibration import CalibratedClassifierCV

    # Platt scaling fitted on 5-fold out-of-fold decision values, one final SVC on all rows:
    # what SVC(probability=True) did before scikit-learn 1.9 deprecated it.
    class_weight = None if hp["class_weight"] == "none" else "balanced"
    return CalibratedClassifierCV(
        svm.SVC(class_weight=class_weight, random_state=seed, **kernel),
        method="sigmoid",
        cv=5,
        ensemble=False,
    )


# -- epoch-trained models: linear learner, multilayer perceptron, factorization machines -------
def _early_stopping(unit: str, default: int) -> Param:
    return Param(
        "early_stopping_rounds",
        "int",
        default,
        f"stop when the validation loss has not improved for this many {unit} (0: off)",
        0,
        10000,
    )


LINEAR_LEARNER_PARAMS = [
    Param(
        "optimizer",
        "choice",
        "minibatch",
        "minibatch: each step averages batch_size rows; sgd: one step per row (scikit-learn SGD)",
        choices=("minibatch", "sgd"),
    ),
    Param("batch_size", "int", 32, "rows per step of the minibatch optimizer", 1, 100000),
    Param("epochs", "int", 100, "passes over the training rows", 1, 10000),
    Param(
        "penalty",
        "choice",
        "l2",
        "regularisation: l2 (ridge), l1 (lasso), elasticnet or none",
        choices=("l2", "l1", "elasticnet", "none"),
    ),
    Param("alpha", "float", 1e-4, "regularisation strength (larger: simpler model)", 1e-10, 1e3),
    Param("l1_ratio", "float", 0.15, "share of L1 in elasticnet", 0.0, 1.0),
    Param(
        "learning_rate",
        "choice",
        "adaptive",
        "step-size schedule (t: rows seen): constant (eta0), optimal (1 / (alpha·(t + t0))), "
        "invscaling (eta0 / (t + 1)^power_t) or adaptive (eta0, divided by 5 whenever the "
        "training objective stalls for 2 epochs)",
        choices=("constant", "optimal", "invscaling", "adaptive"),
    ),
    Param(
        "eta0",
        "float",
        None,
        "initial step size for constant, invscaling and adaptive (none: 1 / the loss's "
        "curvature bound from the mean squared row norm)",
        1e-6,
        100.0,
        nullable=True,
    ),
    Param("power_t", "float", 0.25, "exponent of the invscaling schedule", 0.0, 5.0),
    _early_stopping("epochs", 5),
]


MLP_PARAMS = [
    Param(
        "hidden_layer_sizes",
        "int_list",
        "64,32",
        "neurons in each hidden layer, first to last",
        1,
        4096,
    ),
    Param(
        "activation",
        "choice",
        "relu",
        "activation of the hidden layers",
        choices=("relu", "tanh", "logistic"),
    ),
    Param("alpha", "float", 1e-3, "L2 penalty on the weights", 0.0, 1e3),
    Param("learning_rate_init", "float", 1e-3, "Adam step size", 1e-6, 1.0),
    Param("batch_size", "int", 64, "rows per Adam step", 1, 100000),
    Param("epochs", "int", 100, "passes over the training rows", 1, 10000),
    _early_stopping("epochs", 10),
]


FACTORIZATION_MACHINE_PARAMS = [
    Param("num_factors", "int", 8, "length of each feature's latent vector", 1, 1024),
    Param(
        "optimizer",
        "choice",
        "adam",
        "adam, or sgd (plain mini-batch gradient steps)",
        choices=("adam", "sgd"),
    ),
    Param("epochs", "int", 50, "passes over the training rows", 1, 10000),
    Param("batch_size", "int", 128, "rows per step", 1, 100000),
    Param("learning_rate", "float", 0.01, "step size", 1e-6, 10.0),
    Param("reg_linear", "float", 1e-4, "L2 penalty on the linear weights", 0.0, 1e3),
    Param("reg_factors", "float", 1e-3, "L2 penalty on the latent vectors", 0.0, 1e3),
    Param("init_std", "float", 0.01, "standard deviation of the initial latent vectors", 1e-6, 1.0),
    _early_stopping("epochs", 5),
]


def _kiln_estimator(module: str, prefix: str) -> Callable[[str, dict, int], Any]:
    """The build function of one of kiln's own estimator pairs (``<prefix>Classifier`` and
    ``<prefix>Regressor`` in ``kiln.algorithms.<module>``), imported on first use."""

    def build(problem_type: str, hp: dict, seed: int):
        import importlib

        estimators = importlib.import_module(f"kiln.algorithms.{module}")
        kind = "Regressor" if problem_type == REGRESSION else "Classifier"
        return getattr(estimators, f"{prefix}{kind}")(random_state=seed, **hp)

    return build


def _epoch_fit_options(hp: dict, train: tuple, validation: tuple) -> dict:
    return {"eval_set": validation}


def _epoch_curves(estimator) -> dict[str, list[float]]:
    return estimator.iteration_metrics()


def _epoch_best_iteration(estimator) -> int | None:
    return estimator.best_iteration_


# Default tuning ranges: where good values usually are, much narrower than what is valid.
TUNING_RANGES: dict[str, tuple[str, ...]] = {
    "xgboost": (
        "n_estimators=50:1000:log",
        "learning_rate=0.005:0.3:log",
        "max_depth=2:12",
        "subsample=0.5:1",
        "colsample_bytree=0.5:1",
        "reg_lambda=0.001:10:log",
        "reg_alpha=0.001:10:log",
    ),
    "lightgbm": (
        "n_estimators=50:1000:log",
        "learning_rate=0.005:0.3:log",
        "num_leaves=8:256:log",
        "min_child_samples=5:200:log",
        "subsample=0.5:1",
        "colsample_bytree=0.5:1",
        "reg_lambda=0.001:10:log",
        "reg_alpha=0.001:10:log",
    ),
    "catboost": (
        "n_estimators=100:1500:log",
        "learning_rate=0.01:0.3:log",
        "depth=3:10",
        "l2_leaf_reg=0.1:30:log",
    ),
    "linear": ("alpha=0.0001:1000:log", "penalty=l2,l1,elasticnet", "l1_ratio=0:1"),
    "linear_learner": ("alpha=0.000001:1:log", "l1_ratio=0:1", "batch_size=16:512:log"),
    "random_forest": (
        "n_estimators=100:1000:log",
        "max_depth=3:40",
        "min_samples_leaf=1:50:log",
        "max_features=sqrt,log2,all",
    ),
    "extra_trees": (
        "n_estimators=100:1000:log",
        "max_depth=3:40",
        "min_samples_leaf=1:50:log",
        "max_features=sqrt,log2,all",
    ),
    "decision_tree": ("max_depth=2:30", "min_samples_leaf=1:100:log", "ccp_alpha=0:0.02"),
    "knn": ("n_neighbors=1:100:log", "weights=uniform,distance", "metric=euclidean,manhattan"),
    "naive_bayes": ("var_smoothing=0.000000001:0.01:log",),
    "svm": ("C=0.01:100:log", "gamma=0.0001:1:log", "kernel=rbf,linear"),
    "mlp": (
        "alpha=0.000001:0.1:log",
        "learning_rate_init=0.0001:0.03:log",
        "batch_size=16:256:log",
        "activation=relu,tanh",
    ),
    "factorization_machines": (
        "num_factors=2:64:log",
        "learning_rate=0.0005:0.1:log",
        "reg_factors=0.000001:0.1:log",
    ),
}

ALGORITHMS: dict[str, Algorithm] = {
    a.name: replace(a, tuning_ranges=TUNING_RANGES.get(a.name, ()))
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
        Algorithm(
            "linear_learner",
            "Logistic / linear regression trained by SGD or mini-batch SGD, epoch by epoch",
            PROBLEM_TYPES,
            LINEAR_LEARNER_PARAMS,
            _kiln_estimator("_linear_learner", "LinearLearner"),
            scale_numeric=True,
            iteration_metrics=_epoch_curves,
            fit_options=_epoch_fit_options,
            iterations_param="epochs",
            best_iteration=_epoch_best_iteration,
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
        ),
        Algorithm(
            "extra_trees",
            "Extremely randomised trees: a forest with random split thresholds",
            PROBLEM_TYPES,
            _EXTRA_TREES_PARAMS,
            _build_extra_trees,
        ),
        Algorithm(
            "decision_tree",
            "A single CART decision tree (depth-limited, prunable)",
            PROBLEM_TYPES,
            _DECISION_TREE_PARAMS,
            _build_decision_tree,
        ),
        Algorithm(
            "knn",
            "k-nearest neighbours on standardised numerics and one-hot categories",
            PROBLEM_TYPES,
            _KNN_PARAMS,
            _build_knn,
            scale_numeric=True,
        ),
        Algorithm(
            "naive_bayes",
            "Gaussian naive Bayes (classification only)",
            (BINARY, MULTICLASS),
            _NAIVE_BAYES_PARAMS,
            _build_naive_bayes,
            scale_numeric=True,
        ),
        Algorithm(
            "svm",
            "Support vector machine (SVC with Platt probabilities, SVR); for small and medium "
            "data: fit time grows quadratically with rows",
            PROBLEM_TYPES,
            _SVM_PARAMS,
            _build_svm,
            scale_numeric=True,
        ),
        Algorithm(
            "mlp",
            "Multilayer perceptron (Adam) trained epoch by epoch, early stopping on validation",
            PROBLEM_TYPES,
            MLP_PARAMS,
            _kiln_estimator("_neural", "NeuralNetwork"),
            scale_numeric=True,
            iteration_metrics=_epoch_curves,
            fit_options=_epoch_fit_options,
            iterations_param="epochs",
            best_iteration=_epoch_best_iteration,
        ),
        Algorithm(
            "factorization_machines",
            "Factorization machine (pairwise interactions through latent vectors) on sparse input",
            (BINARY, REGRESSION),
            FACTORIZATION_MACHINE_PARAMS,
            _kiln_estimator("_factorization", "FactorizationMachine"),
            scale_numeric=True,
            sparse_input=True,
            iteration_metrics=_epoch_curves,
            fit_options=_epoch_fit_options,
            iterations_param="epochs",
            best_iteration=_epoch_best_iteration,
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


def best_iteration(algorithm: Algorithm | None, estimator) -> int | None:
    """The iteration early stopping kept, counted from 1 (None without early stopping).

    The algorithm's own reader when it has one (CatBoost counts from 0, kiln's epoch models keep
    ``best_iteration_``); otherwise the scikit-learn-style attributes. ``algorithm`` may be None
    for a model kiln did not build from its catalog.
    """
    if algorithm is not None and algorithm.best_iteration is not None:
        return algorithm.best_iteration(estimator)
    for name in ("best_iteration_", "best_iteration"):
        try:
            value = getattr(estimator, name, None)
        except (AttributeError, ValueError):
            value = None
        if isinstance(value, numbers.Integral) and value > 0:
            return int(value) + (1 if name == "best_iteration" else 0)
    return None
