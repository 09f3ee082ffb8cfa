"""The built-in algorithm catalog."""

from kiln.algorithms._catalog import (
    ALGORITHMS,
    BINARY,
    MULTICLASS,
    PROBLEM_TYPES,
    REGRESSION,
    Algorithm,
    get_algorithm,
)
from kiln.algorithms._params import Param
from kiln.algorithms._unsupervised import (
    ANOMALY_DETECTION,
    CLUSTERING,
    DIMENSIONALITY_REDUCTION,
    TOPIC_MODELING,
    UNSUPERVISED_ALGORITHMS,
    UNSUPERVISED_PROBLEM_TYPES,
)

ALGORITHMS.update(UNSUPERVISED_ALGORITHMS)

__all__ = [
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
    "Param",
    "get_algorithm",
]
