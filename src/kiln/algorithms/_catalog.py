"""The built-in catalog: every family's entries, registered in the order they are listed.

To add an algorithm, add its ``Algorithm`` entry to a family module's ``ALGORITHMS`` list (or a new
family module here); ``tests/algorithms/test_conformance.py`` then runs it through the estimator
contract, and ``tests/training/test_algorithms_floor.py`` asks for its floor test.
"""

from __future__ import annotations

from kiln.algorithms import _boosting, _classic, _epochs, _trees, _unsupervised
from kiln.algorithms._algorithm import ALGORITHMS, register_algorithm

__all__ = ["ALGORITHMS"]

_ORDER = (
    "xgboost",
    "lightgbm",
    "hist_gradient_boosting",
    "linear",
    "random_forest",
    "linear_learner",
    "catboost",
    "extra_trees",
    "decision_tree",
    "knn",
    "naive_bayes",
    "svm",
    "mlp",
    "factorization_machines",
)
_SUPERVISED = {a.name: a for m in (_boosting, _classic, _epochs, _trees) for a in m.ALGORITHMS}
for _name in _ORDER:
    register_algorithm(_SUPERVISED.pop(_name))
for _algorithm in [*_SUPERVISED.values(), *_unsupervised.UNSUPERVISED_ALGORITHMS.values()]:
    register_algorithm(_algorithm)
