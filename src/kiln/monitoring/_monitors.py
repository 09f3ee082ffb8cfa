"""Monitors: a check of an endpoint's captured traffic over a window, run as a job on a schedule
(data quality and drift, model quality, bias, attribution drift), and each run's record: its
metrics, violations and HTML report. Also ``compare``: the data-quality check on two data set
versions, without an endpoint."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
from sqlalchemy import delete as sql_delete
from sqlalchemy import func, select
from sqlalchemy.orm import load_only

from kiln.data import META_COLUMNS, capture_records, capture_rows
from kiln.endpoints import parse_duration
from kiln.errors import ConfigError, NotFound, StateError
from kiln.monitoring._baselines import Baseline, create_baseline, get_baseline
from kiln.monitoring._scheduler import _iso
from kiln.store import (
    BaselineRow,
    MonitorRow,
    MonitorRunRow,
    Page,
    Record,
    ScheduleRow,
    new_id,
    now,
    paged,
    who,
)

if TYPE_CHECKING:
    from kiln.context import Context

__all__ = [
    "MONITOR_TYPES",
    "Monitor",
    "MonitorRun",
    "compare_datasets",
    "create_monitor",
    "delete_monitor",
    "drift_history",
    "get_monitor",
    "get_run",
    "list_monitors",
    "list_runs",
    "monitor_history",
    "monitor_summaries",
    "run_monitor",
    "run_monitor_job",
    "run_report",
    "runs_page",
    "start_monitor_run",
]

DATA_QUALITY, MODEL_QUALITY, BIAS, ATTRIBUTION, FORECAST_QUALITY = (
    "data-quality",
    "model-quality",
    "bias",
    "attribution",
    "forecast-quality",
)
MONITOR_TYPES = (DATA_QUALITY, MODEL_QUALITY, BIAS, ATTRIBUTION, FORECAST_QUALITY)
COMPLETED, NO_DATA, FAILED = "Completed", "NoData", "Failed"
# Labelled rows a model-quality or bias run needs before its figures mean anything.
MIN_LABELLED_ROWS = 20
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")


@dataclass(frozen=True)
class Monitor(Record):
    name: str
    endpoint: str
    type: str
    baseline_id: str | None
    schedule: str
    window_seconds: float
    offset_seconds: float
    config: dict
    created_at: datetime
    created_by: str

    def to_dict(self) -> dict:
        return self._plain()


@dataclass(frozen=True)
class MonitorRun(Record):
    id: str
    monitor: str | None
    type: str
    job_id: str | None
    status: str
    started_at: datetime
    ended_at: datetime | None
    window_start: datetime | None
    window_end: datetime | None
    inputs: dict
    metrics: dict
    violations: list
    summary: dict
    report_digest: str | None
    failure_reason: str | None

    def to_dict(self) -> dict:
        return self._plain()


# -- monitors ---------------------------------------------------------------------------------
def create_monitor(
    ctx: Context,
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
    """Create monitor ``name`` on ``endpoint``'s captured traffic, and its schedule.

    ``type``: data-quality, model-quality, bias, attribution, or forecast-quality (a forecasting
    endpoint's forecasts against the actuals uploaded for them; ``thresholds`` default to
    ``mase`` 1.2 and ``coverage`` nominal − 0.1; docs/forecasting.md). Without ``baseline``, one is
    made from the endpoint's model (its training data, with its predictions). ``window``: how
    much traffic each run reads; ``offset``: how long before the run the window ends (labels
    arrive late). Bias monitors need ``facet`` and ``label_value`` in ``config`` (and may give
    ``facet_value``, ``thresholds``); model-quality monitors may give ``thresholds``
    (``{"accuracy": 0.8}``) instead of the baseline's.
    """
    from kiln.monitoring._scheduler import ScheduleService, parse_schedule

    if not _NAME.fullmatch(name or ""):
        raise ConfigError(
            f"Cannot use {name!r} as a monitor name: use letters, digits, '-', '_' and '.', "
            "starting with a letter or digit (at most 100).",
            code="monitor.bad-name",
        )
    if type not in MONITOR_TYPES:
        raise ConfigError(
            f"Unknown monitor type {type!r}. Types: {', '.join(MONITOR_TYPES)}.",
            code="monitor.unknown-type",
        )
    expression = parse_schedule(schedule)
    window_seconds = _seconds(window, "window")
    offset_seconds = _seconds(offset, "offset", allow_zero=True)
    target = ctx.endpoints.get(endpoint)
    if not target.capture:
        raise ConfigError(
            f"Endpoint {endpoint!r} does not capture its traffic, so a monitor would see none. "
            f"Turn capture on first: kiln endpoints capture {endpoint} --percent 100 (or "
            "ws.endpoints.set_capture), then create the monitor.",
            code="monitor.no-capture",
        )
    config = _check_forecasting(ctx, endpoint, type, config)
    if type == BIAS:
        _check_bias_config(config)
        _check_facet_column(ctx, endpoint, target.model, config["facet"])
        if config.get("thresholds") is not None:
            import kiln.clarify as clarify

            clarify.allowed_ranges(config["thresholds"])  # refused now, not at every run
    if type == MODEL_QUALITY and "thresholds" not in config:
        config = {**config, **problem_thresholds(ctx, target.model)}
    if type == MODEL_QUALITY and "thresholds" in config:
        _check_quality_thresholds(config["thresholds"])
    with ctx.store.read() as session:
        if session.get(MonitorRow, name) is not None:
            raise StateError(
                f"A monitor named {name!r} exists already. Delete it first "
                f"(kiln monitor delete {name}) or choose another name.",
                code="monitor.exists",
            )
    made_here = False
    if baseline is not None:
        chosen: Baseline | None = get_baseline(ctx, baseline)
    elif type in (DATA_QUALITY, ATTRIBUTION) or (
        type == MODEL_QUALITY and "thresholds" not in config
    ):
        chosen, made_here = create_baseline(ctx, model=target.model), True
    else:
        chosen = None
    refusal = _baseline_refusal(type, chosen, config)
    if refusal is not None:
        if made_here:  # a refused monitor leaves no baseline behind
            with ctx.store.write() as session:
                session.execute(sql_delete(BaselineRow).where(BaselineRow.id == chosen.id))
        raise refusal
    row = MonitorRow(
        name=name,
        endpoint=endpoint,
        type=type,
        baseline_id=chosen.id if chosen else None,
        schedule=schedule,
        window_seconds=window_seconds,
        offset_seconds=offset_seconds,
        config=config,
        created_at=now(),
        created_by=who(),
    )
    with ctx.store.write() as session:
        session.add(row)
        session.flush()
        monitor = Monitor._from_row(row)
    ScheduleService(ctx).put(
        f"monitor:{name}", kind="monitor", target={"monitor": name}, expression=expression
    )
    return monitor


def _check_forecasting(ctx: Context, endpoint: str, type: str, config: dict) -> dict:
    """Forecast endpoints take forecast-quality monitors only, and only they take them; the
    config with the default thresholds filled in."""
    from kiln.monitoring._forecast_quality import (
        FORECAST_METRICS,
        default_forecast_thresholds,
        forecasting_model,
    )

    if type == FORECAST_QUALITY:
        forecasting_model(ctx, endpoint)  # refused unless the endpoint forecasts
        config = {"thresholds": default_forecast_thresholds(ctx, endpoint)} | config
        check_metric_thresholds(
            config["thresholds"], list(FORECAST_METRICS), "forecast-quality", example=("mase", 1.2)
        )
        return config
    model = ctx.endpoints.get(endpoint).model
    if model and ctx.models.get(model).problem_type == "forecasting":
        raise ConfigError(
            f"Endpoint {endpoint!r} serves a forecasting model: its traffic is series and "
            f"forecasts, not rows, so a {type} monitor cannot check it. Use --type "
            "forecast-quality (with actuals uploaded by 'kiln endpoints actuals').",
            code="monitor.forecasting-endpoint",
        )
    return config


def _baseline_refusal(type: str, chosen: Baseline | None, config: dict) -> ConfigError | None:
    """Why ``chosen`` cannot serve a monitor of ``type``, or None."""
    if (
        type == MODEL_QUALITY
        and chosen is not None
        and not chosen.constraints.get("model_quality")
        and "thresholds" not in config
    ):
        return ConfigError(
            f"Baseline {chosen.id} has no model-quality thresholds (it was made from data "
            "alone). Use a model's baseline (kiln monitor baseline --model M), or give "
            "thresholds in the monitor's config.",
            code="monitor.no-quality-thresholds",
        )
    if type == ATTRIBUTION and chosen is not None and not chosen.statistics.get("attribution"):
        return ConfigError(
            f"Baseline {chosen.id} holds no attributions: the model could not be explained, or "
            "the baseline was made without a model (kiln monitor baseline --model M).",
            code="monitor.no-attribution-baseline",
        )
    return None


def _check_bias_config(config: dict) -> None:
    for key in ("facet", "label_value"):
        if config.get(key) in (None, ""):
            raise ConfigError(
                f"A bias monitor needs {key!r}: --facet COLUMN[=VALUE] and --label-value V "
                "(the favourable outcome).",
                code="monitor.bias-config",
            )


def _check_facet_column(ctx: Context, endpoint: str, model: str, facet: str) -> None:
    """A bias monitor's facet column must be one the endpoint's model is sent (else every run
    fails); ``facet`` may hold a threshold (``age<25``)."""
    column = re.split(r"[<>=]", str(facet))[0].strip()
    inputs = [c["name"] for c in ctx.models.get(model).signature.get("inputs", [])]
    if inputs and column not in inputs:
        raise ConfigError(
            f"The facet column {column!r} is not an input of {model}, the model endpoint "
            f"{endpoint!r} serves, so no captured row has it. Its inputs: {', '.join(inputs)}.",
            code="clarify.unknown-column",
        )


def problem_thresholds(ctx: Context, model_ref: str) -> dict:
    """``{"thresholds": {...}, "thresholds_from": "churn:2"}`` when the model names a problem
    whose metric criteria a live model-quality run can check (``recall >= 0.7`` becomes
    ``recall: 0.7``); ``{}`` otherwise, and the model's baseline gives the thresholds.

    A criterion is taken when its comparison points the way its metric improves (``>=`` for a
    score, ``<=`` for an error), as the monitor's thresholds do; ``==`` never is."""
    from kiln.problems import BINARY, LOWER_IS_BETTER, MULTICLASS, REGRESSION, metric_names

    ref = ((ctx.models.get(model_ref).details or {}).get("problem")) or None
    if ref is None:
        return {}
    live = metric_names(BINARY) | metric_names(MULTICLASS) | metric_names(REGRESSION)
    thresholds = {}
    for criterion in ctx.problems.get(ref).criteria.metrics:
        rising = criterion.op in (">=", ">")
        falling = criterion.op in ("<=", "<")
        lower_is_better = criterion.metric in LOWER_IS_BETTER
        if criterion.metric in live and (falling if lower_is_better else rising):
            thresholds[criterion.metric] = criterion.value
    if not thresholds:
        return {}
    return {"thresholds": thresholds, "thresholds_from": ref}


