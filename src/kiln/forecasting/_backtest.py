"""Backtests: rolling-origin evaluation of a forecaster, and the forecasting metrics.

Window ``k`` of ``n`` cuts every series ``k × horizon`` steps before its end, fits a fresh
forecaster on what comes before the cut only, and forecasts the ``horizon`` steps after it; the
windows do not overlap and the last one ends at the series' end. Known-in-advance covariates are
read for the forecast steps (they are known in advance by definition); the target never is.

Metrics (Hyndman & Koehler 2006; AutoGluon's and GluonTS's WQL):

* MASE: mean absolute error over the mean absolute seasonal-naive error of the series'
  history before the cut (lag 1 where the history is shorter than a season or the seasonal
  error is zero); averaged per series, then over series.
* sMAPE: mean of ``2|y - ŷ| / (|y| + |ŷ|)`` (rows where both are zero left out); a fraction.
* MAPE: mean of ``|y - ŷ| / |y|`` over rows where ``y`` is not zero; a fraction.
* RMSE: root mean squared error.
* WQL: for each quantile ``q``, ``2 Σ pinball_q / Σ |y|``, averaged over the quantiles.
* coverage: the share of actual values within the outermost quantiles (nominal: their gap);
  not measured (None) with a single quantile, which bounds no interval.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from kiln.forecasting._forecaster import Forecaster
from kiln.forecasting._panel import SERIES, STEP, TARGET, TIMESTAMP, Panel, quantile_column

__all__ = ["Backtest", "backtest", "scale_of", "score_forecasts", "unmeasured"]

WINDOW = "window"


def scale_of(y: np.ndarray, season_length: int) -> float:
    """MASE's denominator for one series' history (NaN when it cannot be measured)."""
    y = y[np.isfinite(y)]
    for lag in (season_length, 1):
        if len(y) > lag >= 1:
            scale = float(np.mean(np.abs(y[lag:] - y[:-lag])))
            if scale > 0:
                return scale
    return float("nan")


@dataclass
class Backtest:
    """A backtest's forecasts beside the actual values, and the metrics measured on them."""

    forecasts: pd.DataFrame  # window, series, timestamp, step, mean, q..., y, scale
    metrics: dict
    per_series: pd.DataFrame
    by_step: pd.DataFrame
    seconds: float
    windows: int

    def summary(self) -> dict:
        return {"metrics": self.metrics, "windows": self.windows, "seconds": self.seconds}


def backtest(
    make: Callable[[], Forecaster],
    panel: Panel,
    *,
    horizon: int,
    windows: int,
    quantiles: list[float],
    log: Callable[[str], None] | None = None,
    deadline: float | None = None,
) -> Backtest:
    """Fit ``make()`` once per window on the panel cut before it, and score its forecasts.

    A series with no values before a window's cut is not scored in that window. Stops after a
    window when ``time.time()`` passes ``deadline`` (the windows done are scored)."""
    started = time.perf_counter()
    parts = []
    for k in range(windows, 0, -1):
        history = panel.drop_last(k * horizon)
        if len(history.frame) == 0:
            continue
        model = make().fit(history)
        future = history.future(horizon, covariates=panel.frame)
        forecast = model.predict(history, future)
        actual = panel.frame[[SERIES, TIMESTAMP, TARGET]]
        forecast = forecast.merge(actual, on=[SERIES, TIMESTAMP], how="inner")
        scales = {
            name: scale_of(group[TARGET].to_numpy(dtype=float), panel.season_length)
            for name, group in history.groups()
        }
        forecast["scale"] = forecast[SERIES].map(scales).astype(float)
        forecast.insert(0, WINDOW, windows - k + 1)
        parts.append(forecast)
        if log:
            log(f"Backtest window {windows - k + 1}/{windows}: {len(forecast)} forecasts scored.")
        if deadline is not None and time.time() > deadline:
            break
    forecasts = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    metrics, per_series, by_step = score_forecasts(forecasts, quantiles)
    return Backtest(
        forecasts=forecasts,
        metrics=metrics,
        per_series=per_series,
        by_step=by_step,
        seconds=round(time.perf_counter() - started, 3),
        windows=len(parts),
    )


