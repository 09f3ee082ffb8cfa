"""The forecaster interface, the baselines, and the table of forecasting algorithms.

A forecaster is fitted on a :class:`Panel` and asked for the steps of a ``future`` frame
(``series``, ``timestamp``, ``step`` and the covariates' future values); it answers with that
frame plus ``mean`` (the point forecast) and one column per quantile (``q0.1``, ...). Local
models (the baselines, ETS, Theta, ARIMA) fit each series when asked to forecast it, so a
backtest's cutoff or a request's fresh history needs no refit call; global models (LightGBM,
DeepAR) learn across series in ``fit`` and read each series' recent values when predicting.

Series too short for a model (``min_length``) are forecast by the naive baseline, and a series
the panel does not hold is refused (``forecast.unknown-series``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

import numpy as np
import pandas as pd
from scipy.stats import norm

from kiln.errors import ConfigError, DataError
from kiln.forecasting._panel import SERIES, STEP, Panel, quantile_column

__all__ = [
    "FORECASTERS",
    "Forecaster",
    "LocalForecaster",
    "forecaster_names",
    "gaussian_quantiles",
    "get_forecaster",
    "register_forecaster",
]


class Forecaster(ABC):
    """Point and quantile forecasts for every series of a panel (see the module docstring).

    Subclasses set ``name`` and implement ``_fit`` and ``_predict``; ``hyperparameters`` are
    what the constructor was given beyond the problem's own settings."""

    name: ClassVar[str] = ""
    # Whether the known-in-advance covariates change its forecasts.
    uses_covariates: ClassVar[bool] = False
    # Whether it learns across series (fit matters) or fits each series when forecasting.
    is_global: ClassVar[bool] = False

    def __init__(
        self,
        *,
        horizon: int,
        quantiles: list[float],
        season_length: int,
        seed: int = 0,
        threads: int = 1,
        **hyperparameters,
    ):
        self.horizon = horizon
        self.quantiles = list(quantiles)
        self.season_length = season_length
        self.seed = seed
        self.threads = threads
        self.hyperparameters = hyperparameters

    def min_length(self) -> int:
        """The fewest values a series needs for this model; shorter ones get the naive
        baseline. The problem's rule: the horizon plus one season."""
        return self.horizon + self.season_length

    def fit(self, panel: Panel) -> Forecaster:
        """Learn from the panel's series that are long enough."""
        lengths = panel.lengths()
        self._fit(panel.subset(lengths[lengths >= self.min_length()].index))
        return self

    def predict(self, panel: Panel, future: pd.DataFrame) -> pd.DataFrame:
        """``future`` with ``mean`` and the quantile columns, in ``future``'s row order."""
        lengths = panel.lengths()
        wanted = future[SERIES].drop_duplicates()
        unknown = wanted[~wanted.isin(lengths.index)].tolist()
        if unknown:
            raise DataError(
                f"Series {', '.join(map(repr, unknown[:5]))} have no history to forecast from. "
                "Send their recent values with the request (history), or train on data that "
                "holds them.",
                code="forecast.unknown-series",
                field="series",
            )
        long_enough = set(lengths[lengths >= self.min_length()].index)
        is_long = future[SERIES].isin(long_enough)
        parts = []
        if is_long.any():
            rows = future[is_long]
            parts.append(self._predict(panel.subset(long_enough), rows.reset_index(drop=True)))
            parts[-1].index = rows.index
        if (~is_long).any():
            rows = future[~is_long]
            fallback = Naive(
                horizon=self.horizon, quantiles=self.quantiles, season_length=self.season_length
            )
            short_ids = rows[SERIES].unique()
            parts.append(fallback._predict(panel.subset(short_ids), rows.reset_index(drop=True)))
            parts[-1].index = rows.index
        out = pd.concat(parts).loc[future.index]
        return _tidy(out, self.quantiles)

    @abstractmethod
    def _fit(self, panel: Panel) -> None:
        """Learn from these series (all long enough)."""

    @abstractmethod
    def _predict(self, panel: Panel, future: pd.DataFrame) -> pd.DataFrame:
        """``future`` (its index reset) with ``mean`` and the quantile columns."""

    def describe(self) -> dict:
        return {"algorithm": self.name, "hyperparameters": self.hyperparameters}