def _check_quality_thresholds(thresholds: Any) -> None:
    """A model-quality monitor's own thresholds: known metrics, numbers (a bad one would fail
    every run, and a misspelt metric would never be checked)."""
    from kiln.problems import BINARY, MULTICLASS, REGRESSION, metric_names

    known = metric_names(BINARY) | metric_names(MULTICLASS) | metric_names(REGRESSION)
    check_metric_thresholds(thresholds, sorted(known), "model-quality", example=("accuracy", 0.8))


def check_metric_thresholds(
    thresholds: Any, known: list[str], kind: str, *, example: tuple[str, float]
) -> None:
    """A ``kind`` monitor's thresholds: a non-empty dict of ``known`` metrics to numbers
    (``example``: the metric and value an error message suggests)."""
    if not isinstance(thresholds, dict) or not thresholds:
        raise ConfigError(
            f"A {kind} monitor's thresholds are metric=number pairs, e.g. --threshold "
            f"{example[0]}={example[1]}. Got {thresholds!r}.",
            code="monitor.bad-threshold",
        )
    for metric, value in thresholds.items():
        if metric not in known:
            raise ConfigError(
                f"Unknown {kind} metric {metric!r} in --threshold {metric}={value}. The "
                f"metrics are {', '.join(known)}.",
                code="monitor.bad-threshold",
            )
        if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
            raise ConfigError(
                f"The threshold of {metric} must be a number, e.g. --threshold "
                f"{metric}={example[1]}. Got {value!r}.",
                code="monitor.bad-threshold",
            )


