"""Problem types (binary, multiclass, regression and the unsupervised ones), the target, and
the metrics each problem type reports.

The problem specification (success criteria, owner, ...) will live here too.
"""

from kiln.problems._metrics import (
    CLASSIFICATION_METRICS,
    DEFAULT_OBJECTIVE,
    LOWER_IS_BETTER,
    METRIC_SOURCES,
    METRICS,
    MULTICLASS_METRICS,
    PRIMARY_METRIC,
    REGRESSION_METRICS,
    SELECTION_SOURCES,
    UNSUPERVISED_METRICS,
    Metric,
    headline_metrics,
    legacy_automl_metrics,
    metric_names,
    selection_source,
)
from kiln.problems._target import (
    ANOMALY_DETECTION,
    BINARY,
    CLUSTERING,
    DIMENSIONALITY_REDUCTION,
    MULTICLASS,
    PROBLEM_TYPES,
    REGRESSION,
    TOPIC_MODELING,
    UNSUPERVISED_PROBLEM_TYPES,
    encode_target,
    infer_problem_type,
    order_classes,
)

__all__ = [
    "CLASSIFICATION_METRICS",
    "DEFAULT_OBJECTIVE",
    "LOWER_IS_BETTER",
    "METRICS",
    "METRIC_SOURCES",
    "MULTICLASS_METRICS",
    "PRIMARY_METRIC",
    "REGRESSION_METRICS",
    "SELECTION_SOURCES",
    "UNSUPERVISED_METRICS",
    "Metric",
    "headline_metrics",
    "legacy_automl_metrics",
    "metric_names",
    "selection_source",
    "ANOMALY_DETECTION",
    "BINARY",
    "CLUSTERING",
    "DIMENSIONALITY_REDUCTION",
    "MULTICLASS",
    "PROBLEM_TYPES",
    "REGRESSION",
    "TOPIC_MODELING",
    "UNSUPERVISED_PROBLEM_TYPES",
    "encode_target",
    "infer_problem_type",
    "order_classes",
]
