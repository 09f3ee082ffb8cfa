"""The DeepAR forecaster: it learns a season and a covariate, its paths are reproducible and it
pickles; without PyTorch it says how to install it."""

import pickle
import sys
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from kiln.errors import ConfigError
from kiln.forecasting import ForecastSpec, get_forecaster, prepare_panel

HORIZON, SEASON = 7, 7
QUANTILES = [0.1, 0.5, 0.9]
TINY = {
    "epochs": 6,
    "batches_per_epoch": 20,
    "batch_size": 32,
    "hidden_size": 16,
    "layers": 1,
    "num_samples": 40,
    "learning_rate": 0.01,
}


def _table() -> pd.DataFrame:
    """Twelve weekly-seasonal daily series at three levels; a promotion adds 20."""
    rng = np.random.default_rng(0)
    t = np.arange(120)
    parts = []
    for i in range(12):
        promo = (rng.random(len(t)) < 0.3).astype(float)
        sales = 40 + 10 * (i % 3) + 8 * np.sin(2 * np.pi * t / 7) + 20 * promo
        parts.append(
            pd.DataFrame(
                {
                    "store": f"s{i}",
                    "date": pd.date_range("2024-01-01", periods=len(t), freq="D"),
                    "sales": sales + rng.normal(0, 1, len(t)),
                    "promo": promo,
                    "size": ["small", "medium", "large"][i % 3],
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


@pytest.fixture(scope="module")
def setting():
    """(the full panel, the panel without its last week, DeepAR fitted on the latter)."""
    spec = ForecastSpec(
        target="sales",
        timestamp="date",
        id_columns=["store"],
        horizon=HORIZON,
        covariates=["promo"],
        static=["size"],
    )
    panel, _future, _notes = prepare_panel(_table(), spec)
    history = panel.drop_last(HORIZON)
    model = get_forecaster(
        "deepar",
        horizon=HORIZON,
        quantiles=QUANTILES,
        season_length=SEASON,
        hyperparameters=TINY,
    ).fit(history)
    return panel, history, model


def _future(panel, history, promo: float | None = None) -> pd.DataFrame:
    covariates = panel.frame if promo is None else panel.frame.assign(promo=promo)
    return history.future(HORIZON, covariates=covariates)


def test_beats_the_mean_baseline_on_a_seasonal_panel(setting):
    panel, history, model = setting
    future = _future(panel, history)
    actual = future.merge(panel.frame[["series", "timestamp", "y"]], on=["series", "timestamp"])
    mean_model = get_forecaster("mean", horizon=HORIZON, quantiles=QUANTILES, season_length=7)
    errors = {}
    for name, forecaster in {"deepar": model, "mean": mean_model}.items():
        forecast = forecaster.predict(history, future)
        errors[name] = float(np.mean(np.abs(forecast["mean"] - actual["y"])))
    assert errors["deepar"] < 0.6 * errors["mean"], errors
    assert len(model.history) == TINY["epochs"]
    assert model.history[-1] < model.history[0]


def test_quantiles_ordered_and_paths_reproducible_for_a_seed(setting):
    panel, history, model = setting
    future = _future(panel, history)
    first = model.predict(history, future)
    again = model.predict(history, future)
    pd.testing.assert_frame_equal(first, again)
    assert (first["q0.1"] < first["q0.5"]).all() and (first["q0.5"] < first["q0.9"]).all()
    other = pickle.loads(pickle.dumps(model))
    other.seed = 1
    assert not np.allclose(other.predict(history, future)["mean"], first["mean"])


def test_pickle_round_trip_gives_equal_forecasts(setting):
    panel, history, model = setting
    future = _future(panel, history)
    loaded = pickle.loads(pickle.dumps(model))
    assert loaded._net is None  # the weights travel as bytes, not as a live module
    pd.testing.assert_frame_equal(loaded.predict(history, future), model.predict(history, future))


def test_covariates_change_the_forecast(setting):
    panel, history, model = setting
    with_promo = model.predict(history, _future(panel, history, promo=1.0))
    without = model.predict(history, _future(panel, history, promo=0.0))
    assert (with_promo["mean"] - without["mean"]).mean() > 10


def test_a_series_unseen_in_training_is_forecast_from_its_history(setting):
    panel, history, model = setting
    newcomer = history.frame[history.frame["series"] == "s1"].assign(series="new")
    extended = history.append(newcomer)
    future = extended.subset(["new"]).future(HORIZON, covariates=panel.frame.assign(series="new"))
    forecast = model.predict(extended, future)
    level = newcomer["y"].mean()
    assert abs(forecast["mean"].mean() - level) < 0.3 * level


def test_time_limit_stops_training_early(setting):
    _panel, history, _model = setting
    quick = get_forecaster(
        "deepar",
        horizon=HORIZON,
        quantiles=QUANTILES,
        season_length=SEASON,
        hyperparameters={**TINY, "epochs": 10_000, "batches_per_epoch": 1, "time_limit": 0.2},
    ).fit(history)
    assert 1 <= len(quick.history) < 10_000


@pytest.mark.parametrize(
    ("name", "value"),
    [("epochs", 0), ("dropout", 1.0), ("distribution", "poisson"), ("context_length", -3)],
)
def test_bad_hyperparameters_are_refused(name, value):
    with pytest.raises(ConfigError) as caught:
        get_forecaster(
            "deepar",
            horizon=HORIZON,
            quantiles=QUANTILES,
            season_length=SEASON,
            hyperparameters={name: value},
        )
    assert caught.value.code == "forecast.bad-hyperparameter"
    assert name in str(caught.value)


def test_without_torch_deepar_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(ConfigError) as caught:
        get_forecaster("deepar", horizon=HORIZON, quantiles=QUANTILES, season_length=SEASON)
    assert caught.value.code == "forecast.needs-torch"
    assert "pip install 'kiln[deepar]'" in str(caught.value)


def test_trained_on_only_short_series_it_forecasts_by_the_naive_baseline(setting):
    panel, _history, _model = setting
    short = panel.subset(["s0"]).drop_last(len(panel.values("s0")) - 10)
    model = get_forecaster(
        "deepar", horizon=HORIZON, quantiles=QUANTILES, season_length=SEASON, hyperparameters=TINY
    ).fit(short)
    assert model.history == []
    longer = panel.subset(["s0"]).drop_last(HORIZON)
    forecast = model.predict(longer, longer.future(HORIZON, covariates=panel.frame))
    assert np.allclose(forecast["mean"], longer.values("s0")[-1])


def test_empty_target_values_inside_a_series_are_left_out_of_the_loss(setting):
    panel, history, _model = setting
    holes = history.frame.copy()
    holes.loc[holes.index[5:40:3], "y"] = np.nan
    patchy = replace(history, frame=holes)
    model = get_forecaster(
        "deepar",
        horizon=HORIZON,
        quantiles=QUANTILES,
        season_length=SEASON,
        hyperparameters={**TINY, "epochs": 1, "batches_per_epoch": 3},
    ).fit(patchy)
    assert np.isfinite(model.history).all()
    forecast = model.predict(patchy, _future(panel, patchy))
    assert np.isfinite(forecast[["mean", "q0.1", "q0.9"]].to_numpy()).all()


def test_training_is_deterministic_for_a_seed(setting):
    panel, history, _model = setting
    quick = {**TINY, "epochs": 1, "batches_per_epoch": 3}
    future = _future(panel, history)
    forecasts = [
        get_forecaster(
            "deepar",
            horizon=HORIZON,
            quantiles=QUANTILES,
            season_length=SEASON,
            seed=seed,
            hyperparameters=quick,
        )
        .fit(history)
        .predict(history, future)["mean"]
        for seed in (3, 3, 4)
    ]
    assert np.array_equal(forecasts[0], forecasts[1])
    assert not np.allclose(forecasts[0], forecasts[2])