def _seconds(value: str | float, what: str, *, allow_zero: bool = False) -> float:
    seconds = float(value) if isinstance(value, int | float) else parse_duration(value, what=what)
    if seconds < 0 or (seconds == 0 and not allow_zero):
        raise ConfigError(
            f"The monitor's {what} must be {'0 or more' if allow_zero else 'more than 0'}; "
            f"got {value!r}.",
            code="monitor.bad-window",
        )
    return seconds


def get_monitor(ctx: Context, name: str) -> Monitor:
    with ctx.store.read() as session:
        row = session.get(MonitorRow, name)
        if row is None:
            known = session.scalars(select(MonitorRow.name).order_by(MonitorRow.name)).all()
            raise NotFound(
                f"No monitor named {name!r}. Monitors: {', '.join(known) or 'none'} "
                "(create one with 'kiln monitor create').",
                code="monitor.unknown",
            )
        return Monitor._from_row(row)


def list_monitors(ctx: Context, endpoint: str | None = None) -> list[Monitor]:
    query = select(MonitorRow).order_by(MonitorRow.name)
    if endpoint:
        query = query.where(MonitorRow.endpoint == endpoint)
    with ctx.store.read() as session:
        return [Monitor._from_row(r) for r in session.scalars(query).all()]


def delete_monitor(ctx: Context, name: str) -> Monitor:
    """Delete the monitor and its schedule, in one transaction (no schedule is left to start a
    monitor that is gone); its past runs stay readable."""
    monitor = get_monitor(ctx, name)
    with ctx.store.write() as session:
        session.execute(sql_delete(MonitorRow).where(MonitorRow.name == name))
        session.execute(sql_delete(ScheduleRow).where(ScheduleRow.name == f"monitor:{name}"))
    return monitor


