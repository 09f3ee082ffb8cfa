"""Tree models of scikit-learn: random forest, extra trees and a single decision tree."""

from __future__ import annotations

from kiln.algorithms._algorithm import (
    CLASS_WEIGHT,
    INF,
    Algorithm,
    AutoMLHints,
    default_threads,
)
from kiln.algorithms._params import Param
from kiln.problems import PROBLEM_TYPES, REGRESSION

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


# The catalog entries of this family (kiln.algorithms._catalog collects them).
ALGORITHMS: list[Algorithm] = [
    Algorithm(
        "random_forest",
        "Random forest of fully grown trees",
        PROBLEM_TYPES,
        _FOREST_PARAMS,
        _build_random_forest,
        tuning_ranges=(
            "n_estimators=100:1000:log",
            "max_depth=3:40",
            "min_samples_leaf=1:50:log",
            "max_features=sqrt,log2,all",
        ),
        automl=AutoMLHints(order=8, first_trial_cost=2.0, shap="tree"),
    ),
    Algorithm(
        "extra_trees",
        "Extremely randomised trees: a forest with random split thresholds",
        PROBLEM_TYPES,
        _EXTRA_TREES_PARAMS,
        _build_extra_trees,
        tuning_ranges=(
            "n_estimators=100:1000:log",
            "max_depth=3:40",
            "min_samples_leaf=1:50:log",
            "max_features=sqrt,log2,all",
        ),
        automl=AutoMLHints(
            order=6, portfolio=({"min_samples_leaf": 1, "max_features": "sqrt"},), shap="tree"
        ),
    ),
    Algorithm(
        "decision_tree",
        "A single CART decision tree (depth-limited, prunable)",
        PROBLEM_TYPES,
        _DECISION_TREE_PARAMS,
        _build_decision_tree,
        tuning_ranges=("max_depth=2:30", "min_samples_leaf=1:100:log", "ccp_alpha=0:0.02"),
    ),
]
