"""Success criteria: ``roc_auc>=0.85`` checked against a run's metrics (defined in
kiln.problems, beside the metric table and the problem spec that also read them)."""

from kiln.problems import Criterion, check_metric_names, parse_criterion

__all__ = ["Criterion", "check_metric_names", "parse_criterion"]
