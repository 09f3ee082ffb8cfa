"""scikit-learn's classic models: regularised linear models, k-nearest neighbours, naive Bayes
and support vector machines."""

from __future__ import annotations

import math

from kiln.algorithms._algorithm import (
    CLASS_WEIGHT,
    Algorithm,
    AutoMLHints,
    default_threads,
)
from kiln.algorithms._params import Param
from kiln.problems import BINARY, MULTICLASS, PROBLEM_TYPES, REGRESSION

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


# The catalog entries of this family (kiln.algorithms._catalog collects them).
ALGORITHMS: list[Algorithm] = [
    Algorithm(
        "linear",
        "Logistic / linear regression with L1, L2 or elastic-net regularisation",
        PROBLEM_TYPES,
        _LINEAR_PARAMS,
        _build_linear,
        scale_numeric=True,
        tuning_ranges=("alpha=0.0001:1000:log", "penalty=l2,l1,elasticnet", "l1_ratio=0:1"),
        automl=AutoMLHints(order=2, floor=True, portfolio=({"alpha": 0.1}, {"alpha": 10.0})),
    ),
    Algorithm(
        "knn",
        "k-nearest neighbours on standardised numerics and one-hot categories",
        PROBLEM_TYPES,
        _KNN_PARAMS,
        _build_knn,
        scale_numeric=True,
        tuning_ranges=(
            "n_neighbors=1:100:log",
            "weights=uniform,distance",
            "metric=euclidean,manhattan",
        ),
        automl=AutoMLHints(order=3, portfolio=({"n_neighbors": 30, "weights": "distance"},)),
    ),
    Algorithm(
        "naive_bayes",
        "Gaussian naive Bayes (classification only)",
        (BINARY, MULTICLASS),
        _NAIVE_BAYES_PARAMS,
        _build_naive_bayes,
        scale_numeric=True,
        tuning_ranges=("var_smoothing=0.000000001:0.01:log",),
    ),
    Algorithm(
        "svm",
        "Support vector machine (SVC with Platt probabilities, SVR); for small and medium "
        "data: fit time grows quadratically with rows",
        PROBLEM_TYPES,
        _SVM_PARAMS,
        _build_svm,
        scale_numeric=True,
        tuning_ranges=("C=0.01:100:log", "gamma=0.0001:1:log", "kernel=rbf,linear"),
    ),
]
