"""Statistical forecasters fitted per series with statsmodels: automatic ETS, Theta and ARIMA.

Each series is fitted when it is forecast (they are :class:`LocalForecaster` s), in parallel
processes (joblib's loky) when ``threads > 1`` and there are many series. A configuration whose
fit fails is skipped; a series where every configuration fails is forecast by the seasonal
naive baseline and counted in ``fallbacks`` (shown by ``describe()``), never silently.

statsmodels rather than statsforecast: statsforecast fits an ETS model about four times faster,
but it caps pandas below 3 and kiln runs pandas 3 (docs/forecasting.md, "Algorithms").
"""

from __future__ import annotations

import logging
import warnings
from abc import abstractmethod
from itertools import product

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from threadpoolctl import threadpool_limits

from kiln.errors import ConfigError
from kiln.forecasting._forecaster import (
    LocalForecaster,
    Naive,
    SeasonalNaive,
    gaussian_quantiles,
)
from kiln.forecasting._panel import SERIES, STEP, TARGET, Panel, quantile_column

__all__ = ["ARIMA", "ETS", "Theta", "refuse_unknown"]

logger = logging.getLogger(__name__)

# Fewer series than this are fitted in this process: starting worker processes costs more.
PARALLEL_FROM = 16

# A series' known-in-advance covariates: (over its history, over the steps to forecast).
Covariates = tuple[np.ndarray, np.ndarray] | None


def refuse_unknown(algorithm: str, hyperparameters: dict) -> None:
    """Refuse hyperparameters an algorithm does not take (the base class would keep them)."""
    if hyperparameters:
        names = ", ".join(map(repr, hyperparameters))
        raise ConfigError(
            f"Forecasting algorithm {algorithm!r} does not take the hyperparameter(s) {names}; "
            "docs/forecasting.md (Algorithms) lists each algorithm's.",
            code="forecast.bad-hyperparameter",
            field=next(iter(hyperparameters)),
        )