# -- runs -------------------------------------------------------------------------------------
def start_monitor_run(
    ctx: Context, name: str, *, at: datetime | None = None, on_log=None, wait: bool = True
) -> str:
    """Run monitor ``name`` as a job (in its own process); returns the job id once it has ended,
    or at once with ``wait=False`` (the scheduler). ``at``: the time the run stands for (its
    window ends ``offset`` before it); now by default."""
    from kiln.monitoring._jobs import launch

    monitor = get_monitor(ctx, name)
    at = at or now()
    job = ctx.jobs.create(
        "monitor", {"monitor": monitor.name, "type": monitor.type, "at": at.isoformat()}
    )
    launch(ctx, job, wait=wait, on_log=on_log)
    return job.id


def run_monitor(ctx: Context, name: str, *, at: datetime | None = None, on_log=None) -> MonitorRun:
    """Run monitor ``name`` now (as a job) and return the run's record."""
    job_id = start_monitor_run(ctx, name, at=at, on_log=on_log)
    with ctx.store.read() as session:
        row = session.scalars(select(MonitorRunRow).where(MonitorRunRow.job_id == job_id)).one()
        return MonitorRun._from_row(row)


def run_monitor_job(ws: Context, job, spec: dict) -> dict:
    """The monitor job: read the window, check it, record the run and its report, and evaluate
    the alarms that watch this monitor."""
    monitor = get_monitor(ws, spec["monitor"])
    at = datetime.fromisoformat(spec["at"]) if spec.get("at") else now()
    end = at - timedelta(seconds=monitor.offset_seconds)
    start = end - timedelta(seconds=monitor.window_seconds)
    job.log(
        f"Monitor {monitor.name} ({monitor.type}) on endpoint {monitor.endpoint}: traffic "
        f"captured from {start:%Y-%m-%d %H:%M:%S} to {end:%Y-%m-%d %H:%M:%S} UTC."
    )
    run = execute_monitor(ws, monitor, start=start, end=end, job_id=job.job_id, log=job.log)
    job.log(
        f"Run {run.id}: {run.status}, {len(run.violations)} violation(s)"
        + (f", {run.summary.get('rows', 0)} row(s) read." if run.status != FAILED else ".")
    )
    from kiln.monitoring._alarms import evaluate_alarms

    for change in evaluate_alarms(ws, source=f"monitor:{monitor.name}"):
        job.log(
            f"Alarm {change.get('alarm')}: {change.get('old_state')} → {change.get('new_state')}"
        )
    return {"run": run.id, "status": run.status, "violations": len(run.violations)}


EXPLANATION_COLUMNS = ("predicted_attributions",)


def read_window(
    ctx: Context, endpoint: str, start: datetime, end: datetime, *, labels: bool
) -> tuple[pd.DataFrame, dict[str, int]]:
    """The rows ``endpoint`` captured in [start, end), with the ground truth joined when
    ``labels``; and what was skipped (corrupt lines, unreadable files)."""
    skipped: dict[str, int] = {}
    records = capture_records(ctx.artifacts, endpoint, since=start, until=end, skipped=skipped)
    truth = ctx.data.ground_truth_labels(endpoint) if labels else None
    frame = capture_rows(records, truth)
    # per-row explanations (?explain=true) are lists, not an output to check for drift
    return frame.drop(columns=list(EXPLANATION_COLUMNS), errors="ignore"), skipped


