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
    frame.loc[33, "promo"] = np.nan  # s1's 4th day, in the history
    with pytest.raises(DataError, match="'promo' is empty in 1 row.*series 's1' at 2024-01-04"):
        prepare_panel(frame, spec)


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


def test_an_empty_target_inside_a_series_is_a_gap_and_leading_ones_are_trimmed():
    frame = long_table()
    frame.loc[[0, 1], "sales"] = np.nan  # s0 starts late
    frame.loc[15, "sales"] = np.nan  # an empty value inside s0
    with pytest.raises(DataError, match="Series 's0' misses 1 .*2024-01-16") as caught:
        prepare_panel(frame, SPEC)
    assert caught.value.code == "timeseries.gaps"
    panel, _, notes = prepare_panel(frame, ForecastSpec(**{**SPEC.to_dict(), "fill": "ffill"}))
    s0 = panel.frame[panel.frame["series"] == "s0"]
    assert notes["filled"] == {"s0": 1}
    assert len(s0) == 38 and s0["y"].notna().all()
    assert s0["y"].iloc[13] == frame.loc[14, "sales"]


def test_dates_in_a_time_zone_keep_their_local_day_across_a_dst_change():
    days = pd.date_range("2024-03-20", periods=30, freq="D", tz="Europe/Berlin")
    frame = pd.DataFrame({"date": days, "sales": np.arange(30.0)})
    text = frame.assign(date=[str(d) for d in days])  # "+01:00" then "+02:00"
    ingested = frame.assign(date=days.tz_convert("UTC"))  # 23:00 then 22:00, as data ingest
    spec = ForecastSpec(target="sales", timestamp="date", horizon=7)
    for table in (frame, text, ingested):
        panel, _, notes = prepare_panel(table, spec)
        assert notes["frequency"] == "D"
        assert panel.frame["timestamp"].iloc[-1] == pd.Timestamp("2024-04-18")
    hours = pd.date_range("2024-03-30", periods=72, freq="h", tz="Europe/Berlin")
    panel, _, notes = prepare_panel(pd.DataFrame({"date": hours, "sales": 1.0}), spec)
    assert notes["frequency"] == "h"  # hours stay in UTC: a DST change is no gap
    assert panel.frame["timestamp"].iloc[0] == pd.Timestamp("2024-03-29 23:00")


def test_series_that_start_at_different_times_are_checked_and_filled_on_their_own_grids():
    frame = pd.concat(
        [long_table(series=2), long_table(series=1, start="2024-01-05").assign(store="late")],
        ignore_index=True,
    ).drop(index=[50, 90])  # a gap in s1 (2024-01-11) and in late (2024-01-15)
    panel, _, notes = prepare_panel(frame, ForecastSpec(**{**SPEC.to_dict(), "fill": "zero"}))
    assert notes["filled"] == {"late": 1, "s1": 1}
    assert panel.lengths().to_dict() == {"late": 40, "s0": 40, "s1": 40}
    late = panel.frame[panel.frame["series"] == "late"]
    assert late["timestamp"].iloc[0] == pd.Timestamp("2024-01-05") and late["y"].iloc[10] == 0
    frame.loc[85, "date"] = "2024-01-10 12:00"  # off the daily grid, in the late series
    with pytest.raises(DataError, match="series 'late' at 2024-01-10 12:00") as caught:
        prepare_panel(frame, SPEC)
    assert caught.value.code == "timeseries.irregular"


def test_one_column_name_is_a_list_of_one_and_flags_are_not_counts():
    spec = ForecastSpec(
        target="sales", timestamp="date", id_columns="store", covariates="price", static="size"
    ).check()
    assert (spec.id_columns, spec.covariates, spec.static) == (["store"], ["price"], ["size"])
    with pytest.raises(ConfigError, match="covariates must be a column name") as caught:
        ForecastSpec(target="sales", timestamp="date", covariates=[1]).check()
    assert caught.value.code == "forecast.bad-option"
    for flag in ({"backtests": True}, {"season_length": True}):
        with pytest.raises(ConfigError, match="True"):
            ForecastSpec(target="sales", timestamp="date", **flag).check()


def test_numbers_as_times_are_years_or_yyyymmdd_and_unix_times_are_refused_with_a_hint():
    spec = ForecastSpec(target="sales", timestamp="date", horizon=2)
    for numbers, first in (
        (np.arange(2000, 2010), "2000-01-01"),
        ([20240101 + i for i in range(9)], "2024-01-01"),
    ):
        panel, _, _ = prepare_panel(pd.DataFrame({"date": numbers, "sales": 1.0}), spec)
        assert panel.frame["timestamp"].iloc[0] == pd.Timestamp(first)
    epoch = pd.DataFrame({"date": 1704067200 + 86400 * np.arange(9), "sales": 1.0})
    with pytest.raises(DataError, match="such as 1704067200.*unit='s'") as caught:
        prepare_panel(epoch, spec)
    assert caught.value.code == "timeseries.bad-timestamp"
