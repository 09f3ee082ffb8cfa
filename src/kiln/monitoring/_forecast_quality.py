"""Forecast quality on live traffic: an endpoint's captured forecasts compared with the actual
values as they arrive.

Actuals are rows of the model's id columns, timestamp and target, uploaded by
:func:`upload_actuals` (``POST /endpoints/E/actuals``, ``kiln endpoints actuals E FILE``); each
upload is a Parquet file in the artifact store under ``actuals/<endpoint>/``, and a value
uploaded again for the same series and timestamp replaces the earlier one. A captured forecast
step is scored once the actual of its (series, timestamp) has arrived, with the backtest's
metrics (:func:`kiln.forecasting.score_forecasts`): MASE (scaled by the seasonal-naive error of
the series' history the model holds), WQL, sMAPE, MAPE, RMSE and the coverage of the outermost
quantiles, overall and by horizon step.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from kiln.errors import ConfigError, DataError
from kiln.forecasting import quantile_column, scale_of, score_forecasts
from kiln.problems import FORECASTING
from kiln.profile import parse_timestamps, series_keys
from kiln.store import new_id, now

if TYPE_CHECKING:
    from kiln.context import Context

__all__ = [
    "FORECAST_METRICS",
    "check_forecast_quality",
    "default_forecast_thresholds",
    "forecast_quality",
    "forecast_rows",
    "read_actuals",
    "upload_actuals",
]

ACTUALS_PREFIX = "actuals"
FORECAST_METRICS = ("mase", "wql", "smape", "mape", "rmse", "coverage")
# The default alarm: forecasts worse than the seasonal-naive forecast of the history by a fifth
# (MASE 1.2), or intervals covering a tenth less than they claim.
DEFAULT_MASE_LIMIT = 1.2
COVERAGE_SLACK = 0.1


def forecasting_model(ctx: Context, endpoint: str):
    """The model version ``endpoint`` serves, refused unless it is a forecaster."""
    target = ctx.endpoints.get(endpoint)
    version = ctx.models.get(target.model) if target.model else None
    if version is None or version.problem_type != FORECASTING:
        kind = version.problem_type if version is not None else "no single model"
        raise ConfigError(
            f"Endpoint {endpoint!r} serves {kind}, not a forecasting model: actuals and forecast "
            "quality are for forecast endpoints (use ground truth and a model-quality monitor "
            "for other models).",
            code="monitor.not-forecasting",
        )
    return version


# -- actuals --------------------------------------------------------------------------------------
def upload_actuals(
    ctx: Context, endpoint: str, source: str | Path | pd.DataFrame | list[dict]
) -> dict:
    """Store the actual values of ``endpoint``'s series: a CSV or Parquet file, a DataFrame or
    a list of rows with the model's id columns, timestamp and target. Checked whole before
    anything is stored; answers the counts."""
    version = forecasting_model(ctx, endpoint)
    spec = version.signature["forecasting"]
    frame = _actuals_frame(source)
    if frame.empty:
        raise DataError(
            "The actuals have no rows: send rows of the model's id columns, timestamp and target.",
            code="forecast.bad-actuals",
        )
    needed = [*spec["id_columns"], spec["timestamp"], spec["target"]]
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise DataError(
            f"The actuals lack column(s) {', '.join(map(repr, missing))}; each row needs "
            f"{', '.join(map(repr, needed))} (the model's id columns, timestamp and target).",
            code="forecast.bad-actuals",
            field=missing[0],
        )
    values = pd.to_numeric(frame[spec["target"]], errors="coerce")
    bad = values.isna() | ~np.isfinite(values.fillna(0).to_numpy(float))
    if bad.any():
        given = frame[spec["target"]]
        rows = "; ".join(
            f"row {i + 1} ({'empty' if pd.isna(given.iloc[i]) else repr(_native(given.iloc[i]))})"
            for i in np.flatnonzero(bad.to_numpy())[:5]
        )
        raise DataError(
            f"Actual values of {spec['target']!r} must be finite numbers; {int(bad.sum())} are "
            f"not: {rows}. Fix or remove those rows.",
            code="forecast.bad-actuals",
            field=spec["target"],
        )
    table = pd.DataFrame(
        {
            "series": series_keys(frame, spec["id_columns"]).astype(str).to_numpy()
            if spec["id_columns"]
            else np.full(len(frame), "series"),
            "timestamp": _naive(parse_timestamps(frame[spec["timestamp"]], spec["timestamp"])),
            "y": values.to_numpy(float),
        }
    )
    off = ctx.models.load(version).off_grid(table["series"], table["timestamp"])
    if off.any():  # no forecast has such a time: stored, they would never be matched
        given = frame[spec["timestamp"]]
        shown = "; ".join(
            f"row {i + 1} ({given.iloc[i]} is {table['timestamp'].iloc[i]})"
            for i in np.flatnonzero(off)[:5]
        )
        raise DataError(
            f"{int(off.sum())} actual time(s) are off the model's {spec.get('frequency')!r} "
            f"grid, so no forecast has them: {shown}. Send the times on that grid, as the "
            "model's data has them (a time with a UTC offset may be read as UTC).",
            code="timeseries.irregular",
            field=spec["timestamp"],
        )
    table = table.drop_duplicates(["series", "timestamp"], keep="last")
    buffer = io.BytesIO()
    table.to_parquet(buffer, index=False)
    stamp = now().strftime("%Y%m%dT%H%M%S%f")
    ctx.artifacts.append_named(
        f"{ACTUALS_PREFIX}/{endpoint}/{stamp}-{new_id('act')}.parquet", buffer.getvalue()
    )
    return {
        "endpoint": endpoint,
        "received": int(len(frame)),
        "stored": int(len(table)),
        "series": int(table["series"].nunique()),
        "first": table["timestamp"].min().isoformat(),
        "last": table["timestamp"].max().isoformat(),
    }


def _actuals_frame(source) -> pd.DataFrame:
    if isinstance(source, pd.DataFrame):
        return source.reset_index(drop=True)
    if isinstance(source, list):
        if not all(isinstance(row, dict) for row in source):
            raise DataError(
                "Actuals sent as JSON are a list of row objects (column → value).",
                code="forecast.bad-actuals",
            )
        return pd.DataFrame(source)
    path = Path(source)
    if not path.is_file():
        raise DataError(f"No such actuals file: {path}.", code="data.file-not-found")
    suffix = path.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            return pd.read_parquet(path)
        if suffix == ".json":  # a JSON list of rows, or JSON lines under a .json name
            try:
                return pd.read_json(path, dtype=False)
            except ValueError:
                return pd.read_json(path, lines=True, dtype=False)
        if suffix == ".jsonl":
            return pd.read_json(path, lines=True, dtype=False)
        # ids stay as written (a store "007" is not the number 7); the values are parsed above
        return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
    except (ValueError, OSError) as exc:  # pandas' and pyarrow's parse errors are ValueErrors
        kind = {".parquet": "Parquet", ".pq": "Parquet", ".json": "JSON", ".jsonl": "JSON lines"}
        raise DataError(
            f"The actuals file {path} cannot be read as {kind.get(suffix, 'CSV')}: "
            f"{str(exc)[:200]}. Send a UTF-8 CSV with a header, Parquet, or JSON lines of "
            "rows (the format goes by the file's name).",
            code="forecast.bad-actuals",
        ) from None


def read_actuals(ctx: Context, endpoint: str) -> pd.DataFrame:
    """Every actual uploaded for ``endpoint``: ``series``, ``timestamp``, ``y`` (the latest
    upload of a series and timestamp wins)."""
    names = ctx.artifacts.list_named(f"{ACTUALS_PREFIX}/{endpoint}")
    parts = [pd.read_parquet(io.BytesIO(ctx.artifacts.read_named(n))) for n in names]
    if not parts:
        return pd.DataFrame(
            {
                "series": pd.Series(dtype=str),
                "timestamp": pd.Series(dtype="datetime64[ns]"),
                "y": pd.Series(dtype=float),
            }
        )
    frame = pd.concat(parts, ignore_index=True)  # names sort by upload time
    frame["timestamp"] = _naive(frame["timestamp"])
    return frame.drop_duplicates(["series", "timestamp"], keep="last").reset_index(drop=True)


# -- captured forecasts ---------------------------------------------------------------------------
def forecast_rows(records: list[dict]) -> pd.DataFrame:
    """Captured invocations of a forecast endpoint as one row per series and step:
    ``inference_id``, ``variant``, ``model``, ``captured_at``, ``series``, ``timestamp``,
    ``step``, ``mean`` and a column per quantile (``q0.1``)."""
    rows = []
    for record in records:
        for prediction in record.get("output") or []:
            if not isinstance(prediction, dict) or "forecast" not in prediction:
                continue
            for step in prediction["forecast"]:
                rows.append(
                    {
                        "inference_id": record.get("inference_id"),
                        "variant": record.get("variant"),
                        "model": record.get("model"),
                        "captured_at": record.get("timestamp"),
                        "series": str(prediction["series"]),
                        "timestamp": step["timestamp"],
                        "step": int(step["step"]),
                        "mean": step["mean"],
                        **{
                            quantile_column(float(q)): v
                            for q, v in (step.get("quantiles") or {}).items()
                        },
                    }
                )
    frame = pd.DataFrame(rows)
    if not frame.empty:
        frame["timestamp"] = _naive(pd.to_datetime(frame["timestamp"]))
    return frame


def _native(value):
    """A numpy scalar as the Python value it holds (for messages)."""
    return value.item() if hasattr(value, "item") else value


def _naive(values) -> pd.Series:
    """Timestamps as naive UTC datetimes, so captured forecasts and actuals join."""
    values = pd.Series(pd.to_datetime(values)).reset_index(drop=True)
    if values.dt.tz is not None:
        values = values.dt.tz_convert("UTC").dt.tz_localize(None)
    return values.astype("datetime64[ns]")


# -- scoring --------------------------------------------------------------------------------------
def score_captured(ctx: Context, forecasts: pd.DataFrame, actuals: pd.DataFrame) -> dict:
    """Forecast steps joined with their actuals, scored: ``forecasts`` (captured steps),
    ``matched`` (those with an actual), ``metrics``, ``by_variant``, ``by_step`` and
    ``per_series``."""
    if forecasts.empty:
        empty = {"metrics": {}, "by_variant": {}, "by_step": [], "per_series": []}
        return {"forecasts": 0, "matched": 0} | empty
    joined = forecasts.merge(actuals, on=["series", "timestamp"], how="inner")
    quantiles = sorted(
        float(c[1:])
        for c in forecasts.columns
        if c.startswith("q") and c[1:].replace(".", "", 1).isdigit() and joined[c].notna().all()
    )
    out: dict[str, Any] = {"forecasts": int(len(forecasts)), "matched": int(len(joined))}
    if joined.empty or not quantiles:
        return out | {"metrics": {}, "by_variant": {}, "by_step": [], "per_series": []}
    joined["scale"] = _scales(ctx, joined)
    metrics, per_series, by_step = score_forecasts(joined, quantiles)
    by_variant = {  # A/B tests between forecasters: each live variant on its own traffic
        str(variant): {"matched": int(len(rows)), **score_forecasts(rows, quantiles)[0]}
        for variant, rows in joined.groupby("variant", sort=True)
    }
    return out | {
        "metrics": metrics,
        "by_variant": by_variant,
        "by_step": _records(by_step),
        "per_series": _records(per_series.sort_values("mase", ascending=False, na_position="last")),
    }


def _scales(ctx: Context, joined: pd.DataFrame) -> np.ndarray:
    """MASE's scale of each row's series: the seasonal-naive error of the history held by the
    model that made the forecast (NaN for a series it never held: left out of MASE)."""
    scales = np.full(len(joined), np.nan)
    for ref, rows in joined.groupby("model", sort=False):
        model = ctx.models.load(ctx.models.get(ref))
        panel = model.panel
        wanted = set(rows["series"])
        by_series = {
            str(name): scale_of(group["y"].to_numpy(dtype=float), panel.season_length)
            for name, group in panel.groups()
            if str(name) in wanted
        }
        positions = np.flatnonzero((joined["model"] == ref).to_numpy())
        scales[positions] = rows["series"].map(by_series).astype(float).to_numpy()
    return scales


def _records(frame: pd.DataFrame) -> list[dict]:
    return [
        {k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in row.items()}
        for row in frame.to_dict(orient="records")
    ]


def forecast_quality(ctx: Context, endpoint: str, *, since=None, until=None) -> dict:
    """The forecast quality of what ``endpoint`` captured (between ``since`` and ``until``):
    see :func:`score_captured`."""
    from kiln.data import capture_records

    forecasting_model(ctx, endpoint)
    records = capture_records(ctx.artifacts, endpoint, since=since, until=until)
    return score_captured(ctx, forecast_rows(records), read_actuals(ctx, endpoint))


# -- the monitor type -----------------------------------------------------------------------------
def default_forecast_thresholds(ctx: Context, endpoint: str) -> dict:
    """``mase`` above 1.2 and ``coverage`` below its nominal level (the outermost quantiles'
    gap) less 0.1."""
    quantiles = forecasting_model(ctx, endpoint).signature["forecasting"]["quantiles"]
    nominal = max(quantiles) - min(quantiles)
    return {
        "mase": DEFAULT_MASE_LIMIT,
        "coverage": round(max(nominal - COVERAGE_SLACK, 0.0), 6),
    }


def check_forecast_quality(ctx: Context, monitor, forecasts: pd.DataFrame) -> tuple:
    """Metrics, violations and the report's ``forecast_quality`` section for one window of
    captured forecast steps."""
    from kiln.monitoring._model_quality import quality_violations

    scored = score_captured(ctx, forecasts, read_actuals(ctx, monitor.endpoint))
    counts = {
        "forecast_steps": scored["forecasts"],
        "matched_steps": scored["matched"],
    }
    if not scored["metrics"]:
        return (
            {k: float(v) for k, v in counts.items()},
            [],
            {
                "no_data": True,
                "reason": f"None of the {scored['forecasts']} forecast step(s) captured in the "
                "window has its actual value yet. Upload actuals (kiln endpoints actuals), or "
                "move the window back with its offset (actuals arrive after the horizon).",
                "forecast_quality": counts,
            },
        )
    thresholds = {
        name: {
            "threshold": float(value),
            "comparison": "LessThanThreshold" if name == "coverage" else "GreaterThanThreshold",
        }
        for name, value in ((monitor.config or {}).get("thresholds") or {}).items()
    }
    metrics = {
        k: float(v) for k, v in scored["metrics"].items() if v is not None and np.isfinite(v)
    }
    violations = quality_violations(metrics, thresholds, labelled_rows=scored["matched"])
    for violation in violations:
        violation["check"] = "forecast_quality_check"
    return (
        metrics | {k: float(v) for k, v in counts.items()},
        violations,
        {
            "forecast_quality": {
                **counts,
                "metrics": scored["metrics"],
                "thresholds": thresholds,
                "by_variant": scored["by_variant"],
                "by_step": scored["by_step"],
                "worst_series": scored["per_series"][:10],
            }
        },
    )