def execute_monitor(
    ctx: Context, monitor: Monitor, *, start: datetime, end: datetime, job_id: str | None, log
) -> MonitorRun:
    """Check ``monitor``'s window and store the run (Completed, NoData or Failed)."""
    started = now()
    needs_labels = monitor.type in (MODEL_QUALITY, BIAS)
    if monitor.type == FORECAST_QUALITY:  # one row per captured series and step
        from kiln.monitoring._forecast_quality import forecast_rows

        skipped = {}
        records = capture_records(
            ctx.artifacts, monitor.endpoint, since=start, until=end, skipped=skipped
        )
        frame = forecast_rows(records)
    else:
        frame, skipped = read_window(ctx, monitor.endpoint, start, end, labels=needs_labels)
    summary: dict[str, Any] = {"rows": int(len(frame)), **skipped}
    if skipped.get("corrupt_lines") or skipped.get("unreadable_files"):
        log(
            f"Skipped {skipped['corrupt_lines']} corrupt capture line(s) and "
            f"{skipped['unreadable_files']} unreadable file(s).",
        )
    inputs = {"endpoint": monitor.endpoint, "window": f"{start.isoformat()}Z/{end.isoformat()}Z"}
    baseline = get_baseline(ctx, monitor.baseline_id) if monitor.baseline_id else None
    if baseline is not None:
        inputs["baseline"] = baseline.id
    run = {
        "monitor": monitor.name,
        "type": monitor.type,
        "job_id": job_id,
        "started_at": started,
        "window_start": start,
        "window_end": end,
        "inputs": inputs,
    }
    metrics: dict[str, float] = {}
    violations: list[dict] = []
    status, reason = COMPLETED, None
    if frame.empty:
        status = NO_DATA
        summary["reason"] = "No captured traffic in the window."
        if monitor.endpoint not in {e.name for e in ctx.endpoints.list()}:
            summary["reason"] = (
                f"No captured traffic in the window: endpoint {monitor.endpoint!r} no longer "
                f"exists. Delete this monitor (kiln monitor delete {monitor.name}), or deploy "
                f"to {monitor.endpoint!r} again with capture on."
            )
    else:
        try:
            metrics, violations, extra = _check(ctx, monitor, baseline, frame)
            summary.update(extra)
            if extra.get("no_data"):
                status = NO_DATA
        except Exception as exc:  # noqa: BLE001 — recorded on the run, then raised by the job
            status, reason = FAILED, f"{type(exc).__name__}: {exc}"
            _store_run(
                ctx,
                **run,
                status=status,
                metrics=metrics,
                violations=violations,
                summary=summary,
                failure_reason=reason,
            )
            raise
    metrics = {"rows": float(len(frame)), **metrics, "violations": float(len(violations))}
    return _store_run(
        ctx,
        **run,
        status=status,
        metrics=metrics,
        violations=violations,
        summary=summary,
        failure_reason=reason,
    )


def _check(
    ctx: Context, monitor: Monitor, baseline: Baseline | None, frame: pd.DataFrame
) -> tuple[dict, list, dict]:
    if monitor.type == DATA_QUALITY:
        return _data_quality(baseline, _features(frame))
    if monitor.type == MODEL_QUALITY:
        from kiln.monitoring._model_quality import check_model_quality

        return check_model_quality(ctx, monitor, baseline, frame)
    if monitor.type == BIAS:
        return _bias(monitor, frame)
    if monitor.type == FORECAST_QUALITY:
        from kiln.monitoring._forecast_quality import check_forecast_quality

        return check_forecast_quality(ctx, monitor, frame)
    return _attribution(ctx, monitor, baseline, frame)


def _features(frame: pd.DataFrame) -> pd.DataFrame:
    """The captured inputs and predictions, without the invocation's metadata."""
    return frame.drop(columns=[c for c in META_COLUMNS if c in frame.columns])


def _data_quality(baseline: Baseline, current: pd.DataFrame) -> tuple[dict, list, dict]:
    from kiln.monitoring._drift import check_data_quality

    result = check_data_quality(baseline.statistics, baseline.constraints, current)
    extra = {
        "drift": result.drift,
        "statistics": result.statistics,
        "baseline_statistics": _without_model(baseline.statistics),
    }
    return dict(result.metrics), list(result.violations), extra


def _without_model(statistics: dict) -> dict:
    return {k: v for k, v in statistics.items() if k not in ("attribution",)}


