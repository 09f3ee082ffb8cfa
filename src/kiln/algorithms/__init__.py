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

__all__ = [
    "ALGORITHMS",
    "BINARY",
    "MULTICLASS",
    "PROBLEM_TYPES",
    "REGRESSION",
    "Algorithm",
    "Param",
    "get_algorithm",
]
