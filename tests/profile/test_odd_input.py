"""Awkward but legal tables profile correctly, and bad input is a clear error."""

from __future__ import annotations

import html
import json

import numpy as np
import pandas as pd
import pytest

from helpers import plotly_figures as figures
from kiln.errors import DataError
from kiln.profile import profile

rng = np.random.default_rng(0)


def kinds(result) -> list[str]:
    return [w["kind"] for w in result.warnings]


def test_a_column_named_v_does_not_change_the_class_counts():
    v = rng.normal(size=300)
    v[:200] = np.nan
    y = np.array(["a"] * 158 + ["b"] * 142)
    result = profile(pd.DataFrame({"v": v, "y": y}), target="y", model=False)
    assert {c["value"]: c["count"] for c in result.facts["target"]["classes"]} == {
        "a": 158,
        "b": 142,
    }


def test_a_column_named_n_with_missing_values():
    x = rng.normal(size=100)
    x[:10] = np.nan
    result = profile(pd.DataFrame({"n": x, "y": rng.integers(0, 2, 100)}), target="y")
    assert result.facts["missing_cells"] == 10
    assert result.facts["column_stats"]["n"]["missing_pct"] == 10.0
    page = html.unescape(result.to_html())
    for title in ("Overview", "Target: y", "Quick model", "Columns", "Missing values"):
        assert f"<h2>{title}" in page, title
    assert "Missing cells</th><td>10 (5.0 %)" in page  # 10 of 200 cells
    json.dumps(result.to_dict(), allow_nan=False)


def test_an_all_missing_text_column_with_a_target():
    frame = pd.DataFrame(
        {"x": rng.normal(size=60), "empty": pd.Series([None] * 60, dtype="str"), "y": [0, 1] * 30}
    )
    result = profile(frame, target="y")
    constant = [w for w in result.warnings if w["columns"] == ["empty"]]
    assert constant and "every row is missing" in constant[0]["message"]


def test_feature_names_with_json_characters_in_the_quick_model():
    frame = pd.DataFrame({"Revenue, USD": rng.normal(size=200), "y": rng.integers(0, 2, 200)})
    frame.loc[frame["y"] == 1, "Revenue, USD"] += 3
    result = profile(frame, target="y")
    assert result.quick_model["status"] == "ok"
    assert result.quick_model["top_features"][0]["column"] == "Revenue, USD"


def test_infinite_target_values_count_as_missing():
    x = rng.normal(size=200)
    y = x * 2 + rng.normal(size=200)
    y[:5] = np.inf
    result = profile(pd.DataFrame({"x": x, "y": y}), target="y")
    assert result.quick_model["status"] == "ok"
    json.dumps(result.to_dict(), allow_nan=False)


def test_imbalance_is_judged_against_an_even_share():
    balanced = pd.DataFrame(
        {"x": rng.normal(size=1100), "y": np.repeat([f"c{i}" for i in range(11)], 100)}
    )
    assert "imbalanced-target" not in kinds(profile(balanced, target="y", model=False))
    skewed = pd.DataFrame({"x": rng.normal(size=1000), "y": ["a"] * 950 + ["b"] * 50})
    assert "imbalanced-target" in kinds(profile(skewed, target="y", model=False))


def test_a_constant_huge_value_gets_one_bar():
    result = profile(pd.DataFrame({"big": [1e17] * 10, "x": range(10)}), model=False)
    assert "constant" in kinds(result)
    page = result.to_html()
    assert "'big' has a single value (1e+17)" in html.unescape(page)
    histograms = [f for f in figures(page) if f[2]["title"]["text"] == "histogram and density"]
    bars = histograms[0][1][0]  # the first column's, big's
    assert (bars["type"], bars["x"], bars["y"]) == ("bar", [1e17], [10])


def test_given_types_are_overlaid_on_inferred_ones_and_checked():
    frame = pd.DataFrame({"code": [1, 2, 3] * 20, "amount": rng.normal(size=60)})
    result = profile(frame, types={"code": "categorical"}, model=False)
    assert result.columns["code"]["type"] == "categorical"
    assert result.columns["amount"]["type"] == "numeric"
    with pytest.raises(DataError, match="Unknown semantic type 'bogus' for column 'code'"):
        profile(frame, types={"code": "bogus"}, model=False)


@pytest.mark.parametrize(
    "frame, options, message",
    [
        (pd.DataFrame({"x": [1, 2]}), {"sample_rows": 0}, "sample_rows must be a whole number"),
        (
            pd.DataFrame([[1, 2], [3, 4]], columns=["a", "a"]),
            {},
            "more than one column named 'a'",
        ),
        (pd.DataFrame({"mixed": [1, "x", 2.5]}), {}, "mixes value types"),
    ],
)
def test_bad_input_is_a_clear_error(frame, options, message):
    with pytest.raises(DataError, match=message) as error:
        profile(frame, model=False, **options)
    assert error.value.code == "profile.bad-input"


def test_a_target_name_with_a_slash_makes_a_flat_file_name(tmp_path):
    import kiln

    ws = kiln.Workspace.init(tmp_path / "ws")
    frame = pd.DataFrame({"x": rng.normal(size=60), "km/h": rng.normal(size=60)})
    ws.data.ingest(frame, name="speeds")
    stored = ws.profile("speeds", target="km/h", model=False)
    assert "/" not in stored.default_filename
    written = stored.write_html(f"{tmp_path / 'new_folder'}/")  # a folder, not yet there
    assert written.parent == tmp_path / "new_folder" and written.exists()
    ws.close()
