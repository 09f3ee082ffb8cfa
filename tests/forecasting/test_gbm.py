"""The global LightGBM forecaster: better than seasonal naive on a panel with promotions, calibrated
intervals, covariates and static attributes used, no leakage, and the same forecast for a seed."""

import numpy as np
import pandas as pd
import pytest

from kiln.errors import ConfigError, DataError
from kiln.forecasting import ForecastSpec, backtest, get_forecaster, prepare_panel

QUANTILES = [0.1, 0.5, 0.9]
HORIZON = 7
SMALL = {"n_estimators": 60, "num_leaves": 8, "learning_rate": 0.1}


@pytest.fixture(scope="module")
def shops():
    """Eight daily series of very different sizes with a weekly season and promotion days; a
    promotion doubles the sales of a "big" shop and does nothing in a "small" one."""
    rng = np.random.default_rng(3)
    days = pd.date_range("2024-01-01", periods=98, freq="D")
    t = np.arange(len(days))
    frames = []
    for i in range(8):
        kind = "big" if i % 2 else "small"
        level = 10 * 3**i
        promo = (rng.random(len(days)) < 0.25).astype(float)
        lift = 1 + promo if kind == "big" else 1
        season = 1 + 0.3 * np.sin(2 * np.pi * t / 7)
        y = level * season * lift * (1 + rng.normal(0, 0.05, len(days)))
        frames.append(pd.DataFrame({"shop": f"s{i}", "day": days, "sales": y, "promo": promo}))
        frames[-1]["kind"] = kind
    frame = pd.concat(frames, ignore_index=True)
    spec = ForecastSpec(
        target="sales",
        timestamp="day",
        id_columns=["shop"],
        horizon=HORIZON,
        covariates=["promo"],
        static=["kind"],
    )
    return prepare_panel(frame, spec)[0]


def _forecaster(name="lightgbm", **hyperparameters):
    return get_forecaster(
        name,
        horizon=HORIZON,
        quantiles=QUANTILES,
        season_length=7,
        seed=5,
        hyperparameters=hyperparameters,
    )


@pytest.fixture(scope="module")
def fitted(shops):
    return _forecaster(**SMALL).fit(shops.drop_last(HORIZON))


def test_beats_seasonal_naive_with_calibrated_ordered_quantiles(shops):
    def score(name, **hyperparameters):
        return backtest(
            lambda: _forecaster(name, **hyperparameters),
            shops,
            horizon=HORIZON,
            windows=1,
            quantiles=QUANTILES,
        )

    gbm, baseline = score("lightgbm", **SMALL), score("seasonal_naive")
    assert gbm.metrics["mase"] < 0.7 * baseline.metrics["mase"]
    assert gbm.metrics["wql"] < baseline.metrics["wql"]
    assert 0.6 <= gbm.metrics["coverage"] <= 0.98
    forecasts = gbm.forecasts
    assert (forecasts["q0.1"] <= forecasts["q0.5"]).all()
    assert (forecasts["q0.5"] <= forecasts["q0.9"]).all()


def test_a_promotion_covariate_changes_the_forecast(shops, fitted):
    history = shops.drop_last(HORIZON)
    future = history.future(HORIZON, covariates=shops.frame)
    with_promo = fitted.predict(history, future.assign(promo=1.0))
    without = fitted.predict(history, future.assign(promo=0.0))
    big = with_promo["series"].isin(["s1", "s3", "s5", "s7"])
    ratio = with_promo["mean"] / without["mean"]
    assert ratio[big].median() > 1.5
    assert ratio[~big].median() < 1.2


def test_lags_and_windows_can_be_chosen(shops):
    history = shops.drop_last(HORIZON)
    model = _forecaster(**SMALL, lags=[7, 14], windows=[3]).fit(history)
    assert [n for n in model.model.feature_name_ if n.startswith(("lag", "mean", "std"))] == [
        "lag7",
        "lag14",
        "mean3",
        "std3",
    ]
    forecast = model.predict(history, history.future(HORIZON, covariates=shops.frame))
    assert np.isfinite(forecast["mean"]).all()


def test_static_attributes_and_covariates_are_features(fitted):
    importance = dict(
        zip(fitted.model.feature_name_, fitted.model.feature_importances_, strict=True)
    )
    assert importance["static_kind"] > 0
    assert importance["cov_promo"] > 0


def test_no_leakage_and_the_same_forecast_for_a_seed(shops, fitted):
    changed = shops.frame.copy()
    after = changed.groupby("series").cumcount(ascending=False) < HORIZON
    changed.loc[after, "y"] *= 10
    history = shops.drop_last(HORIZON)
    future = history.future(HORIZON, covariates=shops.frame)
    other = type(shops)(**{**vars(shops), "frame": changed})
    refitted = _forecaster(**SMALL).fit(other.drop_last(HORIZON))
    pd.testing.assert_frame_equal(
        fitted.predict(history, future), refitted.predict(other.drop_last(HORIZON), future)
    )


def test_fitted_on_short_series_only_it_forecasts_by_seasonal_naive(shops):
    short = shops.subset(["s0", "s1"])
    short = type(shops)(**{**vars(short), "frame": short.frame.groupby("series").head(10)})
    model = _forecaster(**SMALL).fit(short)
    history = shops.subset(["s0"]).drop_last(HORIZON)
    future = history.future(HORIZON, covariates=shops.frame)
    forecast = model.predict(history, future)
    np.testing.assert_allclose(forecast["mean"], history.values("s0")[-7:])


