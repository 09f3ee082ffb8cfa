"""Training a forecaster as a job: prepare the panel, backtest, fit on everything, register.

``train_forecaster`` is what ``ws.train(..., problem_type="forecasting")`` and ``kiln train
--problem-type forecasting`` call; the job's process runs :func:`run_forecasting_job`.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pandas as pd

from kiln.compute import JobContext, executor_for
from kiln.errors import DataError
from kiln.forecasting._backtest import Backtest, backtest, unmeasured
from kiln.forecasting._forecaster import get_forecaster
from kiln.forecasting._model import ForecastModel
from kiln.forecasting._panel import ForecastSpec, Panel, prepare_panel
from kiln.problems import FORECASTING, metric_names
from kiln.profile import series_keys
from kiln.refs import check_name
from kiln.training import (
    TrainingResult,
    check_metric_names,
    check_problem_fits,
    criteria_details,
    decide_approval,
    evaluate_model,
    log_criteria,
    parse_criterion,
    resolve_problem,
)

if TYPE_CHECKING:
    from kiln.context import Context

__all__ = [
    "DEFAULT_ALGORITHM",
    "check_backtest_room",
    "backtest_frames",
    "forecasting_job_spec",
    "load_panel",
    "register_forecast_model",
    "run_forecasting_job",
    "series_names",
    "store_backtest",
    "train_forecaster",
]

# What `kiln train --problem-type forecasting` fits without --algorithm (docs/forecasting.md).
DEFAULT_ALGORITHM = "ets"


def forecasting_job_spec(
    workspace: Context,
    data: str,
    spec: ForecastSpec,
    *,
    algorithm: str,
    hyperparameters: dict | None = None,
    name: str | None = None,
    seed: int = 42,
    require: list[str] | None = None,
    problem: str | None = None,
    extra: dict | None = None,
) -> tuple[dict, Any]:
    """The stored spec of a forecasting job, checked before any job starts; (spec, data set)."""
    spec = spec.check()
    dataset = workspace.data.get(data)
    columns = set(dataset.column_types())
    missing = [c for c in spec.columns if c not in columns]
    if missing:
        raise DataError(
            f"Column(s) {', '.join(map(repr, missing))} are not in {dataset.ref}; it has "
            f"{', '.join(map(repr, sorted(columns)[:30]))}.",
            code="forecast.unknown-column",
            field=missing[0],
        )
    if algorithm != "auto":
        # Refuses an unknown name or hyperparameter now, not in the job.
        get_forecaster(
            algorithm,
            horizon=spec.horizon,
            quantiles=spec.quantiles,
            season_length=spec.season_length or 1,
            hyperparameters=hyperparameters,
        )
    criteria = [parse_criterion(c) for c in require or []]
    check_metric_names(criteria, metric_names(FORECASTING))
    problem_ref = None
    if problem is not None:
        resolved, _, _ = resolve_problem(
            workspace, problem, dataset, target=spec.target, problem_type=FORECASTING
        )
        check_problem_fits(resolved, FORECASTING)
        problem_ref = resolved.ref
    group = name or dataset.name
    check_name(group, what="model group")
    stored = {
        "dataset": dataset.ref,
        "dataset_version_id": dataset.id,
        "spec": spec.to_dict(),
        "algorithm": algorithm,
        "hyperparameters": dict(hyperparameters or {}),
        "group": group,
        "seed": seed,
        "require": list(require or []),
        "problem": problem_ref,
        **(extra or {}),
    }
    return stored, dataset


def train_forecaster(
    workspace: Context,
    data: str,
    spec: ForecastSpec,
    *,
    algorithm: str = DEFAULT_ALGORITHM,
    hyperparameters: dict | None = None,
    name: str | None = None,
    seed: int = 42,
    require: list[str] | None = None,
    problem: str | None = None,
    experiment: str | None = None,
    on_log: Callable[[str], None] | None = None,
) -> TrainingResult:
    """Backtest ``algorithm`` on data set ``data`` and register it fitted on all of it, as a
    job in its own process. The model's metrics are the backtest's (``metrics["backtest"]``)."""
    stored, dataset = forecasting_job_spec(
        workspace,
        data,
        spec,
        algorithm=algorithm,
        hyperparameters=hyperparameters,
        name=name,
        seed=seed,
        require=require,
        problem=problem,
    )
    job = workspace.jobs.create("forecasting", stored, experiment=experiment)
    workspace.jobs.add_lineage(job.id, ("dataset_version", dataset.id), "input")
    finished = executor_for(workspace).run(job, on_log=on_log)
    return TrainingResult(job=finished, model=workspace.models.get(finished.result["model"]))


def check_backtest_room(panel: Panel, spec: ForecastSpec) -> None:
    """Refuse a panel none of whose series is longer than the horizon (``forecast.too-short``):
    no backtest window has a value before its cut. Checked before a job starts too."""
    if int(panel.lengths().max()) <= spec.horizon:
        raise DataError(
            f"No series is longer than the horizon ({spec.horizon} steps; the longest has "
            f"{int(panel.lengths().max())}), so there is nothing to backtest on. Shorten the "
            "horizon or give longer series.",
            code="forecast.too-short",
            field="horizon",
        )


def load_panel(
    workspace: Context, stored: dict, log
) -> tuple[ForecastSpec, Panel, pd.DataFrame, dict, dict]:
    """(spec, panel, future covariates, notes, series names) of a job's data set."""
    spec = ForecastSpec.from_dict(stored["spec"]).check()
    dataset = workspace.data.get_by_id(stored["dataset_version_id"])
    log(f"Data set {dataset.ref}: {dataset.row_count} rows.")
    frame = workspace.data.load(dataset, columns=spec.columns)
    panel, future, notes = prepare_panel(frame, spec, log=log)
    names = series_names(frame, spec)
    return spec, panel, future, notes, names


