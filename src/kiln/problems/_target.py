"""Problem types, and how a target column decides and encodes one."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from kiln.errors import DataError

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "ANOMALY_DETECTION",
    "BINARY",
    "CLUSTERING",
    "DIMENSIONALITY_REDUCTION",
    "FORECASTING",
    "MULTICLASS",
    "PROBLEM_TYPES",
    "REGRESSION",
    "TOPIC_MODELING",
    "UNSUPERVISED_PROBLEM_TYPES",
    "encode_target",
    "infer_problem_type",
    "order_classes",
]

BINARY, MULTICLASS, REGRESSION = "binary", "multiclass", "regression"
# The supervised problem types (the unsupervised ones need no target).
PROBLEM_TYPES = (BINARY, MULTICLASS, REGRESSION)
# Forecasting: the next steps of each series of a long table (kiln.forecasting).
FORECASTING = "forecasting"
CLUSTERING = "clustering"
ANOMALY_DETECTION = "anomaly_detection"
DIMENSIONALITY_REDUCTION = "dimensionality_reduction"
TOPIC_MODELING = "topic_modeling"
UNSUPERVISED_PROBLEM_TYPES = (
    CLUSTERING,
    ANOMALY_DETECTION,
    DIMENSIONALITY_REDUCTION,
    TOPIC_MODELING,
)

_POSITIVE_NAMES = ("yes", "y", "true", "t", "1", "positive", "pos")


def infer_problem_type(target: pd.Series) -> str:
    """binary for two values, multiclass for text labels or few integers, else regression."""
    values = target.dropna()
    distinct = values.nunique()
    if distinct <= 2:
        return BINARY
    kind = values.dtype.kind
    if kind == "f":
        whole = np.allclose(values, values.round())
        return MULTICLASS if whole and distinct <= 10 else REGRESSION
    if kind in "iu":
        return MULTICLASS if distinct <= 10 else REGRESSION
    return MULTICLASS


def order_classes(values: list) -> list:
    """Sorted labels, the positive one last for binary problems (so it is column 1)."""
    classes = sorted(values, key=lambda v: (str(type(v)), v))
    if len(classes) == 2:
        first, second = classes
        if str(first).lower() in _POSITIVE_NAMES and str(second).lower() not in _POSITIVE_NAMES:
            classes = [second, first]
    return classes


def encode_target(values: pd.Series, problem_type: str, classes, target: str) -> np.ndarray:
    """The target as numbers: floats for regression, class indices (in ``classes`` order)
    otherwise."""
    if problem_type == REGRESSION:
        import pandas as pd  # here: opening a workspace does not load pandas

        if not pd.api.types.is_numeric_dtype(values):
            raise DataError(
                f"The target {target!r} is not numeric, so it cannot be a regression target. "
                "Use --problem-type binary or multiclass.",
                code="training.bad-target",
                field=target,
            )
        return values.to_numpy(dtype=float)
    index = {c: i for i, c in enumerate(classes)}
    return values.map(index).to_numpy(dtype=int)
