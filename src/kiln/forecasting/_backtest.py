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


def _scales(history: Panel) -> pd.Series:
    """:func:`scale_of` of every series of ``history`` at once (by group means of lagged
    differences, not a loop: a panel may hold 10,000 series)."""
    frame = history.frame
    by_series = frame.groupby(SERIES, sort=False)[TARGET]
    scales = pd.Series(np.nan, index=by_series.size().index)
    for lag in (history.season_length, 1):  # the season's lag first, lag 1 where it fails
        if lag < 1:
            continue
        errors = by_series.diff(lag).abs()
        found = errors.groupby(frame[SERIES], sort=False).mean()
        scales = scales.fillna(found.where(found > 0))
    return scales


@dataclass
class Backtest:
    """A backtest's forecasts beside the actual values, and the metrics measured on them."""

    forecasts: pd.DataFrame  # window, series, timestamp, step, mean, q..., y, scale
    metrics: dict
    per_series: pd.DataFrame
    by_step: pd.DataFrame
    seconds: float
    windows: int
    # Whether the deadline stopped it before its last window (the windows done are scored).
    stopped: bool = False

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

    A series with no values before a window's cut is not scored in that window. Stops (and
    says so in ``stopped``) after a window when ``time.time()`` has passed ``deadline``, or
    would pass it before another window like the last one ends (the windows done are
    scored)."""
    started = time.perf_counter()
    parts = []
    stopped = False
    for k in range(windows, 0, -1):
        history = panel.drop_last(k * horizon)
        if len(history.frame) == 0:
            continue
        window_started = time.time()
        model = make().fit(history)
        future = history.future(horizon, covariates=panel.frame)
        forecast = model.predict(history, future)
        actual = panel.frame[[SERIES, TIMESTAMP, TARGET]]
        forecast = forecast.merge(actual, on=[SERIES, TIMESTAMP], how="inner")
        forecast["scale"] = forecast[SERIES].map(_scales(history)).astype(float)
        forecast.insert(0, WINDOW, windows - k + 1)
        parts.append(forecast)
        if log:
            log(f"Backtest window {windows - k + 1}/{windows}: {len(forecast)} forecasts scored.")
        # The next window is not started when it cannot end in time (as long as this one).
        ending = time.time() + (time.time() - window_started)
        if deadline is not None and k > 1 and ending > deadline:
            stopped = True
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
        stopped=stopped,
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


def _aggregate(errors: pd.DataFrame, by: str | None = None) -> pd.DataFrame:
    """The metrics of ``errors`` (one row), or of each of its ``by`` groups (one row each): by
    group sums, not a loop over groups (a panel may hold 10,000 series). A metric with nothing
    to measure is NaN (None once rounded)."""
    keys = errors[by] if by else pd.Series(0, index=errors.index)
    finite = errors[["scaled", "smape", "ape"]].where(
        np.isfinite(errors[["scaled", "smape", "ape"]].to_numpy(dtype=float))
    )
    grouped = pd.concat([finite, errors[["sq", "pinball", "absy", "covered"]]], axis=1).groupby(
        keys.to_numpy(), sort=by == STEP
    )
    means, sums = grouped.mean(), grouped.sum()
    absy = sums["absy"]
    out = pd.DataFrame(
        {
            "mase": means["scaled"],
            "smape": means["smape"],
            "mape": means["ape"],
            "rmse": np.sqrt(means["sq"]),
            "wql": (sums["pinball"] / absy.where(absy > 0)),
            "coverage": means["covered"],
        }
    )
    if by:
        out.insert(0, by, out.index)
    return out.reset_index(drop=True)


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
    per_series = _aggregate(errors, SERIES)
    by_step = _aggregate(errors, STEP)
    by_step[STEP] = by_step[STEP].astype(int)
    overall = {k: (None if pd.isna(v) else float(v)) for k, v in _aggregate(errors).iloc[0].items()}
    for name in ("mase", "smape", "mape"):
        values = per_series[name].dropna()
        overall[name] = float(values.mean()) if len(values) else None
    overall["coverage_nominal"] = round(max(quantiles) - min(quantiles), 6)
    if len(quantiles) < 2:  # one quantile bounds no interval: nothing to cover
        overall["coverage"] = overall["coverage_nominal"] = None
        per_series["coverage"] = by_step["coverage"] = np.nan
    return _rounded(overall), per_series.round(6), by_step.round(6)
