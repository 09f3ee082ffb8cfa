"""Forecasting: the next steps of each series of a long table, with quantiles.

The problem (:class:`ForecastSpec`), the checked panel of series (:func:`prepare_panel`), the
forecasters (baselines, ETS, Theta, ARIMA, LightGBM, DeepAR; :data:`FORECASTERS`), rolling-origin
backtests with MASE, sMAPE, MAPE, RMSE, WQL and coverage (:func:`backtest`), and the registered
:class:`ForecastModel` that endpoints and batch transform serve. See docs/forecasting.md.
"""

from kiln.forecasting._automl import (
    ForecastAutoMLResult,
    forecast_automl,
    forecast_spec_from_options,
    plan_candidates,
    search_forecasters,
)
from kiln.forecasting._backtest import Backtest, backtest, scale_of, score_forecasts
from kiln.forecasting._ensemble import EnsembleForecaster, greedy_ensemble
from kiln.forecasting._forecaster import (
    FORECASTERS,
    Forecaster,
    LocalForecaster,
    forecaster_class,
    forecaster_names,
    gaussian_quantiles,
    get_forecaster,
    register_forecaster,
)
from kiln.forecasting._model import ForecastModel
from kiln.forecasting._options import (
    FORECAST_OPTIONS,
    check_not_forecasting,
    forecast_spec_of,
    train_forecasting,
)
from kiln.forecasting._panel import (
    SHORT_SERIES_RULES,
    ForecastSpec,
    Panel,
    prepare_panel,
    quantile_column,
)
from kiln.forecasting._report import backtest_sections, forecast_report
from kiln.forecasting._train import (
    DEFAULT_ALGORITHM,
    backtest_frames,
    forecasting_job_spec,
    load_panel,
    register_forecast_model,
    run_forecasting_job,
    series_names,
    store_backtest,
    train_forecaster,
)

__all__ = [
    "DEFAULT_ALGORITHM",
    "FORECASTERS",
    "FORECAST_OPTIONS",
    "SHORT_SERIES_RULES",
    "Backtest",
    "EnsembleForecaster",
    "ForecastAutoMLResult",
    "ForecastModel",
    "ForecastSpec",
    "Forecaster",
    "LocalForecaster",
    "Panel",
    "backtest",
    "backtest_frames",
    "backtest_sections",
    "check_not_forecasting",
    "forecast_report",
    "forecast_spec_of",
    "forecast_automl",
    "forecast_spec_from_options",
    "forecaster_class",
    "forecaster_names",
    "forecasting_job_spec",
    "gaussian_quantiles",
    "get_forecaster",
    "greedy_ensemble",
    "load_panel",
    "plan_candidates",
    "prepare_panel",
    "quantile_column",
    "register_forecast_model",
    "register_forecaster",
    "run_forecasting_job",
    "scale_of",
    "score_forecasts",
    "search_forecasters",
    "series_names",
    "store_backtest",
    "train_forecaster",
    "train_forecasting",
]