def _bias(monitor: Monitor, frame: pd.DataFrame) -> tuple[dict, list, dict]:
    import kiln.clarify as clarify

    config = monitor.config
    labelled = frame[frame["label"].notna()] if "label" in frame else frame.iloc[0:0]
    if len(labelled) < MIN_LABELLED_ROWS:
        return (
            {"labelled_rows": float(len(labelled))},
            [],
            {
                "no_data": True,
                "reason": f"{len(labelled)} labelled row(s) in the window; a bias run needs "
                f"{MIN_LABELLED_ROWS}. Upload ground truth (kiln endpoints ground-truth).",
            },
        )
    metrics, violations = clarify.check_bias(
        labelled,
        label="label",
        predicted="predicted_label",
        label_value=config["label_value"],
        facet=config["facet"],
        facet_value=config.get("facet_value"),
        thresholds=config.get("thresholds"),
    )
    metrics = {**metrics, "labelled_rows": float(len(labelled))}
    return metrics, violations, {"bias": metrics}


def _attribution(
    ctx: Context, monitor: Monitor, baseline: Baseline, frame: pd.DataFrame
) -> tuple[dict, list, dict]:
    import kiln.clarify as clarify

    model = ctx.models.load(baseline.model) if baseline.model else None
    if model is None:
        raise ConfigError(
            f"Baseline {baseline.id} names no model to explain the live traffic with.",
            code="monitor.no-attribution-baseline",
        )
    sample = frame.sample(min(len(frame), 500), random_state=0)
    threshold = float(baseline.constraints.get("attribution", {}).get("ndcg_threshold", 0.9))
    metrics, violations, current = clarify.check_attribution(
        model, baseline.statistics["attribution"], sample, threshold=threshold
    )
    return (
        metrics,
        violations,
        {
            "attribution": {
                "baseline": baseline.statistics["attribution"],
                "current": current,
                "threshold": threshold,
                **metrics,
            }
        },
    )


def _store_run(ctx: Context, **fields: Any) -> MonitorRun:
    """Store a run and its report. ``fields``: the run record's columns (monitor, type, job_id,
    status, started_at, window_start, window_end, inputs, metrics, violations, summary,
    failure_reason)."""
    from kiln.monitoring._report import monitor_report
    from kiln.reports import split_library

    run = MonitorRunRow(id=new_id("run"), ended_at=now(), **({"failure_reason": None} | fields))
    record = {
        column: getattr(run, column)
        for column in (
            "id",
            "monitor",
            "type",
            "job_id",
            "status",
            "inputs",
            "metrics",
            "violations",
            "summary",
            "failure_reason",
        )
    } | {
        "window_start": run.window_start.isoformat() + "Z" if run.window_start else None,
        "window_end": run.window_end.isoformat() + "Z" if run.window_end else None,
    }
    page, library = split_library(monitor_report(record))
    run.report_digest = ctx.artifacts.put_bytes(page.encode("utf-8"))
    if library is not None:
        library_digest = ctx.artifacts.put_bytes(library.encode("utf-8"))
        run.summary = {**run.summary, "report_library": library_digest}
    with ctx.store.write() as session:
        session.add(run)
        session.flush()
        return MonitorRun._from_row(run)


def compare_datasets(
    ctx: Context, reference: str, current: str, *, baseline: str | None = None
) -> MonitorRun:
    """The data-quality and drift check of data set ``current`` against ``reference`` (both
    ``name[@V]``), recorded as a run without a monitor. ``baseline``: use that baseline's
    (perhaps edited) constraints instead of ones suggested from ``reference``."""
    started = now()
    chosen = get_baseline(ctx, baseline) if baseline else create_baseline(ctx, reference)
    version = ctx.data.get(current)
    if version.row_count == 0:
        raise ConfigError(
            f"Data set {version.ref} has no rows to compare with the reference.",
            code="monitor.empty-data",
        )
    frame = ctx.data.load(version)
    if chosen.model:  # a model's baseline: its inputs and predictions, as a window would hold
        from kiln.monitoring._baselines import model_frame

        loaded = ctx.models.load(chosen.model)
        if all(c in frame.columns for c in loaded.input_columns):
            frame = model_frame(loaded, frame)
    metrics, violations, extra = _data_quality(chosen, frame)
    summary = {"rows": int(len(frame)), **extra}
    inputs = {
        "reference": chosen.statistics.get("dataset", {}).get("ref", reference),
        "current": version.ref,
        "baseline": chosen.id,
    }
    metrics = {"rows": float(len(frame)), **metrics, "violations": float(len(violations))}
    return _store_run(
        ctx,
        monitor=None,
        type=DATA_QUALITY,
        job_id=None,
        status=COMPLETED,
        started_at=started,
        window_start=None,
        window_end=None,
        inputs=inputs,
        metrics=metrics,
        violations=violations,
        summary=summary,
    )


