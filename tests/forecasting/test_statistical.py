"""ETS, Theta and ARIMA: better than the baselines where they should be, sane intervals, and a
series whose fit fails forecast by the seasonal naive fallback (counted)."""

import dataclasses

import numpy as np
import pandas as pd
import pytest

from kiln.errors import ConfigError
from kiln.forecasting import ForecastSpec, backtest, get_forecaster, prepare_panel

QUANTILES = [0.1, 0.5, 0.9]
HORIZON = 7


def _panel(values: dict[str, np.ndarray]):
    frame = pd.concat(
        pd.DataFrame(
            {"id": name, "day": pd.date_range("2024-01-01", periods=len(y), freq="D"), "y": y}
        )
        for name, y in values.items()
    )
    spec = ForecastSpec(target="y", timestamp="day", id_columns=["id"], horizon=HORIZON)
    return prepare_panel(frame, spec)[0]


@pytest.fixture(scope="module")
def seasonal():
    """Four daily series with a weekly season, a trend and little noise."""
    rng = np.random.default_rng(1)
    t = np.arange(56)
    return _panel(
        {
            f"s{i}": 100 + 20 * np.sin(2 * np.pi * t / 7 + i) + 0.4 * t + rng.normal(0, 2, 56)
            for i in range(4)
        }
    )


def _scores(name, panel, **hyperparameters):
    def make():
        return get_forecaster(
            name,
            horizon=HORIZON,
            quantiles=QUANTILES,
            season_length=panel.season_length,
            hyperparameters=hyperparameters,
        )

    return backtest(make, panel, horizon=HORIZON, windows=2, quantiles=QUANTILES)


@pytest.fixture(scope="module")
def baseline(seasonal):
    return _scores("seasonal_naive", seasonal).metrics


@pytest.mark.parametrize(("name", "ratio"), [("ets", 0.8), ("theta", 0.95)])
def test_beats_seasonal_naive_with_ordered_sane_intervals(seasonal, baseline, name, ratio):
    result = _scores(name, seasonal)
    assert result.metrics["mase"] < ratio * baseline["mase"]
    assert result.metrics["wql"] < baseline["wql"]
    assert 0.6 <= result.metrics["coverage"] <= 0.98
    forecasts = result.forecasts
    assert (forecasts["q0.1"] <= forecasts["q0.5"]).all()
    assert (forecasts["q0.5"] <= forecasts["q0.9"]).all()
    assert (forecasts["q0.9"] > forecasts["q0.1"]).any()


def test_ets_with_simulated_intervals_repeats_its_forecast(seasonal):
    y = seasonal.values("s0")
    ets = get_forecaster("ets", horizon=HORIZON, quantiles=QUANTILES, season_length=7, seed=4)
    ets.configurations = lambda _y: [("mul", None, "mul")]  # intervals by simulation
    first, second = ets.forecast_series(y, HORIZON), ets.forecast_series(y, HORIZON)
    np.testing.assert_array_equal(first[1], second[1])
    assert ets.fallbacks == 0


def test_arima_beats_naive_on_an_autoregressive_series():
    rng = np.random.default_rng(2)
    values = {}
    for i in range(2):
        y = np.zeros(60)
        for k in range(1, 60):
            y[k] = 0.3 * y[k - 1] + rng.normal(0, 1)
        values[f"ar{i}"] = 50 + y
    panel = _panel(values)
    panel.season_length = 1
    arima = _scores("arima", panel, max_models=3)
    naive = _scores("naive", panel)
    assert arima.metrics["mase"] < 0.85 * naive.metrics["mase"]
    assert 0.5 <= arima.metrics["coverage"] <= 1.0


def _promoted(constant: bool = False):
    """Two daily series lifted by 15 on promotion days (random, known in advance), with
    autoregressive noise; ``constant``: the promotion never changes over the history."""
    rng = np.random.default_rng(3)
    frames = []
    for name in ("a", "b"):
        promo = (rng.random(90) < 0.3).astype(float)
        if constant:
            promo[:] = 1.0
        noise = np.zeros(90)
        for k in range(1, 90):
            noise[k] = 0.5 * noise[k - 1] + rng.normal(0, 1)
        days = pd.date_range("2024-01-01", periods=90, freq="D")
        frames.append(pd.DataFrame({"id": name, "day": days, "y": 40 + 15 * promo + noise}))
        frames[-1]["promo"] = promo
    spec = ForecastSpec(
        target="y", timestamp="day", id_columns=["id"], horizon=HORIZON, covariates=["promo"]
    )
    panel = prepare_panel(pd.concat(frames), spec)[0]
    panel.season_length = 1
    return panel


