"""Model monitoring: baselines, monitors over an endpoint's captured traffic (data quality and
drift, model quality, bias, attribution), alarms and their actions, the scheduler, and the
retraining loop; the analogue of SageMaker Model Monitor. See docs/monitoring.md."""

from kiln.monitoring._drift import QualityResult, check_data_quality
from kiln.monitoring._report import monitor_report
from kiln.monitoring._statistics import (
    dataset_statistics,
    suggest_constraints,
    validate_constraints,
)

__all__: list[str] = []
__all__ = [
    *__all__,
    "QualityResult",
    "check_data_quality",
    "dataset_statistics",
    "monitor_report",
    "suggest_constraints",
    "validate_constraints",
]