class StatisticalForecaster(LocalForecaster):
    """A per-series statsmodels model with a seasonal-naive fallback and parallel fitting."""

    def __init__(self, **settings):
        super().__init__(**settings)
        refuse_unknown(self.name, self.hyperparameters)
        self.fallbacks = 0

    @abstractmethod
    def fit_series(
        self, y: np.ndarray, horizon: int, covariates: Covariates = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(mean, quantiles) of the model fitted on ``y``; raises when no fit succeeds.
        ``covariates`` (only for a model that ``uses_covariates``): their values over ``y``'s
        steps and over the ``horizon`` steps after it."""

    def _fallback(self, y: np.ndarray, horizon: int) -> tuple[np.ndarray, np.ndarray]:
        baseline = SeasonalNaive if len(y) >= self.season_length else Naive
        model = baseline(
            horizon=self.horizon, quantiles=self.quantiles, season_length=self.season_length
        )
        return model.forecast_series(y, horizon)

    def forecast_one(
        self, y: np.ndarray, horizon: int, covariates: Covariates = None
    ) -> tuple[np.ndarray, np.ndarray, bool]:
        """(mean, quantiles, whether the seasonal naive fallback made them)."""
        try:
            # One BLAS thread per fit: the fits are small, and parallelism is across series.
            with warnings.catch_warnings(), threadpool_limits(1):
                # statsmodels warns on every hard optimisation; a bad fit is judged by its
                # criterion and by the forecast being finite, not by the warnings.
                warnings.simplefilter("ignore")
                mean, quantiles = self.fit_series(y, horizon, covariates)
            if np.isfinite(mean).all() and np.isfinite(quantiles).all():
                return mean, quantiles, False
        except (ValueError, np.linalg.LinAlgError, FloatingPointError, IndexError) as exc:
            logger.debug("%s failed on a series: %s", self.name, exc)
        mean, quantiles = self._fallback(y, horizon)
        return mean, quantiles, True

    def forecast_series(self, y, horizon):
        mean, quantiles, fell_back = self.forecast_one(y, horizon)
        self.fallbacks += int(fell_back)
        return mean, quantiles

    def _predict(self, panel: Panel, future: pd.DataFrame) -> pd.DataFrame:
        out = future.copy()
        columns = [quantile_column(q) for q in self.quantiles]
        out["mean"] = np.nan
        for column in columns:
            out[column] = np.nan
        history = dict(panel.groups())
        groups = list(future.groupby(SERIES, sort=False))
        tasks = [
            (
                history[name][TARGET].to_numpy(dtype=float),
                int(rows[STEP].max()),
                self._covariates(panel, history[name], rows),
            )
            for name, rows in groups
        ]
        if self.threads > 1 and len(tasks) >= PARALLEL_FROM:
            results = Parallel(n_jobs=self.threads, backend="loky")(
                delayed(self.forecast_one)(*task) for task in tasks
            )
        else:
            results = [self.forecast_one(*task) for task in tasks]
        for (_, rows), (mean, quantiles, fell_back) in zip(groups, results, strict=True):
            steps = rows[STEP].to_numpy(dtype=int)
            out.loc[rows.index, "mean"] = mean[steps - 1]
            out.loc[rows.index, columns] = quantiles[steps - 1]
            self.fallbacks += int(fell_back)
        if self.fallbacks:
            logger.warning(
                "%s: %d series forecast by the seasonal naive fallback so far (no fit succeeded).",
                self.name,
                self.fallbacks,
            )
        return out

    def _covariates(self, panel: Panel, history: pd.DataFrame, future: pd.DataFrame) -> Covariates:
        """A series' covariates over its history and its next steps 1..max step, for a model
        that uses them; None when it does not, or when a value is missing at some step (the
        series is then forecast from its own values)."""
        if not (self.uses_covariates and panel.covariates):
            return None
        past = history[panel.covariates].to_numpy(dtype=float)
        ahead = np.full((int(future[STEP].max()), len(panel.covariates)), np.nan)
        ahead[future[STEP].to_numpy(dtype=int) - 1] = future[panel.covariates].to_numpy(float)
        if not (np.isfinite(past).all() and np.isfinite(ahead).all()):
            return None
        return past, ahead

    def describe(self) -> dict:
        return {**super().describe(), "fallbacks": self.fallbacks}


def _interval_quantiles(mean: np.ndarray, interval, quantiles: list[float]) -> np.ndarray:
    """Quantile columns from a model's central intervals: ``interval(alpha)`` gives the
    (lower, upper) arrays of the 1 - alpha interval; quantile q < 0.5 is the lower end of the
    1 - 2q interval, q > 0.5 the upper end of the 2q - 1 one, and 0.5 the mean."""
    columns = []
    for q in quantiles:
        if q == 0.5:
            columns.append(mean)
            continue
        lower, upper = interval(2 * min(q, 1 - q))
        columns.append(np.asarray(lower if q < 0.5 else upper, dtype=float))
    return np.column_stack(columns)


class ETS(StatisticalForecaster):
    """Automatic ETS: a small grid of statsmodels ``ETSModel`` configurations per series,
    chosen by AICc (Hyndman et al. 2008, as R's ``ets`` and statsforecast's AutoETS).

    The grid: error additive, or multiplicative where the series is positive; trend none or
    additive damped; season none, additive, or multiplicative (positive series, multiplicative
    error only: additive error with multiplicative season is numerically unstable) when the
    series holds two seasons. Initial states come from the heuristic of Hyndman et al. (2008,
    2.6.1) rather than the optimiser, which makes a fit 5 to 70 times faster; they are counted
    as parameters in the AICc all the same, so seasonal models pay for their ``m`` states."""

    name = "ets"

    def __init__(self, *, damped: bool = True, **settings):
        super().__init__(**settings)
        if not isinstance(damped, bool):
            raise ConfigError(
                f"ETS's damped must be true or false; got {damped!r}.",
                code="forecast.bad-hyperparameter",
                field="damped",
            )
        self.damped = damped
        self.hyperparameters = {"damped": damped}

    def configurations(self, y: np.ndarray) -> list[tuple[str, str | None, str | None]]:
        """(error, trend, season) of each model to try on ``y``."""
        positive = bool((y > 0).all())
        m = self.season_length
        seasons: list[str | None] = [None]
        if m > 1 and len(y) >= 2 * m:
            seasons += ["add", "mul"] if positive else ["add"]
        errors = ["add", "mul"] if positive else ["add"]
        return [
            (error, trend, season)
            for error, trend, season in product(errors, [None, "add"], seasons)
            if not (error == "add" and season == "mul")
        ]

    def fit_series(self, y, horizon, covariates=None):
        from statsmodels.tsa.exponential_smoothing.ets import ETSModel

        # statsmodels' prediction needs a pandas index (it fails on plain arrays).
        endog = pd.Series(y)
        n = len(y)
        best, best_score = None, np.inf
        for error, trend, season in self.configurations(y):
            m = self.season_length if season else None
            heuristic = n >= max(10, 2 * (m or 1))
            try:
                result = ETSModel(
                    endog,
                    error=error,
                    trend=trend,
                    damped_trend=bool(trend) and self.damped,
                    seasonal=season,
                    seasonal_periods=m,
                    initialization_method="heuristic" if heuristic else "estimated",
                ).fit(disp=False)
            except (ValueError, np.linalg.LinAlgError, FloatingPointError):
                continue
            # Smoothing parameters, initial states (however found) and the error's variance.
            smoothing = [p for p in result.model.param_names if not p.startswith("initial")]
            k = len(smoothing) + 1 + bool(trend) + (m or 0) + 1
            score = (
                -2 * result.llf + 2 * k + (2 * k * (k + 1) / (n - k - 1) if n > k + 1 else np.inf)
            )
            if np.isfinite(score) and score < best_score:
                best, best_score = result, score
        if best is None:
            raise ValueError("no ETS configuration could be fitted")
        # Multiplicative-error intervals are simulated: seeded, so a forecast repeats.
        prediction = best.get_prediction(
            start=n, end=n + horizon - 1, rng=np.random.default_rng(self.seed)
        )
        mean = np.asarray(prediction.predicted_mean, dtype=float)

        def interval(alpha):
            bounds = np.asarray(prediction.pred_int(alpha=alpha), dtype=float)
            return bounds[:, 0], bounds[:, 1]

        return mean, _interval_quantiles(mean, interval, self.quantiles)


class Theta(StatisticalForecaster):
    """statsmodels' ``ThetaModel`` (Assimakopoulos & Nikolopoulos 2000; Hyndman & Billah 2003):
    deseasonalised by a classical decomposition when the series holds two seasons and tests
    seasonal.

    Its intervals are those of the equivalent simple exponential smoothing with drift, whose
    step-``h`` variance is ``σ² (1 + (h - 1) α²)``; statsmodels' own ``σ²`` comes out several
    times too wide on seasonal series (80% intervals covered every value in our tests), so
    ``σ`` is measured here on the series itself: the model is fitted once more without the last
    ``horizon`` values, and its errors on them, each divided by its step's factor, give ``σ``."""

    name = "theta"

    def _fit_theta(self, y: np.ndarray):
        from statsmodels.tsa.forecasting.theta import ThetaModel

        m = self.season_length
        seasonal = m > 1 and len(y) >= 2 * m
        return ThetaModel(pd.Series(y), period=m if seasonal else 1, deseasonalize=seasonal).fit()

    def fit_series(self, y, horizon, covariates=None):
        result = self._fit_theta(y)
        mean = np.asarray(result.forecast(horizon), dtype=float)
        alpha = float(result.params["alpha"])
        held = min(self.horizon, len(y) - max(2 * self.season_length, 10))
        if held >= 1:
            check = self._fit_theta(y[:-held])
            errors = y[-held:] - np.asarray(check.forecast(held), dtype=float)
            factors = 1 + np.arange(held) * alpha**2
            sigma = float(np.sqrt(np.mean(errors**2 / factors)))
        else:
            sigma = float(np.std(np.diff(y))) if len(y) > 2 else 0.0
        sd = sigma * np.sqrt(1 + np.arange(horizon) * alpha**2)
        return mean, gaussian_quantiles(mean, sd, self.quantiles)


class ARIMA(StatisticalForecaster):
    """Seasonal ARIMA by statsmodels' ``SARIMAX`` with a stepwise order search by AIC, after
    Hyndman & Khandakar (2008), on a small space (docs/forecasting.md, "Algorithms"):

    * d (0–2) by repeated KPSS tests at 5%; D (0–1) is 1 when the season's strength (STL,
      Wang et al. 2006) is above 0.64, as R's ``auto.arima`` by default;
    * p, q in 0..``max_order`` (3), P, Q in 0..1;
    * start from (2,d,2)(1,D,1), (0,d,0)(0,D,0), (1,d,0)(1,D,0), (0,d,1)(0,D,1); then move one
      of p, q, P, Q by ±1 from the best while the AIC improves, at most ``max_models`` (10) fits;
    * a constant when d + D = 0, a drift when d + D = 1, neither otherwise;
    * fitted on the last ``max_history`` (500) values (ARIMA fits grow with the length);
    * with known-in-advance covariates, a regression on them with ARIMA errors (R's
      ``auto.arima(xreg=)``, statsforecast's AutoARIMA with exogenous columns): the differences
      are chosen on the residuals of the least-squares regression, and the order search fits
      the regression and the errors together. A covariate constant over the history is left
      out (it cannot be told from the constant)."""

    name = "arima"
    uses_covariates = True

    def __init__(
        self, *, max_order: int = 3, max_models: int = 10, max_history: int = 500, **settings
    ):
        super().__init__(**settings)
        for field, value, low in (
            ("max_order", max_order, 0),
            ("max_models", max_models, 1),
            ("max_history", max_history, 10),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ConfigError(
                    f"ARIMA's {field} must be a whole number of {low} or more; got {value!r}.",
                    code="forecast.bad-hyperparameter",
                    field=field,
                )
        self.max_order = max_order
        self.max_models = max_models
        self.max_history = max_history
        self.hyperparameters = {
            "max_order": max_order,
            "max_models": max_models,
            "max_history": max_history,
        }

    def differences(self, y: np.ndarray) -> tuple[int, int]:
        """(d, D): the regular and seasonal differences the series needs."""
        from statsmodels.tools.sm_exceptions import InterpolationWarning
        from statsmodels.tsa.seasonal import STL
        from statsmodels.tsa.stattools import kpss

        m = self.season_length
        seasonal_d = 0
        if m > 1 and len(y) >= 2 * m + 1:
            parts = STL(y, period=m).fit()
            residual = np.var(parts.resid)
            strength = 1 - residual / max(np.var(parts.resid + parts.seasonal), 1e-12)
            if strength > 0.64:
                seasonal_d = 1
                y = y[m:] - y[:-m]
        d = 0
        while d < 2 and len(y) > 10 and np.ptp(y) > 0:
            # R's auto.arima (urca's "short" lags), as statsforecast: statsmodels' "auto"
            # lags differenced less often than both on the same series.
            lags = int(4 * (len(y) / 100) ** 0.25)
            with warnings.catch_warnings():
                # Its p-value table stops at 0.01 and 0.1, which is all a 5 % test needs.
                warnings.simplefilter("ignore", InterpolationWarning)
                p_value = kpss(y, regression="c", nlags=lags, result_object=True).pvalue
            if p_value >= 0.05:
                break
            y = np.diff(y)
            d += 1
        return d, seasonal_d

    def fit_series(self, y, horizon, covariates=None):
        from statsmodels.tsa.statespace.sarimax import SARIMAX

        y = y[-self.max_history :]
        m = self.season_length if self.season_length > 1 else 0
        exog, exog_ahead = None, None
        if covariates is not None:
            past, ahead = covariates
            past = past[-self.max_history :]
            varies = np.ptp(past, axis=0) > 0
            if varies.any():
                exog, exog_ahead = past[:, varies], ahead[:horizon, varies]
        if exog is None:
            d, seasonal_d = self.differences(y)
        else:
            design = np.column_stack([np.ones(len(y)), exog])
            coefficients, *_ = np.linalg.lstsq(design, y, rcond=None)
            d, seasonal_d = self.differences(y - design @ coefficients)
        if not m:
            seasonal_d = 0
        trend = {0: "c", 1: "t"}.get(d + seasonal_d, "n")
        endog = pd.Series(y)
        fitted: dict[tuple[int, int, int, int], object] = {}

        def aic(order):
            if order in fitted:
                return fitted[order][0]
            p, q, sp, sq = order
            try:
                result = SARIMAX(
                    endog,
                    exog=exog,
                    order=(p, d, q),
                    seasonal_order=(sp, seasonal_d, sq, m) if m else (0, 0, 0, 0),
                    trend=trend,
                ).fit(disp=False)
                score = float(result.aic) if np.isfinite(result.aic) else np.inf
            except (ValueError, np.linalg.LinAlgError):
                result, score = None, np.inf
            fitted[order] = (score, result)
            return score

        seasonal = 1 if m else 0
        starts = [
            (2, 2, seasonal, seasonal),
            (0, 0, 0, 0),
            (1, 0, seasonal, 0),
            (0, 1, 0, seasonal),
        ]
        best = min(starts[: self.max_models], key=aic)
        improved = True
        while improved and len(fitted) < self.max_models:
            improved = False
            for index, change in product(range(4), (-1, 1)):
                order = list(best)
                order[index] += change
                limit = self.max_order if index < 2 else seasonal
                if not 0 <= order[index] <= limit or tuple(order) in fitted:
                    continue
                if len(fitted) >= self.max_models:
                    break
                if aic(tuple(order)) < aic(best):
                    best, improved = tuple(order), True
        score, result = fitted[best]
        if result is None:
            raise ValueError("no ARIMA order could be fitted")
        forecast = result.get_forecast(horizon, exog=exog_ahead)
        mean = np.asarray(forecast.predicted_mean, dtype=float)
        sd = np.sqrt(np.maximum(np.asarray(forecast.var_pred_mean, dtype=float), 0))
        return mean, gaussian_quantiles(mean, sd, self.quantiles)
