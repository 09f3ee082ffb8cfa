"""The built-in algorithm catalog."""

from kiln.algorithms import _catalog  # noqa: F401 - registers the built-in entries
from kiln.algorithms._algorithm import (
    ALGORITHMS,
    Algorithm,
    AutoMLHints,
    best_iteration,
    default_threads,
    get_algorithm,
    register_algorithm,
)
from kiln.algorithms._params import Param

# The problem types, re-exported: each algorithm declares which of them it does.
from kiln.problems import (
    ANOMALY_DETECTION,
    BINARY,
    CLUSTERING,
    DIMENSIONALITY_REDUCTION,
    MULTICLASS,
    PROBLEM_TYPES,
    REGRESSION,
    TOPIC_MODELING,
    UNSUPERVISED_PROBLEM_TYPES,
)

_ESTIMATORS = {
    "LinearLearnerClassifier": "kiln.algorithms._linear_learner",
    "LinearLearnerRegressor": "kiln.algorithms._linear_learner",
    "NeuralNetworkClassifier": "kiln.algorithms._neural",
    "NeuralNetworkRegressor": "kiln.algorithms._neural",
    "FactorizationMachineClassifier": "kiln.algorithms._factorization",
    "FactorizationMachineRegressor": "kiln.algorithms._factorization",
    "HistGradientBoostingClassifier": "kiln.algorithms._hist_gradient_boosting",
    "HistGradientBoostingRegressor": "kiln.algorithms._hist_gradient_boosting",
    "RandomCutForest": "kiln.algorithms._rcf",
    "DBSCANClusterer": "kiln.algorithms._unsupervised",
}


def __getattr__(name: str):
    # kiln's own estimators, imported on first use (they pull in scikit-learn and SciPy).
    if name in _ESTIMATORS:
        import importlib

        return getattr(importlib.import_module(_ESTIMATORS[name]), name)
    raise AttributeError(f"module 'kiln.algorithms' has no attribute {name!r}")


__all__ = [
    *_ESTIMATORS,
    "ALGORITHMS",
    "ANOMALY_DETECTION",
    "CLUSTERING",
    "DIMENSIONALITY_REDUCTION",
    "TOPIC_MODELING",
    "UNSUPERVISED_PROBLEM_TYPES",
    "BINARY",
    "MULTICLASS",
    "PROBLEM_TYPES",
    "REGRESSION",
    "Algorithm",
    "AutoMLHints",
    "Param",
    "best_iteration",
    "default_threads",
    "get_algorithm",
    "register_algorithm",
]
