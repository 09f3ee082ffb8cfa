"""Model evaluation: metrics per problem type."""

from kiln.evaluation._metrics import (
    CLASSIFICATION_METRICS,
    LOWER_IS_BETTER,
    MULTICLASS_METRICS,
    REGRESSION_METRICS,
    evaluate,
    metric_names,
)

__all__ = [
    "CLASSIFICATION_METRICS",
    "LOWER_IS_BETTER",
    "MULTICLASS_METRICS",
    "REGRESSION_METRICS",
    "evaluate",
    "metric_names",
]