def get_run(ctx: Context, run_id: str) -> MonitorRun:
    with ctx.store.read() as session:
        row = session.get(MonitorRunRow, run_id)
        if row is None:
            raise NotFound(
                f"No monitor run {run_id!r}. See 'kiln monitor runs MONITOR'.",
                code="monitor.unknown-run",
            )
        return MonitorRun._from_row(row)


def list_runs(ctx: Context, name: str | None = None, *, limit: int = 50) -> list[MonitorRun]:
    """The latest runs (newest first), of monitor ``name`` or of every monitor and compare."""
    query = select(MonitorRunRow).order_by(MonitorRunRow.started_at.desc()).limit(limit)
    if name is not None:
        get_monitor(ctx, name)
        query = query.where(MonitorRunRow.monitor == name)
    with ctx.store.read() as session:
        return [MonitorRun._from_row(r) for r in session.scalars(query).all()]


def run_report(ctx: Context, run_id: str, *, out: str | Path | None = None) -> Path:
    """Write run ``run_id``'s HTML report to ``out`` (default: reports/<run id>.html in the
    workspace) and return its path."""
    from kiln.reports import write

    run = get_run(ctx, run_id)
    path = Path(out) if out else ctx.home / "reports" / f"{run.id}.html"
    page = ctx.artifacts.read_bytes(run.report_digest, what="monitor report").decode("utf-8")
    library_digest = run.summary.get("report_library")
    library = (
        ctx.artifacts.read_bytes(library_digest, what="plotly.js").decode("utf-8")
        if library_digest
        else None
    )
    return write(path, page, library=library)


def monitor_history(
    ctx: Context, name: str, *, metrics: list[str] | None = None, limit: int = 500
) -> list[dict]:
    """Each run of monitor ``name``, oldest first: its time, status, violations and metrics (all,
    or those named)."""
    runs = list_runs(ctx, name, limit=limit)
    out = []
    for run in reversed(runs):
        values = run.metrics if not metrics else {m: run.metrics.get(m) for m in metrics}
        out.append(
            {
                "run": run.id,
                "time": run.started_at.isoformat() + "Z",
                "window_end": run.window_end.isoformat() + "Z" if run.window_end else None,
                "status": run.status,
                "violations": len(run.violations),
                "metrics": values,
            }
        )
    return out


def history_report(
    ctx: Context, name: str, *, out: str | Path, metrics: list[str] | None = None
) -> Path:
    """An HTML page with each metric of monitor ``name`` over time (one plot per metric)."""
    import plotly.graph_objects as go

    from kiln.reports import Section, figure, render, table, write

    monitor = get_monitor(ctx, name)
    history = monitor_history(ctx, name, metrics=metrics)
    names: list[str] = []
    for point in history:
        names += [m for m in point["metrics"] if m not in names]
    shown = names if metrics else _headline(names)
    figures = []
    for metric in shown:
        xs = [p["time"] for p in history if p["metrics"].get(metric) is not None]
        ys = [p["metrics"][metric] for p in history if p["metrics"].get(metric) is not None]
        if not xs:
            continue
        fig = go.Figure(go.Scatter(x=xs, y=ys, mode="lines+markers", name=metric))
        figures.append(figure(fig.update_layout(title=metric, height=260), compact=True))
    rows = [[p["time"], p["status"], p["violations"], p["run"]] for p in history[-50:]]
    page = render(
        f"Monitor {monitor.name}: history",
        [
            Section("Metrics over time", "".join(figures) or "<p>No runs yet.</p>"),
            Section("Runs", table(["time", "status", "violations", "run"], rows)),
        ],
        subtitle=f"{monitor.type} on endpoint {monitor.endpoint}",
        plotly_bundle="cartesian",
    )
    return write(out, page)


def _headline(names: list[str]) -> list[str]:
    """The metrics a history shows by default: counts and the summary figures, not every
    column's every statistic (30 columns × 3 statistics would be 90 plots)."""
    per_column = re.compile(r"^(drift|completeness)\.[^.]+\.")
    return [n for n in names if not per_column.match(n)][:24]


# -- what Studio shows ------------------------------------------------------------------------
# A run as a list shows it: not its summary (the window's and the baseline's statistics).
_RUN_LIST_COLUMNS = (
    "id",
    "monitor",
    "type",
    "job_id",
    "status",
    "started_at",
    "ended_at",
    "window_start",
    "window_end",
    "metrics",
    "failure_reason",
)
_RUN_SORTS = {
    "id": MonitorRunRow.id,
    "started_at": MonitorRunRow.started_at,
    "status": MonitorRunRow.status,
}