def series_names(frame: pd.DataFrame, spec: ForecastSpec) -> dict[str, dict]:
    """Series key → its id columns' values (as the data holds them)."""
    if not spec.id_columns:
        return {}
    ids = frame[spec.id_columns].drop_duplicates()
    keys = series_keys(ids, spec.id_columns)
    return {
        str(k): {c: _native(v) for c, v in row.items()}
        for k, row in zip(keys, ids.to_dict(orient="records"), strict=True)
    }


def _native(value):
    return value.item() if hasattr(value, "item") else value


def store_backtest(workspace: Context, result: Backtest) -> dict:
    """The backtest's tables as Parquet artifacts (the report reads them): their digests."""
    out = {}
    for part in ("forecasts", "per_series", "by_step"):
        buffer = io.BytesIO()
        frame = getattr(result, part)
        frame.to_parquet(buffer, index=False)
        out[part] = workspace.artifacts.put_bytes(buffer.getvalue())
    return out


def backtest_frames(workspace: Context, digests: dict) -> dict[str, pd.DataFrame]:
    """The backtest tables a job stored (see :func:`store_backtest`)."""
    return {
        part: pd.read_parquet(io.BytesIO(workspace.artifacts.read_bytes(digest)))
        for part, digest in digests.items()
    }


def run_forecasting_job(workspace: Context, context: JobContext, stored: dict) -> dict:
    """The job's process: panel, backtest, final fit, register (see the module docstring).
    A job of ``"algorithm": "auto"`` is forecasting AutoML's (see :mod:`._automl`)."""
    if stored["algorithm"] == "auto":
        from kiln.forecasting._automl import run_forecast_automl  # it imports this module

        return run_forecast_automl(workspace, context, stored)
    started = time.perf_counter()
    log = context.log
    spec, panel, future, notes, names = load_panel(workspace, stored, log)
    algorithm, seed = stored["algorithm"], stored.get("seed", 42)
    hyperparameters = stored.get("hyperparameters") or {}

    def make():
        return get_forecaster(
            algorithm,
            horizon=spec.horizon,
            quantiles=spec.quantiles,
            season_length=panel.season_length,
            seed=seed,
            hyperparameters=hyperparameters,
        )

    log(
        f"Backtesting {algorithm} over {spec.backtests} window(s) of {spec.horizon} steps "
        f"(rolling origin)."
    )
    result = backtest(
        make, panel, horizon=spec.horizon, windows=spec.backtests, quantiles=spec.quantiles, log=log
    )
    if result.windows == 0:
        raise DataError(
            f"No series is longer than the horizon ({spec.horizon} steps), so there is nothing "
            "to backtest on. Shorten the horizon or give longer series.",
            code="forecast.too-short",
            field="horizon",
        )
    log("Backtest: " + ", ".join(f"{k}={v}" for k, v in result.metrics.items()))
    for line in unmeasured(result.metrics):
        log(line)
    fit_started = time.perf_counter()
    final = make().fit(panel)
    model = ForecastModel(final, spec=spec, panel=panel, future_covariates=future, ids=names)
    model.cache_default_forecast()
    fit_seconds = time.perf_counter() - fit_started
    log(f"Fitted {algorithm} on all {len(panel.ids())} series in {fit_seconds:.1f}s.")
    needed = final.min_length()
    if needed > spec.horizon + panel.season_length:  # beyond the problem's rule, listed already
        short = panel.lengths() < needed
        if short.any():
            log(
                f"Warning: {int(short.sum())} of {len(short)} series are shorter than the "
                f"{needed} values {algorithm} needs with these hyperparameters; the naive baseline "
                "forecasts them. Lower the hyperparameter that needs them (LightGBM's differences) "
                "or give longer series."
            )
    return register_forecast_model(
        workspace,
        context,
        stored,
        model=model,
        metrics={"backtest": result.metrics},
        backtest_result=result,
        notes=notes,
        extra={
            "fit_seconds": round(fit_seconds, 3),
            "total_seconds": round(time.perf_counter() - started, 3),
        },
    )


def register_forecast_model(
    workspace: Context,
    context: JobContext,
    stored: dict,
    *,
    model: ForecastModel,
    metrics: dict,
    backtest_result: Backtest,
    notes: dict,
    extra: dict,
    details: dict | None = None,
) -> dict:
    """Check the criteria, register ``model`` and build the job's result (both jobs' end)."""
    problem = workspace.problems.get(stored["problem"]) if stored.get("problem") else None
    checked = evaluate_model(
        problem, stored.get("require"), model=model, metrics=metrics, rows=None
    )
    log_criteria(checked, context.log)
    tables = store_backtest(workspace, backtest_result)
    version = workspace.models.register(
        model,
        group=stored["group"],
        algorithm=model.algorithm,
        target=model.spec.target,
        hyperparameters=model.forecaster.hyperparameters,
        metrics=metrics,
        dataset_version_id=stored["dataset_version_id"],
        job_id=context.job_id,
        details=(details or {}) | criteria_details(checked) or None,
    )
    version = decide_approval(workspace, version, checked, problem, context.log)
    context.log(f"Registered model {version.ref} ({version.approval_status}).")
    result = {
        "model": version.ref,
        "model_version_id": version.id,
        "problem_type": FORECASTING,
        "metrics": metrics,
        "criteria": checked["results"],
        "backtest": {
            "windows": backtest_result.windows,
            "seconds": backtest_result.seconds,
            "tables": tables,
        },
        "series": notes,
        **extra,
    }
    if problem is not None:
        result["problem"] = problem.ref
        result["criteria_passed"] = checked["passed"]
    return result
