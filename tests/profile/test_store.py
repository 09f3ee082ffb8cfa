"""Profiles stored with the data set version, reuse, refresh, and errors on bad input."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from kiln.errors import DataError, NotFound
from kiln.profile import profile
from kiln.profile._store import stored_profiles


@pytest.fixture
def churn_ws(ws, churn_csv):
    ws.data.ingest(churn_csv, name="churn")
    return ws


def test_profile_is_stored_with_the_version_and_reused(churn_ws):
    first = churn_ws.profile("churn", target="churn", sample_rows=2_000)
    assert not first.reused and first.dataset == "churn:1"
    assert first.html_path.read_bytes().startswith(b"<!doctype html>")
    stored = churn_ws.artifacts.local_path(first.json_digest).read_text("utf-8")
    assert json.loads(stored) == first.facts
    again = churn_ws.profile("churn:1", target="churn", sample_rows=2_000)
    assert again.reused and again.id == first.id
    assert again.facts == first.facts
    refreshed = churn_ws.profile("churn", target="churn", sample_rows=2_000, refresh=True)
    assert not refreshed.reused and refreshed.id == first.id
    assert refreshed.created_at >= first.created_at
    other = churn_ws.profile("churn", sample_rows=2_000, model=False)
    assert other.id != first.id and other.facts["target"] is None
    listed = stored_profiles(churn_ws, "churn")
    assert sorted(str(p["target"]) for p in listed) == ["None", "churn"]


def test_changed_settings_recompute(churn_ws):
    first = churn_ws.profile("churn", model=False)
    second = churn_ws.profile("churn", model=False, sample_rows=1_000)
    assert not second.reused and second.facts["sample"]["rows"] == 1_000
    assert first.id == second.id


def test_unknown_data_set(ws):
    with pytest.raises(NotFound, match="No data set named 'nope'") as err:
        ws.profile("nope")
    assert err.value.code == "data.unknown-dataset"


def test_unknown_target_names_the_column_and_suggests(churn_ws):
    with pytest.raises(DataError, match="no column 'chrun'.*Did you mean 'churn'") as err:
        churn_ws.profile("churn", target="chrun")
    assert err.value.code == "profile.unknown-target" and err.value.field == "chrun"


def test_empty_table():
    with pytest.raises(DataError, match="'empty' has no rows") as err:
        profile(pd.DataFrame({"a": pd.Series([], dtype=float)}), title="'empty'")
    assert err.value.code == "profile.empty"


def test_datetime_target_is_refused():
    frame = pd.DataFrame({"day": pd.date_range("2024-01-01", periods=30), "x": range(30)})
    with pytest.raises(DataError, match="datetime column") as err:
        profile(frame, target="day", title="t")
    assert err.value.code == "profile.bad-target"


def test_error_codes_are_documented():
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "errors.md").read_text()
    for code in ("profile.empty", "profile.unknown-target", "profile.bad-target"):
        assert f"`{code}`" in doc, code


def test_stored_profiles_share_one_stored_plotly_and_their_copies_open_offline(churn_ws, tmp_path):
    from helpers import report_page

    first = churn_ws.profile("churn", target="churn", sample_rows=2_000, model=False)
    second = churn_ws.profile("churn", sample_rows=2_000, model=False)
    assert first.library_path is not None and first.library_path == second.library_path
    assert first.html_path.stat().st_size < 500_000  # the page alone; plotly.js is 1.5 MB
    assert first.library_path.stat().st_size > 1_000_000
    for profile_ in (first, second):
        report_page(profile_.write_html(tmp_path / f"{profile_.id}.html"))
    assert len(list(tmp_path.glob("plotly-*.min.js"))) == 1