def _tidy(out: pd.DataFrame, quantiles: list[float]) -> pd.DataFrame:
    """Quantiles sorted per row (no crossing) and finite numbers only."""
    columns = [quantile_column(q) for q in quantiles]
    values = np.sort(out[columns].to_numpy(dtype=float), axis=1)
    out[columns] = values
    bad = ~np.isfinite(out[["mean", *columns]].to_numpy(dtype=float)).all(axis=1)
    if bad.any():
        first = out[bad].iloc[0]
        raise DataError(
            f"The forecast of series {first[SERIES]!r} at step {int(first[STEP])} is not a "
            "finite number: its values are probably far outside what the model was trained "
            "on. Check that series' recent values.",
            code="forecast.non-finite",
        )
    return out


def gaussian_quantiles(mean: np.ndarray, sd: np.ndarray, quantiles: list[float]) -> np.ndarray:
    """Quantiles (steps × quantiles) of normal forecasts with these means and deviations."""
    z = norm.ppf(np.asarray(quantiles, dtype=float))
    return mean[:, None] + np.asarray(sd, dtype=float)[:, None] * z[None, :]


class LocalForecaster(Forecaster):
    """A model fitted per series when it forecasts: subclasses define ``forecast_series``."""

    def _fit(self, panel: Panel) -> None:
        """Nothing to learn across series."""

    @abstractmethod
    def forecast_series(self, y: np.ndarray, horizon: int) -> tuple[np.ndarray, np.ndarray]:
        """(mean of shape (horizon,), quantiles of shape (horizon, len(quantiles)))."""

    def _predict(self, panel: Panel, future: pd.DataFrame) -> pd.DataFrame:
        out = future.copy()
        columns = [quantile_column(q) for q in self.quantiles]
        # Written by position into one array, then into the frame once: two pandas .loc writes
        # per series took most of a backtest's time (a per-series loop is what local models are).
        values = np.full((len(future), 1 + len(columns)), np.nan)
        all_steps = future[STEP].to_numpy(dtype=int)
        history = {name: group["y"].to_numpy(dtype=float) for name, group in panel.groups()}
        for name, positions in future.groupby(SERIES, sort=False).indices.items():
            steps = all_steps[positions]
            mean, quantiles = self.forecast_series(history[name], int(steps.max()))
            values[positions, 0] = mean[steps - 1]
            values[positions, 1:] = quantiles[steps - 1]
        out["mean"] = values[:, 0]
        out[columns] = values[:, 1:]
        return out


def _residual_sd(residuals: np.ndarray) -> float:
    residuals = residuals[np.isfinite(residuals)]
    return float(np.sqrt(np.mean(residuals**2))) if len(residuals) else 0.0


class Naive(LocalForecaster):
    """The last value carries on; the spread grows with the square root of the step."""

    name = "naive"

    def min_length(self) -> int:
        return 1

    def forecast_series(self, y, horizon):
        steps = np.arange(1, horizon + 1)
        mean = np.full(horizon, y[-1])
        sd = _residual_sd(np.diff(y)) * np.sqrt(steps)
        return mean, gaussian_quantiles(mean, sd, self.quantiles)


