"""Exact statistics checked against pandas and scipy on real data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats

from kiln.profile import profile


@pytest.mark.parametrize("name", ["housing", "credit"])
def test_numeric_statistics_match_pandas_and_scipy(name, request):
    frame = request.getfixturevalue(name)
    result = profile(frame, title=name, model=False)
    numeric = [c for c, s in result.columns.items() if s["type"] == "numeric"]
    assert len(numeric) >= 4
    for column in numeric:
        s, values = result.columns[column], frame[column].astype(float)
        expected = {
            "count": values.count(),
            "missing": values.isna().sum(),
            "distinct": values.nunique(),
            "mean": values.mean(),
            "std": values.std(),
            "min": values.min(),
            "q1": values.quantile(0.25),
            "median": values.median(),
            "q3": values.quantile(0.75),
            "max": values.max(),
            "skewness": values.skew(),
            "kurtosis": values.kurt(),
            "zeros": (values == 0).sum(),
        }
        for key, value in expected.items():
            assert s[key] == pytest.approx(value, rel=1e-9, abs=1e-9), (column, key)
        clean = values.dropna()
        assert s["skewness"] == pytest.approx(scipy_stats.skew(clean, bias=False), rel=1e-9)
        assert s["kurtosis"] == pytest.approx(scipy_stats.kurtosis(clean, bias=False), rel=1e-9)
        z = np.abs((clean - clean.mean()) / clean.std())
        iqr = s["q3"] - s["q1"]
        outside = (clean < s["q1"] - 1.5 * iqr) | (clean > s["q3"] + 1.5 * iqr)
        if s["std"]:
            assert s["outliers_z"] == int((z > 3).sum())
        assert s["outliers_iqr"] == int(outside.sum())


def test_categorical_counts_and_top_values(credit):
    result = profile(credit, title="credit", model=False)
    for column, s in result.columns.items():
        if s["type"] == "numeric":
            continue
        counts = credit[column].value_counts()
        assert s["distinct"] == credit[column].nunique()
        assert s["missing"] == credit[column].isna().sum()
        assert s["top_values"][0]["count"] == counts.iloc[0]
        assert str(s["top_values"][0]["value"]).lower() == str(counts.index[0]).lower()
        assert sum(v["count"] for v in s["top_values"]) <= s["count"]


def test_missing_values_and_correlations_with_missing_rows(churn, churn_profile):
    s = churn_profile.columns["total_charges"]
    assert (s["missing"], s["count"]) == (11, len(churn) - 11)
    assert s["missing_pct"] == pytest.approx(100 * 11 / len(churn), abs=1e-4)
    corr = churn_profile.to_dict()["correlations"]
    columns = corr["columns"]
    numeric = churn[columns].astype(float)
    pearson = numeric.corr().to_numpy()
    spearman = numeric.corr(method="spearman").to_numpy()
    np.testing.assert_allclose(np.array(corr["pearson"], dtype=float), pearson, atol=1e-6)
    # Columns are ranked once over their own non-missing values (pandas re-ranks each pair's
    # complete rows): with 11 missing values of 7,043 the two differ by < 1e-4.
    np.testing.assert_allclose(np.array(corr["spearman"], dtype=float), spearman, atol=1e-4)
    complete = numeric.dropna()
    exact = profile(complete, title="t", model=False).to_dict()["correlations"]["spearman"]
    np.testing.assert_allclose(np.array(exact, dtype=float), complete.corr("spearman"), atol=1e-6)


def test_duplicate_rows_counted_on_all_rows(churn, churn_profile):
    assert churn_profile.facts["duplicate_rows"] == int(churn.duplicated().sum()) == 22


def test_statistics_use_all_rows_when_the_plots_use_a_sample(churn):
    result = profile(churn, target="churn", sample_rows=1_000, title="churn")
    sample = result.facts["sample"]
    assert sample == sample | {"rows": 1_000, "of": len(churn), "sampled": True}
    assert result.columns["tenure"]["count"] == len(churn)
    assert result.columns["tenure"]["mean"] == pytest.approx(churn["tenure"].mean())
    assert sum(c["count"] for c in result.facts["target"]["classes"]) == len(churn)
    assert result.quick_model["rows"] == 1_000
    assert "uniform random sample of 1,000 rows" in result.to_html()


def test_a_parquet_file_and_a_frame_give_the_same_facts(tmp_path, housing):
    path = tmp_path / "housing.parquet"
    housing.to_parquet(path)
    from_file = profile(path, target="price", title="t", sample_rows=200).to_dict()
    from_frame = profile(housing, target="price", title="t", sample_rows=200).to_dict()
    for key in ("column_stats", "correlations", "warnings", "target", "duplicate_rows"):
        assert from_file[key] == from_frame[key], key
    assert from_file["quick_model"]["metrics"] == from_frame["quick_model"]["metrics"]


def test_missing_floats_and_infinities_count_as_missing():
    frame = pd.DataFrame({"x": [1.0, np.nan, np.inf, 4.0, 5.0, None]})
    s = profile(frame, title="t").columns["x"]
    assert (s["count"], s["missing"], s["max"]) == (3, 3, 5.0)
