"""Model monitoring: baselines, monitors over an endpoint's captured traffic (data quality and
drift, model quality, bias, attribution), alarms and their actions, the scheduler, and the
retraining loop; the analogue of SageMaker Model Monitor. See docs/monitoring.md."""

__all__: list[str] = []
