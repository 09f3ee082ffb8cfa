"""``ws.monitoring``: baselines, monitors and their runs, alarms, schedules and retraining."""

from __future__ import annotations

from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kiln.monitoring import _baselines, _monitors

if TYPE_CHECKING:
    import pandas as pd

    from kiln.context import Context
    from kiln.monitoring._alarms import AlarmService
    from kiln.monitoring._baselines import Baseline
    from kiln.monitoring._monitors import Monitor, MonitorRun
    from kiln.monitoring._scheduler import ScheduleService
    from kiln.store import Page

__all__ = ["MonitoringService"]


class MonitoringService:
    """Model monitoring on a workspace (``ws.monitoring``). See docs/monitoring.md."""

    def __init__(self, ctx: Context):
        self._ctx = ctx

    # -- baselines ------------------------------------------------------------------------------
    def baseline(self, data: str | None = None, *, model: str | None = None) -> Baseline:
        """Statistics and suggested constraints of data set ``data`` (``name[@V]``); with
        ``model``, of its training data by default, with its predictions and metrics."""
        return _baselines.create_baseline(self._ctx, data, model=model)

    def baselines(self) -> list[Baseline]:
        return _baselines.list_baselines(self._ctx)

    def get_baseline(self, baseline_id: str) -> Baseline:
        return _baselines.get_baseline(self._ctx, baseline_id)

    def set_constraint(self, baseline_id: str, path: str, value: Any) -> Baseline:
        """Set one constraint by a dotted path (``age.drift.psi``, ``age.completeness``,
        ``model_quality.roc_auc.threshold``)."""
        return _baselines.set_constraint(self._ctx, baseline_id, path, value)

    def replace_constraints(self, baseline_id: str, document: dict) -> Baseline:
        """Replace a baseline's whole constraints document (checked first)."""
        return _baselines.replace_constraints(self._ctx, baseline_id, document)

    def compare(self, reference: str, current: str, *, baseline: str | None = None) -> MonitorRun:
        """Data quality and drift of data set ``current`` against ``reference``, no endpoint."""
        return _monitors.compare_datasets(self._ctx, reference, current, baseline=baseline)

    # -- monitors -------------------------------------------------------------------------------
    def create(
        self,
        name: str,
        *,
        endpoint: str,
        type: str,
        schedule: str = "hourly",
        baseline: str | None = None,
        window: str | float = "1h",
        offset: str | float = "0s",
        **config: Any,
    ) -> Monitor:
        """A monitor on ``endpoint``'s captured traffic; see
        :func:`kiln.monitoring._monitors.create_monitor`."""
        return _monitors.create_monitor(
            self._ctx,
            name,
            endpoint=endpoint,
            type=type,
            schedule=schedule,
            baseline=baseline,
            window=window,
            offset=offset,
            **config,
        )

    def list(self, endpoint: str | None = None) -> list[Monitor]:
        return _monitors.list_monitors(self._ctx, endpoint)

    def get(self, name: str) -> Monitor:
        return _monitors.get_monitor(self._ctx, name)

    def delete(self, name: str) -> Monitor:
        return _monitors.delete_monitor(self._ctx, name)

    def run(self, name: str, *, at: datetime | None = None, on_log=None) -> MonitorRun:
        """Run monitor ``name`` now, as a job; returns its run."""
        return _monitors.run_monitor(self._ctx, name, at=at, on_log=on_log)

    def runs(self, name: str | None = None, *, limit: int = 50) -> list[MonitorRun]:
        return _monitors.list_runs(self._ctx, name, limit=limit)

    def start(self, name: str) -> str:
        """Start a run of monitor ``name`` now, as a job, and return its id at once (the run is
        recorded when the job ends; see :meth:`run` to wait for it)."""
        return _monitors.start_monitor_run(self._ctx, name, wait=False)

    def summaries(self) -> list[dict]:
        """Each monitor with its next scheduled run and its latest run (status, time,
        violations): what a list of monitors shows."""
        return _monitors.monitor_summaries(self._ctx)

    def runs_page(
        self,
        name: str | None = None,
        *,
        status: str | None = None,
        sort: str | None = None,
        limit: int | None = 50,
        offset: int | None = 0,
    ) -> Page[dict]:
        """A page of runs (of monitor ``name``, or all), newest first, without their
        summaries; sort by ``started_at``, ``status`` or ``id``."""
        return _monitors.runs_page(
            self._ctx, name, status=status, sort=sort, limit=limit, offset=offset
        )

    def drift_history(self, name: str, *, limit: int = 500) -> dict:
        """Each drift statistic of each feature, and each other metric, across the monitor's
        last ``limit`` runs (oldest first): one series per feature and statistic, for charts."""
        return _monitors.drift_history(self._ctx, name, limit=limit)

    def get_run(self, run_id: str) -> MonitorRun:
        return _monitors.get_run(self._ctx, run_id)

    def report(self, run_id: str, *, out: str | Path | None = None) -> Path:
        """Write a run's HTML report; returns its path."""
        return _monitors.run_report(self._ctx, run_id, out=out)

    def report_path(self, run_id: str) -> Path:
        """A run's HTML report, written once to the workspace's ``reports/studio`` folder (its
        plotly.js beside it) and then read from there: what Studio shows."""
        run = self.get_run(run_id)
        path = Path(self._ctx.home) / "reports" / "studio" / f"{run.id}.html"
        if not path.exists():
            _monitors.run_report(self._ctx, run.id, out=path)
        return path

    def history(self, name: str, *, metrics: list[str] | None = None) -> list[dict]:
        """Each run's time, status and metrics, oldest first."""
        return _monitors.monitor_history(self._ctx, name, metrics=metrics)

    def history_report(
        self, name: str, *, out: str | Path, metrics: list[str] | None = None
    ) -> Path:
        """An HTML page plotting each metric of monitor ``name`` over time."""
        return _monitors.history_report(self._ctx, name, out=out, metrics=metrics)

    # -- forecasting endpoints ------------------------------------------------------------------
    def upload_actuals(self, endpoint: str, source: str | Path | pd.DataFrame | list[dict]) -> dict:
        """Store actual values of forecasting endpoint ``endpoint``'s series (rows of its model's
        id columns, timestamp and target): what forecast-quality monitors compare the captured
        forecasts with. Answers the counts; see docs/forecasting.md."""
        from kiln.monitoring._forecast_quality import upload_actuals

        return upload_actuals(self._ctx, endpoint, source)

    def forecast_quality(
        self, endpoint: str, *, since: datetime | None = None, until: datetime | None = None
    ) -> dict:
        """MASE, WQL, sMAPE, MAPE, RMSE and coverage of the forecasts ``endpoint`` captured
        whose actuals have arrived, overall, by step and per series (no monitor needed)."""
        from kiln.monitoring._forecast_quality import forecast_quality

        return forecast_quality(self._ctx, endpoint, since=since, until=until)

    # -- alarms, schedules, retraining ----------------------------------------------------------
    @cached_property
    def alarms(self) -> AlarmService:
        from kiln.monitoring._alarms import AlarmService

        return AlarmService(self._ctx)

    @cached_property
    def schedules(self) -> ScheduleService:
        from kiln.monitoring._scheduler import ScheduleService

        return ScheduleService(self._ctx)

    def retrain(
        self, spec: str, *, endpoint: str | None = None, reason: Any = None, on_log=None
    ) -> str:
        """Retrain the model of endpoint or model ``spec`` on the newest data, as a job; returns
        the job id (its result names the candidate and its comparison)."""
        from kiln.monitoring._retrain import start_retraining

        return start_retraining(self._ctx, spec, endpoint=endpoint, reason=reason, on_log=on_log)
