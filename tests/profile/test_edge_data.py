"""Edge-case data: clashing column names, empty and huge values, odd Arrow types, bad inputs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from kiln.errors import DataError
from kiln.profile import profile

BIG = 1_500_000_000_000_000_000  # above 2**53: neighbouring integers share one double


def _both(frame: pd.DataFrame, tmp_path) -> list:
    """The frame in memory and as a Parquet file: the two kinds of source."""
    path = tmp_path / "data.parquet"
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path)
    return [frame, path]


@pytest.fixture
def rng():
    return np.random.default_rng(7)


def test_columns_differing_only_in_case_are_kept_apart(rng, tmp_path):
    frame = pd.DataFrame({"a": rng.normal(size=300), "A": rng.normal(size=300) + 100})
    for data in _both(frame, tmp_path):
        columns = profile(data, model=False).columns
        assert list(columns) == ["a", "A"]
        assert columns["a"]["mean"] == pytest.approx(frame["a"].mean())
        assert columns["A"]["mean"] == pytest.approx(frame["A"].mean())
        assert columns["A"]["max"] == pytest.approx(frame["A"].max())


def test_duplicates_count_every_column_when_names_differ_only_in_case(tmp_path):
    frame = pd.DataFrame({"a": [1, 1, 1, 2], "A": [1, 2, 3, 4]})
    for data in _both(frame, tmp_path):
        assert profile(data, model=False).facts["duplicate_rows"] == 0


def test_columns_differing_only_in_case_may_have_different_types(tmp_path):
    frame = pd.DataFrame({"a": [1, 2, 3, 4] * 5, "A": ["x", "y", "x", "z"] * 5})
    for data in _both(frame, tmp_path):
        columns = profile(data, model=False).columns
        assert columns["a"]["type"] == "numeric" and columns["a"]["mean"] == 2.5
        assert columns["A"]["top_values"][0] == {"value": "x", "count": 10, "pct": 50.0}
        assert columns["A"]["mean_length"] == 1.0


def test_target_whose_name_differs_only_in_case(rng):
    frame = pd.DataFrame({"y": rng.normal(size=40), "Y": [0, 1] * 20})
    result = profile(frame, target="Y", model=False)
    assert result.facts["target"]["problem_type"] == "binary"


def test_all_nan_float_column(tmp_path):
    frame = pd.DataFrame({"x": [np.nan] * 10, "y": np.arange(10.0)})
    for data in _both(frame, tmp_path):
        x = profile(data, model=False).columns["x"]
        assert x["count"] == 0 and x["missing"] == 10
        assert x["zeros"] == 0 and x["zeros_pct"] == 0.0
        assert x["mean"] is None and x["distinct"] == 0
        assert x["outliers_z"] == 0


def test_all_nan_float_column_beside_a_binary_target():
    frame = pd.DataFrame({"x": [np.nan] * 10, "z": np.arange(10.0), "y": ["a", "b"] * 5})
    result = profile(frame, target="y", model=False)
    assert result.columns["x"]["missing"] == 10
    assert result.facts["target"]["problem_type"] == "binary"


def test_all_infinite_float_column():
    x = profile(pd.DataFrame({"x": [np.inf, -np.inf] * 5}), model=False).columns["x"]
    assert x["count"] == 0 and x["zeros"] == 0


def test_timezone_aware_timestamps_are_shown_in_utc(tmp_path):
    moments = pd.date_range("2020-01-01", periods=50, freq="h", tz="Europe/Paris")
    frame = pd.DataFrame({"d": moments, "x": range(50)})
    for data in _both(frame, tmp_path):
        d = profile(data, model=False).columns["d"]
        assert d["type"] == "datetime" and d["count"] == 50 and d["distinct"] == 50
        assert d["min"] == "2019-12-31T23:00:00"  # midnight in Paris is 23:00 UTC
        assert d["max"] == "2020-01-03T00:00:00"
        assert d["top_values"][0]["value"] == "2019-12-31T23:00:00"


def test_timezone_aware_timestamps_with_a_small_sample():
    frame = pd.DataFrame(
        {"d": pd.date_range("2020", periods=200, freq="h", tz="UTC"), "x": range(200)}
    )
    assert profile(frame, model=False, sample_rows=50).columns["d"]["distinct"] == 200


@pytest.mark.parametrize("dtype", [np.int64, np.uint64])
def test_integers_above_2_to_the_53_stay_distinct(dtype, rng, tmp_path):
    base = BIG if dtype is np.int64 else 2**63
    frame = pd.DataFrame(
        {"reading": np.arange(base, base + 100, dtype=dtype), "x": rng.normal(size=100)}
    )
    for data in _both(frame, tmp_path):
        result = profile(data, types={"reading": "numeric", "x": "numeric"}, model=False)
        reading = result.columns["reading"]
        assert reading["distinct"] == 100
        assert reading["top_values"][0]["value"] == base  # exact, not rounded to a double
        assert reading["mean"] == pytest.approx(float(base) + 49.5, rel=1e-12)
        assert not [w for w in result.warnings if w["kind"] == "constant"]
        assert "reading" in result.facts["correlations"]["columns"]


def test_integer_top_values_are_integers():
    column = profile(pd.DataFrame({"n": [3, 3, 1, 2]}), model=False).columns["n"]
    assert column["top_values"][0] == {"value": 3, "count": 2, "pct": 50.0}
    assert isinstance(column["top_values"][0]["value"], int)


def test_float16_column(tmp_path):
    frame = pd.DataFrame({"h": np.arange(20, dtype=np.float16), "y": range(20)})
    for data in _both(frame, tmp_path):
        h = profile(data, model=False).columns["h"]
        assert h["type"] == "numeric" and h["dtype"] == "halffloat"
        assert h["mean"] == 9.5 and h["distinct"] == 20 and h["zeros"] == 1


def _nested() -> pa.Table:
    return pa.table(
        {
            "l": [[1, 2], [3], None, [1, 2]] * 10,
            "s": [{"a": 1}, {"a": 2}, None, {"a": 1}] * 10,
            "b": [b"x", b"\xff", None, b"x"] * 10,
            "y": list(range(40)),
        }
    )


@pytest.mark.parametrize("sample_rows", [1000, 10])
def test_nested_and_binary_columns_are_profiled_as_text(sample_rows, tmp_path):
    path = tmp_path / "nested.parquet"
    pq.write_table(_nested(), path)
    for data in (_nested(), path):
        columns = profile(data, model=False, sample_rows=sample_rows).columns
        expected = {"l": "[1, 2]", "s": "{'a': 1}", "b": "x"}
        for name, top in expected.items():
            column = columns[name]
            assert column["type"] == "categorical"
            assert column["count"] == 30 and column["missing"] == 10 and column["distinct"] == 2
            assert column["top_values"][0] == {"value": top, "count": 20, "pct": 66.6667}
        assert columns["b"]["top_values"][1]["value"] == "\\xFF"


def test_missing_file_is_a_data_error(tmp_path):
    with pytest.raises(DataError) as caught:
        profile(tmp_path / "nowhere.parquet", model=False)
    assert caught.value.code == "profile.bad-input"
    assert "nowhere.parquet" in str(caught.value)


def test_file_that_is_not_parquet_is_a_data_error(tmp_path):
    path = tmp_path / "data.parquet"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(DataError) as caught:
        profile(path, model=False)
    assert caught.value.code == "profile.bad-input"
    assert "Parquet" in str(caught.value) and "data.parquet" in str(caught.value)


def test_mixed_type_object_column_is_a_data_error():
    with pytest.raises(DataError) as caught:
        profile(pd.DataFrame({"m": [1, "x", 2.5], "y": [1, 2, 3]}), model=False)
    assert caught.value.code == "profile.bad-input"
    assert "m" in str(caught.value)


def test_arrow_table_with_repeated_column_names_is_a_data_error():
    table = pa.Table.from_arrays([pa.array([1, 2]), pa.array([3, 4])], names=["a", "a"])
    with pytest.raises(DataError) as caught:
        profile(table, model=False)
    assert caught.value.code == "profile.bad-input"
    assert "'a'" in str(caught.value)
