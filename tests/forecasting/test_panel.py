"""The forecasting spec and panel: the checks a long table passes before any model sees it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kiln.errors import ConfigError, DataError
from kiln.forecasting import ForecastSpec, prepare_panel


def long_table(series=3, length=40, start="2024-01-01", freq="D") -> pd.DataFrame:
    rng = np.random.default_rng(0)
    parts = []
    for i in range(series):
        times = pd.date_range(start, periods=length, freq=freq)
        parts.append(
            pd.DataFrame(
                {
                    "store": f"s{i}",
                    "date": times.strftime("%Y-%m-%d"),
                    "sales": 10 + i + rng.normal(0, 1, length),
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


SPEC = ForecastSpec(target="sales", timestamp="date", id_columns=["store"], horizon=7)


def test_a_clean_table_becomes_a_sorted_regular_panel():
    frame = long_table().sample(frac=1, random_state=0)  # shuffled rows
    panel, future, notes = prepare_panel(frame, SPEC)
    assert notes["frequency"] == "D" and notes["inferred_frequency"]
    assert panel.season_length == 7
    assert panel.ids() == ["s0", "s1", "s2"]
    assert panel.lengths().tolist() == [40, 40, 40]
    first = panel.frame[panel.frame["series"] == "s0"]["timestamp"]
    assert first.is_monotonic_increasing
    assert len(future) == 0 and notes["short"] == []


def test_a_timestamp_that_does_not_parse_names_the_row_and_value():
    frame = long_table()
    frame.loc[5, "date"] = "not a date"
    with pytest.raises(DataError, match="'not a date'.*data rows 6") as caught:
        prepare_panel(frame, SPEC)
    assert caught.value.code == "timeseries.bad-timestamp"


def test_duplicate_times_name_the_series_and_rows():
    frame = long_table()
    frame = pd.concat([frame, frame.iloc[[3]]], ignore_index=True)
    with pytest.raises(DataError, match="series 's0' at 2024-01-04") as caught:
        prepare_panel(frame, SPEC)
    assert caught.value.code == "timeseries.duplicate-timestamps"
    assert "4, 121" in str(caught.value)


def test_gaps_are_refused_unless_a_fill_rule_is_declared():
    frame = long_table().drop(index=[10, 11]).reset_index(drop=True)
    with pytest.raises(DataError, match="Series 's0' misses 2") as caught:
        prepare_panel(frame, SPEC)
    assert caught.value.code == "timeseries.gaps"
    panel, _, notes = prepare_panel(frame, ForecastSpec(**{**SPEC.to_dict(), "fill": "zero"}))
    assert notes["filled"] == {"s0": 2}
    s0 = panel.frame[panel.frame["series"] == "s0"]
    assert len(s0) == 40 and (s0["y"].iloc[10:12] == 0).all()
    panel, _, _ = prepare_panel(frame, ForecastSpec(**{**SPEC.to_dict(), "fill": "interpolate"}))
    s0 = panel.frame[panel.frame["series"] == "s0"]["y"].to_numpy()
    assert (
        s0[9] < s0[10] < s0[12]
        or s0[9] > s0[10] > s0[12]
        or s0[10] == pytest.approx((s0[9] * 2 + s0[12]) / 3)
    )


def test_times_off_the_grid_are_refused():
    frame = long_table()
    frame.loc[7, "date"] = "2024-01-08 12:00"
    with pytest.raises(DataError) as caught:
        prepare_panel(frame, ForecastSpec(**{**SPEC.to_dict(), "frequency": "D"}))
    assert caught.value.code == "timeseries.irregular"
    assert "data rows 8" in str(caught.value)


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"horizon": 0}, "forecast.bad-horizon"),
        ({"horizon": 2.5}, "forecast.bad-horizon"),
        ({"quantiles": [0.1, 1.0]}, "forecast.bad-quantiles"),
        ({"backtests": 0}, "forecast.bad-backtests"),
        ({"fill": "guess"}, "timeseries.bad-fill"),
        ({"frequency": "fortnightly"}, "timeseries.bad-frequency"),
        ({"covariates": ["sales"]}, "forecast.column-twice"),
        ({"short_series": "keep"}, "forecast.bad-short-series"),
    ],
)
def test_bad_settings_are_refused_with_their_code(change, code):
    with pytest.raises(ConfigError) as caught:
        ForecastSpec(**{**SPEC.to_dict(), **change}).check()
    assert caught.value.code == code


def test_short_series_are_listed_and_kept_for_the_baseline_or_dropped():
    frame = pd.concat([long_table(series=2), long_table(series=1, length=10).assign(store="tiny")])
    panel, _, notes = prepare_panel(frame, SPEC)
    assert notes["short"] == ["tiny"] and "tiny" in panel.ids()
    dropped, _, notes = prepare_panel(
        frame, ForecastSpec(**{**SPEC.to_dict(), "short_series": "drop"})
    )
    assert notes["dropped"] == ["tiny"] and "tiny" not in dropped.ids()


def test_rows_after_the_last_target_hold_the_future_covariates():
    frame = long_table(series=2, length=30)
    frame["promo"] = 0.0
    future = long_table(series=2, length=37).groupby("store").tail(7).assign(sales=np.nan)
    future["promo"] = 1.0
    spec = ForecastSpec(**{**SPEC.to_dict(), "covariates": ["promo"]})
    panel, covariates, _ = prepare_panel(pd.concat([frame, future]), spec)
    assert panel.lengths().tolist() == [30, 30]
    assert len(covariates) == 14 and (covariates["promo"] == 1).all()
    steps = panel.future(7, covariates)
    assert (steps["promo"] == 1).all()
    with pytest.raises(DataError, match="'promo'.*series 's0' step 1") as caught:
        panel.future(7, covariates.iloc[1:])
    assert caught.value.code == "forecast.missing-covariates"


def test_several_id_columns_make_one_series_each():
    frame = long_table(series=2)
    frame["item"] = np.where(frame.index % 2 == 0, 1.0, 2.0)  # a float id column
    frame["date"] = (
        frame.groupby(["store", "item"])
        .cumcount()
        .map(lambda k: str(pd.Timestamp("2024-01-01") + pd.Timedelta(days=k)))
    )
    spec = ForecastSpec(**{**SPEC.to_dict(), "id_columns": ["store", "item"], "horizon": 3})
    panel, _, _ = prepare_panel(frame, spec)
    assert panel.ids() == ["s0|1", "s0|2", "s1|1", "s1|2"]


def test_a_static_attribute_that_changes_within_a_series_is_refused():
    frame = long_table(series=2).assign(region="north")
    frame.loc[3, "region"] = "south"
    with pytest.raises(DataError) as caught:
        prepare_panel(frame, ForecastSpec(**{**SPEC.to_dict(), "static": ["region"]}))
    assert caught.value.code == "forecast.static-varies"
