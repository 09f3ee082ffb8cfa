"""Model monitoring: baselines, monitors over an endpoint's captured traffic (data quality and
drift, model quality, bias, attribution), alarms and their actions, the scheduler, and the
retraining loop; the analogue of SageMaker Model Monitor. See docs/monitoring.md."""

from kiln.monitoring._alarms import (
    Alarm,
    AlarmService,
    evaluate_alarms,
    monitoring_metrics,
    parse_condition,
)
from kiln.monitoring._baselines import Baseline, model_frame
from kiln.monitoring._drift import QualityResult, check_data_quality
from kiln.monitoring._monitors import (
    MONITOR_TYPES,
    Monitor,
    MonitorRun,
    run_monitor_job,
    start_monitor_run,
)
from kiln.monitoring._report import monitor_report
from kiln.monitoring._retrain import model_metrics, run_retraining_job, start_retraining
from kiln.monitoring._scheduler import (
    SCHEDULE_KINDS,
    Schedule,
    Scheduler,
    ScheduleService,
    parse_schedule,
)
from kiln.monitoring._service import MonitoringService
from kiln.monitoring._simulate import drifted_columns, simulate_traffic
from kiln.monitoring._statistics import (
    dataset_statistics,
    suggest_constraints,
    validate_constraints,
)

__all__ = [
    "MONITOR_TYPES",
    "SCHEDULE_KINDS",
    "Alarm",
    "AlarmService",
    "Baseline",
    "Monitor",
    "MonitorRun",
    "MonitoringService",
    "QualityResult",
    "Schedule",
    "ScheduleService",
    "Scheduler",
    "check_data_quality",
    "dataset_statistics",
    "drifted_columns",
    "evaluate_alarms",
    "model_frame",
    "model_metrics",
    "monitor_report",
    "monitoring_metrics",
    "parse_condition",
    "parse_schedule",
    "run_monitor_job",
    "run_retraining_job",
    "simulate_traffic",
    "start_monitor_run",
    "start_retraining",
    "suggest_constraints",
    "validate_constraints",
]