def _run_listed(row) -> dict:
    item = {name: getattr(row, name) for name in _RUN_LIST_COLUMNS if name != "metrics"}
    for name in ("started_at", "ended_at", "window_start", "window_end"):
        item[name] = _iso(item[name])
    violations = (row.metrics or {}).get("violations")
    return item | {"violations": int(violations) if violations is not None else None}


def monitor_summaries(ctx: Context) -> list[dict]:
    """Each monitor with its schedule's next and last run, and its latest run's id, status,
    time and number of violations: three queries whatever the number of runs."""
    monitors = list_monitors(ctx)
    names = [m.name for m in monitors]
    with ctx.store.read() as session:
        schedules = {
            row.name.removeprefix("monitor:"): row
            for row in session.scalars(
                select(ScheduleRow).where(ScheduleRow.name.in_([f"monitor:{n}" for n in names]))
            )
        }
        latest = (
            select(MonitorRunRow.monitor, func.max(MonitorRunRow.started_at).label("at"))
            .where(MonitorRunRow.monitor.in_(names))
            .group_by(MonitorRunRow.monitor)
            .subquery()
        )
        runs = {
            row.monitor: _run_listed(row)
            for row in session.execute(
                select(*(getattr(MonitorRunRow, c) for c in _RUN_LIST_COLUMNS)).join(
                    latest,
                    (MonitorRunRow.monitor == latest.c.monitor)
                    & (MonitorRunRow.started_at == latest.c.at),
                )
            )
        }
    out = []
    for monitor in monitors:
        schedule = schedules.get(monitor.name)
        out.append(
            monitor.to_dict()
            | {
                "next_run_at": _iso(schedule.next_run_at) if schedule else None,
                "last_run": runs.get(monitor.name),
            }
        )
    return out


def runs_page(
    ctx: Context,
    name: str | None = None,
    *,
    status: str | None = None,
    sort: str | None = None,
    limit: int | None = 50,
    offset: int | None = 0,
) -> Page[dict]:
    """A page of runs (of monitor ``name``, or all), newest first, each without its summary and
    with its number of violations; ``status``: Completed, NoData or Failed."""
    if name is not None:
        get_monitor(ctx, name)
    statuses = (COMPLETED, NO_DATA, FAILED)
    if status is not None and status not in statuses:
        raise ConfigError(
            f"Unknown run status {status!r}: a monitor run is {', '.join(statuses)}.",
            code="monitor.bad-run-status",
            field="status",
        )
    query = select(MonitorRunRow).options(
        load_only(*(getattr(MonitorRunRow, c) for c in _RUN_LIST_COLUMNS), raiseload=True)
    )
    if name is not None:
        query = query.where(MonitorRunRow.monitor == name)
    if status is not None:
        query = query.where(MonitorRunRow.status == status)
    with ctx.store.read() as session:
        page = paged(
            session,
            query,
            limit=limit,
            offset=offset,
            sort=sort,
            columns=_RUN_SORTS,
            default_sort="-started_at",
        )
        return replace(page, items=[_run_listed(row) for row in page.items])


def drift_history(ctx: Context, name: str, *, limit: int = 500) -> dict:
    """Monitor ``name``'s metrics across its last ``limit`` runs, oldest first, for charts:
    ``{"runs", "times", "features": {column: {statistic: [value per run]}}, "metrics": {name:
    [value per run]}}`` — drift statistics by feature, the other metrics (rows, violations,
    completeness, model quality) by name; a run without a value has None."""
    get_monitor(ctx, name)
    with ctx.store.read() as session:
        rows = session.execute(
            select(MonitorRunRow.id, MonitorRunRow.started_at, MonitorRunRow.metrics)
            .where(MonitorRunRow.monitor == name)
            .order_by(MonitorRunRow.started_at.desc())
            .limit(limit)
        ).all()[::-1]
    features: dict[str, dict[str, list]] = {}
    others: dict[str, list] = {}
    for index, (_id, _at, metrics) in enumerate(rows):
        for metric, value in (metrics or {}).items():
            parts = metric.split(".")
            if parts[0] == "drift" and len(parts) == 3:
                series = features.setdefault(parts[1], {}).setdefault(parts[2], [None] * len(rows))
            else:
                series = others.setdefault(metric, [None] * len(rows))
            series[index] = value
    return {
        "runs": [row[0] for row in rows],
        "times": [_iso(row[1]) for row in rows],
        "features": features,
        "metrics": others,
    }
