"""Model evaluation: metrics per problem type."""

from kiln.evaluation._metrics import (
    CLASSIFICATION_METRICS,
    LOWER_IS_BETTER,
    REGRESSION_METRICS,
    evaluate,
)

__all__ = ["CLASSIFICATION_METRICS", "LOWER_IS_BETTER", "REGRESSION_METRICS", "evaluate"]
