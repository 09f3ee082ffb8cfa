"""Backtests and the baselines: metrics against hand-computed values, and no leakage."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kiln.errors import DataError
from kiln.forecasting import (
    Forecaster,
    ForecastSpec,
    backtest,
    get_forecaster,
    prepare_panel,
    score_forecasts,
)

QUANTILES = [0.1, 0.5, 0.9]


def test_metrics_match_a_hand_computed_case():
    forecasts = pd.DataFrame(
        {
            "series": ["a", "a"],
            "step": [1, 2],
            "mean": [5.0, 5.0],
            "q0.1": [4.0, 4.0],
            "q0.9": [6.0, 6.0],
            "y": [5.0, 7.0],
            "scale": [1.0, 1.0],
        }
    )
    overall, per_series, by_step = score_forecasts(forecasts, [0.1, 0.9])
    assert overall["mase"] == pytest.approx(1.0)
    assert overall["smape"] == pytest.approx((0 + 4 / 12) / 2, abs=1e-6)
    assert overall["mape"] == pytest.approx((0 + 2 / 7) / 2, abs=1e-6)
    assert overall["rmse"] == pytest.approx(np.sqrt(2), abs=1e-6)
    # Pinball per row, doubled and averaged over the two quantiles: 0.2 and 1.2, over Σ|y| = 12.
    assert overall["wql"] == pytest.approx(1.4 / 12, abs=1e-6)
    assert overall["coverage"] == 0.5 and overall["coverage_nominal"] == 0.8
    assert by_step["mase"].tolist() == [0.0, 2.0]
    assert per_series["series"].tolist() == ["a"]


def seasonal_panel(series=4, length=60, season=7, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(length)
    frame = pd.concat(
        [
            pd.DataFrame(
                {
                    "store": f"s{i}",
                    "date": pd.date_range("2024-01-01", periods=length, freq="D"),
                    "sales": 20 + 5 * np.sin(2 * np.pi * t / season) + rng.normal(0, 0.3, length),
                }
            )
            for i in range(series)
        ]
    )
    spec = ForecastSpec(target="sales", timestamp="date", id_columns=["store"], horizon=7)
    return frame, spec


def make(name, panel, horizon=7):
    return lambda: get_forecaster(
        name, horizon=horizon, quantiles=QUANTILES, season_length=panel.season_length
    )


def test_seasonal_naive_beats_naive_on_seasonal_series():
    frame, spec = seasonal_panel()
    panel, _, _ = prepare_panel(frame, spec)
    scores = {
        name: backtest(make(name, panel), panel, horizon=7, windows=3, quantiles=QUANTILES)
        for name in ("naive", "seasonal_naive", "mean", "drift")
    }
    assert scores["seasonal_naive"].windows == 3
    assert scores["seasonal_naive"].metrics["mase"] < 0.5 * scores["naive"].metrics["mase"]
    assert scores["seasonal_naive"].metrics["wql"] < scores["mean"].metrics["wql"]
    assert len(scores["drift"].forecasts) == 3 * 4 * 7


class Spy(Forecaster):
    """Records the last time of every history it is fitted on or asked to forecast from."""

    name = "spy"
    seen: list = []

    def min_length(self) -> int:
        return 1

    def _fit(self, panel):
        Spy.seen.append(("fit", panel.frame["timestamp"].max()))

    def _predict(self, panel, future):
        Spy.seen.append(("predict", panel.frame["timestamp"].max(), future["timestamp"].min()))
        out = future.copy()
        out["mean"] = 0.0
        for q in self.quantiles:
            out[f"q{q:g}"] = 0.0
        return out


def test_a_window_sees_nothing_at_or_after_its_cut():
    frame, spec = seasonal_panel(series=2, length=40)
    panel, _, _ = prepare_panel(frame, spec)
    Spy.seen = []
    backtest(
        lambda: Spy(horizon=7, quantiles=QUANTILES, season_length=7),
        panel,
        horizon=7,
        windows=3,
        quantiles=QUANTILES,
    )
    fits = [s for s in Spy.seen if s[0] == "fit"]
    predicts = [s for s in Spy.seen if s[0] == "predict"]
    assert len(fits) == len(predicts) == 3
    for (_, fitted), (_, history_end, first_forecast) in zip(fits, predicts, strict=True):
        assert fitted == history_end < first_forecast
    # Changing values after the first cut leaves that window's forecasts as they were.
    later = frame.copy()
    later.loc[pd.to_datetime(later["date"]) >= pd.Timestamp("2024-01-20"), "sales"] += 100
    changed, _, _ = prepare_panel(later, spec)
    runs = [
        backtest(make("seasonal_naive", p), p, horizon=7, windows=3, quantiles=QUANTILES)
        for p in (panel, changed)
    ]
    first = [r.forecasts[r.forecasts["window"] == 1]["mean"].to_numpy() for r in runs]
    np.testing.assert_allclose(first[0], first[1])


def test_the_baselines_follow_their_formulas():
    frame = pd.DataFrame(
        {"date": pd.date_range("2024-01-01", periods=8, freq="D"), "sales": np.arange(8.0)}
    )
    spec = ForecastSpec(target="sales", timestamp="date", horizon=3, season_length=4)
    panel, _, _ = prepare_panel(frame, spec)
    future = panel.future(3)
    for name, expected in {
        "naive": [7, 7, 7],
        "seasonal_naive": [4, 5, 6],
        "mean": [3.5, 3.5, 3.5],
        "drift": [8, 9, 10],
    }.items():
        model = get_forecaster(name, horizon=3, quantiles=QUANTILES, season_length=4).fit(panel)
        out = model.predict(panel, future)
        np.testing.assert_allclose(out["mean"], expected)
        assert (out["q0.1"] <= out["q0.5"]).all() and (out["q0.5"] <= out["q0.9"]).all()


def test_short_series_fall_back_to_naive_and_unknown_series_are_refused():
    frame, spec = seasonal_panel(series=1, length=30)
    short = pd.DataFrame(
        {"store": "new", "date": pd.date_range("2024-01-25", periods=5), "sales": 1.0}
    )
    panel, _, notes = prepare_panel(pd.concat([frame, short]), spec)
    assert notes["short"] == ["new"]
    model = get_forecaster("seasonal_naive", horizon=7, quantiles=QUANTILES, season_length=7).fit(
        panel
    )
    out = model.predict(panel, panel.future(7))
    assert (out[out["series"] == "new"]["mean"] == 1.0).all()
    stranger = panel.future(7).assign(series="nobody")
    with pytest.raises(DataError) as caught:
        model.predict(panel, stranger)
    assert caught.value.code == "forecast.unknown-series"