def test_arima_regresses_on_known_covariates_with_arima_errors():
    panel = _promoted()
    with_promo = _scores("arima", panel, max_models=4)
    without = _scores("arima", dataclasses.replace(panel, covariates=[]), max_models=4)
    assert with_promo.metrics["mase"] < 0.5 * without.metrics["mase"]
    assert 0.6 <= with_promo.metrics["coverage"] <= 1.0


def test_arima_leaves_out_a_covariate_constant_over_the_history():
    panel = _promoted(constant=True)
    arima = get_forecaster(
        "arima", horizon=HORIZON, quantiles=QUANTILES, season_length=1, hyperparameters={}
    )
    plain = dataclasses.replace(panel, covariates=[])
    ahead = plain.future(HORIZON).assign(promo=1.0)
    forecast = arima.fit(panel).predict(panel, panel.future(HORIZON, covariates=ahead))
    expected = arima.predict(plain, plain.future(HORIZON))
    assert arima.fallbacks == 0
    np.testing.assert_allclose(forecast["mean"], expected["mean"])


def test_arima_differences_a_random_walk_once():
    walk = np.cumsum(np.random.default_rng(4).normal(0, 1, 200))
    arima = get_forecaster("arima", horizon=HORIZON, quantiles=QUANTILES, season_length=1)
    assert arima.differences(walk) == (1, 0)
    assert arima.differences(np.random.default_rng(0).normal(0, 1, 200)) == (0, 0)


def test_a_failing_configuration_is_skipped_and_a_failing_series_falls_back(monkeypatch):
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel

    y = 100 + 20 * np.sin(2 * np.pi * np.arange(42) / 7)
    real_fit = ETSModel.fit

    def seasonal_fails(self, *args, **kwargs):
        if self.seasonal is not None:
            raise ValueError("no seasonal fit")
        return real_fit(self, *args, **kwargs)

    ets = get_forecaster("ets", horizon=HORIZON, quantiles=QUANTILES, season_length=7)
    monkeypatch.setattr(ETSModel, "fit", seasonal_fails)
    mean, _ = ets.forecast_series(y, HORIZON)
    assert ets.fallbacks == 0 and np.isfinite(mean).all()

    def always_fails(self, *args, **kwargs):
        raise np.linalg.LinAlgError("singular")

    monkeypatch.setattr(ETSModel, "fit", always_fails)
    mean, quantiles = ets.forecast_series(y, HORIZON)
    assert ets.fallbacks == 1
    assert ets.describe()["fallbacks"] == 1
    np.testing.assert_allclose(mean, y[-7:])  # the seasonal naive forecast
    assert quantiles.shape == (HORIZON, 3)


@pytest.mark.parametrize(
    ("name", "hyperparameters", "field"),
    [
        ("ets", {"damped": "yes"}, "damped"),
        ("arima", {"max_order": -1}, "max_order"),
        ("theta", {"alpha": 0.5}, "alpha"),
    ],
)
def test_bad_hyperparameters_are_refused(name, hyperparameters, field):
    with pytest.raises(ConfigError) as error:
        get_forecaster(
            name,
            horizon=HORIZON,
            quantiles=QUANTILES,
            season_length=7,
            hyperparameters=hyperparameters,
        )
    assert error.value.code == "forecast.bad-hyperparameter"
    assert field in str(error.value)


def test_training_refuses_a_bad_hyperparameter_before_any_job(ws, tmp_path):
    days = pd.date_range("2024-01-01", periods=30, freq="D").strftime("%Y-%m-%d")
    path = tmp_path / "sales.csv"
    pd.DataFrame({"store": "a", "date": days, "sales": np.arange(30.0)}).to_csv(path, index=False)
    ws.data.ingest(path, name="sales")
    with pytest.raises(ConfigError) as error:
        ws.train(
            "sales",
            problem_type="forecasting",
            target="sales",
            timestamp="date",
            id="store",
            horizon=HORIZON,
            algorithm="ets",
            hyperparameters={"damped": "maybe"},
        )
    assert error.value.code == "forecast.bad-hyperparameter"
    assert ws.jobs.list() == []  # refused before any job started


def test_many_series_fit_in_worker_processes_give_the_same_forecast():
    rng = np.random.default_rng(6)
    t = np.arange(42)
    panel = _panel(
        {f"s{i}": 50 + 10 * np.sin(2 * np.pi * t / 7 + i) + rng.normal(0, 1, 42) for i in range(16)}
    )

    def forecast(threads):
        theta = get_forecaster(
            "theta", horizon=HORIZON, quantiles=QUANTILES, season_length=7, threads=threads
        )
        return theta.fit(panel).predict(panel, panel.future(HORIZON))

    # 16 series: the parallel path (joblib's worker processes) against one process.
    pd.testing.assert_frame_equal(forecast(2), forecast(1))
