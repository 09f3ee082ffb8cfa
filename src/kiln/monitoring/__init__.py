"""Model monitoring: baselines, monitors over an endpoint's captured traffic (data quality and
drift, model quality, bias, attribution), alarms and their actions, the scheduler, and the
retraining loop; the analogue of SageMaker Model Monitor. See docs/monitoring.md."""

from kiln.monitoring._baselines import Baseline, model_frame
from kiln.monitoring._monitors import (
    MONITOR_TYPES,
    Monitor,
    MonitorRun,
    run_monitor_job,
    start_monitor_run,
)
from kiln.monitoring._retrain import model_metrics, run_retraining_job, start_retraining
from kiln.monitoring._service import MonitoringService
from kiln.monitoring._simulate import drifted_columns, simulate_traffic

__all__ = [
    "MONITOR_TYPES",
    "Baseline",
    "Monitor",
    "MonitorRun",
    "MonitoringService",
    "drifted_columns",
    "model_frame",
    "model_metrics",
    "run_monitor_job",
    "run_retraining_job",
    "simulate_traffic",
    "start_monitor_run",
    "start_retraining",
]
