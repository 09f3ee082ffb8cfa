"""Model evaluation: metrics per problem type, the bias/variance diagnosis, explanations and the
training job's report."""

from kiln.evaluation._classification import threshold_table
from kiln.evaluation._clustering import clustering_section
from kiln.evaluation._diagnosis import diagnose
from kiln.evaluation._explain import ShapUnavailable, shap_values, transformed_feature_names
from kiln.evaluation._metrics import evaluate
from kiln.evaluation._report import training_report
from kiln.evaluation._unsupervised import (
    anomaly_metrics,
    clustering_metrics,
    reduction_metrics,
    topic_metrics,
)

__all__ = [
    "ShapUnavailable",
    "anomaly_metrics",
    "clustering_metrics",
    "clustering_section",
    "diagnose",
    "evaluate",
    "reduction_metrics",
    "shap_values",
    "threshold_table",
    "topic_metrics",
    "training_report",
    "transformed_feature_names",
]
