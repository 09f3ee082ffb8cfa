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
from kiln.monitoring._scheduler import (
    SCHEDULE_KINDS,
    Schedule,
    Scheduler,
    ScheduleService,
    parse_schedule,
)

__all__ = [
    "SCHEDULE_KINDS",
    "Alarm",
    "AlarmService",
    "Schedule",
    "ScheduleService",
    "Scheduler",
    "evaluate_alarms",
    "monitoring_metrics",
    "parse_condition",
    "parse_schedule",
]
