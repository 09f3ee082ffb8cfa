"""Clarify: bias metrics before and after training, and explanations (SHAP attributions, their
drift by NDCG); the analogue of SageMaker Clarify. See docs/clarify.md."""

from kiln.clarify._attributions import (
    DEFAULT_NDCG_THRESHOLD,
    attribution_ndcg,
    check_attribution,
    global_attributions,
    row_attributions,
)
from kiln.clarify._bias import (
    DEFAULT_ALLOWED,
    METRICS,
    BiasMetric,
    MetricInfo,
    allowed_ranges,
    bias_metrics,
    check_bias,
    distance_features,
    post_training_bias,
    pre_training_bias,
)
from kiln.clarify._facets import Condition, parse_facet
from kiln.clarify._service import BiasReport, ClarifyService, Explanation

__all__ = [
    "DEFAULT_ALLOWED",
    "DEFAULT_NDCG_THRESHOLD",
    "METRICS",
    "BiasMetric",
    "BiasReport",
    "ClarifyService",
    "Condition",
    "Explanation",
    "MetricInfo",
    "allowed_ranges",
    "attribution_ndcg",
    "bias_metrics",
    "check_attribution",
    "check_bias",
    "distance_features",
    "global_attributions",
    "parse_facet",
    "post_training_bias",
    "pre_training_bias",
    "row_attributions",
]