def _row_errors(frame: pd.DataFrame, quantiles: list[float]) -> pd.DataFrame:
    y = frame[TARGET].to_numpy(dtype=float)
    point = frame["mean"].to_numpy(dtype=float)
    error = y - point
    both = np.abs(y) + np.abs(point)
    out = pd.DataFrame(
        {
            SERIES: frame[SERIES].to_numpy(),
            STEP: frame[STEP].to_numpy(),
            "abs": np.abs(error),
            "sq": error**2,
            "scaled": np.abs(error) / frame["scale"].to_numpy(dtype=float),
            "smape": np.where(both > 0, 2 * np.abs(error) / np.where(both > 0, both, 1), np.nan),
            "ape": np.where(y != 0, np.abs(error) / np.where(y != 0, np.abs(y), 1), np.nan),
            "absy": np.abs(y),
        }
    )
    pinball = np.zeros(len(frame))
    for q in quantiles:
        predicted = frame[quantile_column(q)].to_numpy(dtype=float)
        diff = y - predicted
        pinball += 2 * np.maximum(q * diff, (q - 1) * diff)
    out["pinball"] = pinball / len(quantiles)
    low = frame[quantile_column(min(quantiles))].to_numpy(dtype=float)
    high = frame[quantile_column(max(quantiles))].to_numpy(dtype=float)
    out["covered"] = ((y >= low) & (y <= high)).astype(float)
    return out


def _aggregate(errors: pd.DataFrame) -> dict:
    def mean(values):
        values = values[np.isfinite(values)]
        return float(np.mean(values)) if len(values) else None

    absy = float(errors["absy"].sum())
    return {
        "mase": mean(errors["scaled"].to_numpy()),
        "smape": mean(errors["smape"].to_numpy()),
        "mape": mean(errors["ape"].to_numpy()),
        "rmse": float(np.sqrt(errors["sq"].mean())) if len(errors) else None,
        "wql": float(errors["pinball"].sum() / absy) if absy > 0 else None,
        "coverage": float(errors["covered"].mean()) if len(errors) else None,
    }


def _rounded(values: dict) -> dict:
    return {
        k: (round(v, 6) if v is not None and np.isfinite(v) else None) for k, v in values.items()
    }


# Why a metric can be None (not measured), as the job's log says it.
UNMEASURED = {
    "mase": "every series' history before its cut is constant (no scale to divide by)",
    "smape": "every actual value and forecast is zero",
    "mape": "every actual value is zero",
    "wql": "every actual value is zero (no total to weigh the loss by)",
    "coverage": "a single quantile bounds no interval",
}


def unmeasured(metrics: dict) -> list[str]:
    """Sentences naming the metrics left None and why (for the job's log)."""
    return [
        f"{name} is not measured: {why}."
        for name, why in UNMEASURED.items()
        if name in metrics and metrics[name] is None
    ]


def score_forecasts(
    forecasts: pd.DataFrame, quantiles: list[float]
) -> tuple[dict, pd.DataFrame, pd.DataFrame]:
    """(overall metrics, metrics per series, metrics per horizon step) of forecasts that carry
    the actual value ``y`` and the series' MASE ``scale``. Overall MASE, sMAPE and MAPE are means
    of the per-series values (each series counts once); RMSE, WQL and coverage pool all rows."""
    if len(forecasts) == 0:
        return {}, pd.DataFrame(), pd.DataFrame()
    errors = _row_errors(forecasts, quantiles)
    per_series = pd.DataFrame(
        [{SERIES: name, **_aggregate(group)} for name, group in errors.groupby(SERIES, sort=False)]
    )
    by_step = pd.DataFrame(
        [{STEP: int(k), **_aggregate(group)} for k, group in errors.groupby(STEP)]
    )
    overall = _aggregate(errors)
    for name in ("mase", "smape", "mape"):
        values = per_series[name].dropna()
        overall[name] = float(values.mean()) if len(values) else None
    overall["coverage_nominal"] = round(max(quantiles) - min(quantiles), 6)
    if len(quantiles) < 2:  # one quantile bounds no interval: nothing to cover
        overall["coverage"] = overall["coverage_nominal"] = None
        per_series["coverage"] = by_step["coverage"] = np.nan
    return _rounded(overall), per_series.round(6), by_step.round(6)