@pytest.mark.parametrize(
    ("hyperparameters", "field"),
    [
        ({"lags": [0, 7]}, "lags"),
        ({"learning_rate": 2}, "learning_rate"),
        ({"windows": []}, "windows"),
        ({"max_depth": 3}, "max_depth"),
        ({"differences": -1}, "differences"),
        ({"differences": True}, "differences"),
        ({"differences": 1.5}, "differences"),
    ],
)
def test_bad_hyperparameters_are_refused(hyperparameters, field):
    with pytest.raises(ConfigError) as error:
        _forecaster(**hyperparameters)
    assert error.value.code == "forecast.bad-hyperparameter"
    assert field in str(error.value)


@pytest.fixture(scope="module")
def trending():
    """Six daily series that grow steadily (each at its own rate) with a weekly season."""
    rng = np.random.default_rng(8)
    days = pd.date_range("2024-01-01", periods=120, freq="D")
    t = np.arange(len(days))
    frame = pd.concat(
        pd.DataFrame(
            {
                "shop": f"s{i}",
                "day": days,
                "sales": (50 + (1 + i) * t) * (1 + 0.2 * np.sin(2 * np.pi * t / 7))
                + rng.normal(0, 2, len(t)),
            }
        )
        for i in range(6)
    )
    spec = ForecastSpec(target="sales", timestamp="day", id_columns=["shop"], horizon=HORIZON)
    return prepare_panel(frame, spec)[0]


@pytest.mark.parametrize("differences", [1, 7])
def test_a_model_of_changes_carries_a_trend_on_where_levels_flatten(trending, differences):
    def scores(**hyperparameters):
        return backtest(
            lambda: _forecaster(**SMALL, **hyperparameters),
            trending,
            horizon=HORIZON,
            windows=2,
            quantiles=QUANTILES,
        ).metrics

    levels, changes = scores(), scores(differences=differences)
    assert changes["mase"] < 0.5 * levels["mase"]
    assert changes["wql"] < levels["wql"]
    assert 0.5 <= changes["coverage"] <= 1.0


def test_a_model_of_changes_over_more_than_a_season_needs_that_history(trending):
    model = _forecaster(**SMALL, differences=30)
    assert model.min_length() == 30 + HORIZON
    short = trending.subset(["s0"])
    short = type(trending)(**{**vars(short), "frame": short.frame.head(30)})
    forecast = model.fit(trending).predict(short, short.future(HORIZON))
    # Too short to start from a change 30 days back: the naive baseline's forecast.
    np.testing.assert_allclose(forecast["mean"], short.values("s0")[-1])


def test_a_flat_stretch_does_not_blow_a_model_of_changes_intervals_up(trending):
    # M1 had series whose few changes were next to nothing: divided by their size, one error
    # was hundreds of scales, and 80% intervals came out 36 times the series' level.
    flat = trending.frame[trending.frame["series"] == "s0"].assign(series="flat", y=1000.0)
    flat.loc[flat.index[-20:], "y"] = 1000.0 + np.arange(20) * 0.01
    frame = pd.concat([trending.frame, flat], ignore_index=True)
    panel = type(trending)(**{**vars(trending), "frame": frame})
    model = _forecaster(**SMALL, differences=1).fit(panel)
    forecast = model.predict(panel, panel.future(HORIZON))
    width = (forecast["q0.9"] - forecast["q0.1"]) / forecast["mean"].abs()
    assert (width < 1).all(), forecast[width >= 1]


def test_a_volatile_series_gets_wider_intervals_than_a_smooth_one(trending):
    rng = np.random.default_rng(9)
    frame = trending.frame.copy()
    noisy = frame["series"] == "s5"
    frame.loc[noisy, "y"] += rng.normal(0, 40, int(noisy.sum()))
    panel = type(trending)(**{**vars(trending), "frame": frame})
    model = _forecaster(**SMALL, differences=1).fit(panel)
    forecast = model.predict(panel, panel.future(HORIZON))
    width = (forecast["q0.9"] - forecast["q0.1"]) / forecast["mean"].abs()
    by_series = width.groupby(forecast["series"]).mean()
    assert by_series["s5"] > 2 * by_series.drop("s5").max()
    # A series the calibration never saw (a request's new history) gets the typical width.
    assert model._widths(pd.Series(["new"]))[0] == model.typical_width


def test_a_model_saved_before_changes_and_widths_still_forecasts(shops, fitted):
    import copy

    old = copy.deepcopy(fitted)
    for attribute in ("differences", "series_widths", "typical_width"):
        old.__dict__.pop(attribute, None)  # what an older kiln pickled
    history = shops.drop_last(HORIZON)
    forecast = old.predict(history, history.future(HORIZON, covariates=shops.frame))
    assert np.isfinite(forecast[["mean", "q0.1", "q0.9"]].to_numpy()).all()


def test_a_model_of_changes_names_a_series_whose_values_are_not_finite(trending):
    # An infinite value made the series' scale infinite and a step's forecast NaN; the next
    # step forecast that row again too, and pandas failed on the duplicate series.
    frame = trending.frame.copy()
    frame.loc[frame.index[frame["series"] == "s1"][-3], "y"] = np.inf
    panel = type(trending)(**{**vars(trending), "frame": frame})
    model = _forecaster(**SMALL, differences=1).fit(trending)
    with pytest.raises(DataError) as error:
        model.predict(panel, panel.future(HORIZON))
    assert error.value.code == "forecast.non-finite"
    assert "'s1'" in str(error.value)
