"""Model evaluation: metrics per problem type."""

from kiln.evaluation._diagnosis import diagnose
from kiln.evaluation._metrics import (
    CLASSIFICATION_METRICS,
    LOWER_IS_BETTER,
    MULTICLASS_METRICS,
    REGRESSION_METRICS,
    evaluate,
    metric_names,
)
from kiln.evaluation._report import JobReport, clustering_section, report

__all__ = [
    "CLASSIFICATION_METRICS",
    "JobReport",
    "clustering_section",
    "diagnose",
    "report",
    "LOWER_IS_BETTER",
    "MULTICLASS_METRICS",
    "REGRESSION_METRICS",
    "evaluate",
    "metric_names",
]