class SeasonalNaive(LocalForecaster):
    """Each step repeats the value one season earlier (Hyndman & Athanasopoulos, fpp3 5.2)."""

    name = "seasonal_naive"

    def min_length(self) -> int:
        return self.season_length

    def forecast_series(self, y, horizon):
        m = self.season_length
        steps = np.arange(1, horizon + 1)
        mean = y[len(y) - m + (steps - 1) % m]
        sd = _residual_sd(y[m:] - y[:-m]) * np.sqrt((steps - 1) // m + 1)
        return mean, gaussian_quantiles(mean, sd, self.quantiles)


class Mean(LocalForecaster):
    """The series' mean; the spread is its deviation (fpp3 5.5)."""

    name = "mean"

    def min_length(self) -> int:
        return 1

    def forecast_series(self, y, horizon):
        mean = np.full(horizon, float(np.mean(y)))
        sd = np.full(horizon, float(np.std(y, ddof=1)) if len(y) > 1 else 0.0)
        sd = sd * np.sqrt(1 + 1 / len(y))
        return mean, gaussian_quantiles(mean, sd, self.quantiles)


class Drift(LocalForecaster):
    """A straight line from the first value through the last (fpp3 5.2 and 5.5)."""

    name = "drift"

    def min_length(self) -> int:
        return 2

    def forecast_series(self, y, horizon):
        steps = np.arange(1, horizon + 1)
        slope = (y[-1] - y[0]) / (len(y) - 1)
        mean = y[-1] + slope * steps
        sigma = _residual_sd(np.diff(y) - slope)
        sd = sigma * np.sqrt(steps * (1 + steps / max(len(y) - 1, 1)))
        return mean, gaussian_quantiles(mean, sd, self.quantiles)


# name → (import path "module:Class", one-line description). Imported when used, so listing
# the algorithms loads neither statsmodels nor LightGBM nor PyTorch.
FORECASTERS: dict[str, tuple[str, str]] = {
    "naive": ("kiln.forecasting._forecaster:Naive", "The last value carries on."),
    "seasonal_naive": (
        "kiln.forecasting._forecaster:SeasonalNaive",
        "Each step repeats the value one season earlier.",
    ),
    "mean": ("kiln.forecasting._forecaster:Mean", "The series' mean."),
    "drift": ("kiln.forecasting._forecaster:Drift", "A line through the first and last values."),
    "ets": (
        "kiln.forecasting._statistical:ETS",
        "Automatic exponential smoothing per series (statsmodels ETS, chosen by AICc).",
    ),
    "theta": (
        "kiln.forecasting._statistical:Theta",
        "The theta method per series, deseasonalised (statsmodels).",
    ),
    "arima": (
        "kiln.forecasting._statistical:ARIMA",
        "Seasonal ARIMA per series with a stepwise order search by AIC (statsmodels).",
    ),
    "lightgbm": (
        "kiln.forecasting._gbm:LightGBM",
        "One gradient-boosted tree model over all series: lags, windows, calendar, covariates.",
    ),
    "deepar": ("kiln.forecasting._deepar:DeepAR", "A global probabilistic LSTM (PyTorch)."),
}


def register_forecaster(name: str, path: str, description: str) -> None:
    """Add a forecasting algorithm: ``path`` is ``"module:Class"`` of a Forecaster."""
    FORECASTERS[name] = (path, description)


def forecaster_names() -> list[str]:
    return list(FORECASTERS)


def forecaster_class(name: str) -> type[Forecaster]:
    import importlib

    if name not in FORECASTERS:
        raise ConfigError(
            f"Forecasting algorithm {name!r} does not exist. Choose one of "
            f"{', '.join(FORECASTERS)}.",
            code="forecast.unknown-algorithm",
            field="algorithm",
        )
    module, _, attribute = FORECASTERS[name][0].partition(":")
    return getattr(importlib.import_module(module), attribute)


def get_forecaster(
    name: str,
    *,
    horizon: int,
    quantiles: list[float],
    season_length: int,
    seed: int = 0,
    threads: int = 1,
    hyperparameters: dict | None = None,
) -> Forecaster:
    """A fresh forecaster of algorithm ``name``; unknown hyperparameters are refused."""
    cls = forecaster_class(name)
    try:
        return cls(
            horizon=horizon,
            quantiles=quantiles,
            season_length=season_length,
            seed=seed,
            threads=threads,
            **(hyperparameters or {}),
        )
    except TypeError as exc:
        raise ConfigError(
            f"Forecasting algorithm {name!r} does not take these hyperparameters: {exc}.",
            code="forecast.bad-hyperparameter",
            field="hyperparameters",
        ) from None
