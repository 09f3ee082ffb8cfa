"""A data profile of time series: ``ws.profile(..., timeseries={...})`` stores
timeseries_profile's facts with the profile and draws its section; bad time series are refused
with the timeseries.* errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kiln.errors import KilnError
from kiln.profile import profile

SERIES = {"id": ["store"], "timestamp": "date", "target": "sales"}


def _sales() -> pd.DataFrame:
    dates = pd.date_range("2024-01-01", periods=30, freq="D").strftime("%Y-%m-%d")
    return pd.DataFrame(
        {
            "store": np.repeat(["a", "b", "c"], 30),
            "date": np.tile(dates, 3),
            "sales": np.tile(10 + 3 * np.sin(2 * np.pi * np.arange(30) / 7), 3)
            + np.repeat([0.0, 5.0, 9.0], 30),
        }
    ).drop(index=[40, 41])  # store b misses two days


def test_stored_profile_has_the_series_and_its_section(ws, tmp_path):
    path = tmp_path / "sales.csv"
    _sales().to_csv(path, index=False)
    ws.data.ingest(path, name="sales")
    stored = ws.profile("sales", timeseries=SERIES, model=False)
    series = stored.facts["timeseries"]
    assert (series["frequency"], series["season_length"], series["series"]) == ("D", 7, 3)
    assert series["series_with_gaps"] == 1
    assert any("--fill" in hint for hint in series["hints"])
    assert {r["series"]: r["missing_steps"] for r in series["per_series"]}["b"] == 2
    page = stored.html_path.read_text("utf-8")
    assert "<h2>Time series</h2>" in page
    # b's row of the per-series table: 28 days from the 1st to the 30th, 2 missing
    assert (
        "<tr><td>b</td><td>2024-01-01 00:00:00</td><td>2024-01-30 00:00:00</td>"
        "<td>28</td><td>2</td>" in page
    )
    assert ws.profile("sales", timeseries=SERIES, model=False).reused is True


@pytest.mark.parametrize(
    ("change", "options", "code"),
    [
        (
            lambda f: f.assign(date=f["date"].where(f.index != 3, "soon")),
            SERIES,
            "timeseries.bad-timestamp",
        ),
        (lambda f: pd.concat([f, f.iloc[[0]]]), SERIES, "timeseries.duplicate-timestamps"),
        (lambda f: f, {**SERIES, "id": ["shop"]}, "profile.bad-timeseries"),
        (lambda f: f, {"timestamp": "date", "when": "x"}, "profile.bad-timeseries"),
    ],
)
def test_bad_time_series_are_refused(change, options, code):
    with pytest.raises(KilnError) as caught:
        profile(change(_sales()).reset_index(drop=True), timeseries=options, model=False)
    assert caught.value.code == code
