"""Each warning is raised by its rule, with evidence, and not raised without cause."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kiln.profile import profile


def kinds(result, kind: str) -> list[dict]:
    return [w for w in result.warnings if w["kind"] == kind]


@pytest.fixture(scope="module")
def housing_profile(housing):
    frame = housing.copy()
    rng = np.random.default_rng(0)
    n = len(frame)
    frame["price_thousands"] = frame["price"] / 1000  # a duplicated column
    frame["country"] = "NZ"  # constant
    frame["flag"] = np.where(np.arange(n) < 3, "rare", "common")  # 99.5 % one value
    frame["house_id"] = np.arange(n) * 7 + 1000  # an identifier
    frame["street"] = [f"street {i % 120}" for i in range(n)]  # 120 categories
    frame["lotsize_cubed"] = frame["lotsize"].astype(float) ** 3  # strongly skewed
    spikes = frame["bedrooms"].astype(float).copy()
    spikes[rng.choice(n, 30, replace=False)] = 1_000.0  # 5.5 % far outliers
    frame["bedrooms_spiked"] = spikes
    return profile(frame, title="housing", model=False)


def test_highly_correlated_pair(housing_profile):
    (w,) = [w for w in kinds(housing_profile, "high-correlation") if "price" in w["columns"]]
    assert set(w["columns"]) == {"price", "price_thousands"}
    assert w["evidence"]["pearson"] == pytest.approx(1.0)


def test_constant_and_near_constant(housing_profile):
    (constant,) = kinds(housing_profile, "constant")
    assert constant["columns"] == ["country"] and constant["evidence"]["value"] == "NZ"
    (near,) = kinds(housing_profile, "near-constant")
    assert near["columns"] == ["flag"]
    assert near["evidence"]["share"] == pytest.approx(1 - 3 / 546)


def test_identifier_and_high_cardinality(housing_profile):
    assert [w["columns"] for w in kinds(housing_profile, "identifier")] == [["house_id"]]
    (high,) = kinds(housing_profile, "high-cardinality")
    assert high["columns"] == ["street"] and high["evidence"]["distinct"] == 120


def test_skew_and_outliers(housing, housing_profile):
    skewed = {w["columns"][0]: w["evidence"]["skewness"] for w in kinds(housing_profile, "skewed")}
    assert "lotsize_cubed" in skewed
    assert skewed["lotsize_cubed"] == pytest.approx((housing["lotsize"] ** 3).skew())
    assert "price" not in skewed  # skewness 1.2, under the threshold
    outliers = {w["columns"][0]: w["evidence"] for w in kinds(housing_profile, "outliers")}
    assert outliers["bedrooms_spiked"]["outliers_z"] == 30
    assert outliers["bedrooms_spiked"]["outliers_iqr"] >= 30
    assert "bedrooms" not in outliers


def test_duplicate_rows(housing):
    frame = pd.concat([housing, housing.iloc[:10]], ignore_index=True)
    (w,) = kinds(profile(frame, title="t", model=False), "duplicate-rows")
    assert w["evidence"]["duplicates"] == 10 + int(housing.duplicated().sum())
    assert not kinds(profile(housing.drop_duplicates(), title="t", model=False), "duplicate-rows")


def test_imbalanced_target(credit):
    yes, no = credit[credit["card"] == "yes"], credit[credit["card"] == "no"]
    frame = pd.concat([yes.iloc[:600], no.iloc[:30]], ignore_index=True)
    (w,) = kinds(profile(frame, target="card", title="t", model=False), "imbalanced-target")
    assert w["evidence"]["rarest_class"] == "no"
    assert w["evidence"]["rarest_share"] == pytest.approx(30 / 630)
    assert not kinds(profile(credit, target="card", title="t", model=False), "imbalanced-target")


def test_target_leakage_classification(churn):
    frame = churn.copy()
    frame["churn_flag"] = frame["churn"].map({"Yes": "left", "No": "stayed"})
    frame["churn_score"] = (frame["churn"] == "Yes").astype(float) + np.random.default_rng(
        0
    ).normal(0, 0.01, len(frame))
    result = profile(frame, target="churn", title="t", model=False)
    leaks = {w["columns"][0]: w for w in kinds(result, "target-leakage")}
    assert set(leaks) == {"churn_flag", "churn_score"}
    assert leaks["churn_score"]["evidence"]["roc_auc"] == pytest.approx(1.0)
    assert leaks["churn_flag"]["evidence"]["value"] == pytest.approx(1.0)


def test_target_leakage_regression(housing):
    frame = housing.copy()
    frame["price_per_lot"] = frame["price"] * 1.0001 + 3  # the target in disguise
    result = profile(frame, target="price", title="t", model=False)
    assert [w["columns"] for w in kinds(result, "target-leakage")] == [["price_per_lot", "price"]]


def test_no_false_alarms_on_the_churn_data(churn_profile):
    assert [w["kind"] for w in churn_profile.warnings] == ["duplicate-rows"]


def test_strongly_associated_categorical_pair(churn):
    frame = churn.copy()
    frame["contract_code"] = frame["contract"].map(
        {"Month-to-month": "M", "One year": "1Y", "Two year": "2Y"}
    )
    rng = np.random.default_rng(0)
    frame["coin"] = rng.choice(["heads", "tails"], len(frame))  # independent of everything
    result = profile(frame, title="churn", model=False)
    pairs = kinds(result, "high-association")
    assert [w["columns"] for w in pairs] == [["contract", "contract_code"]]
    assert pairs[0]["evidence"]["cramers_v"] == pytest.approx(1.0)
    associations = result.facts["associations"]
    columns, matrix = associations["columns"], np.array(associations["cramers_v"], dtype=float)
    coin = columns.index("coin")
    assert np.nanmax(np.delete(matrix[coin], coin)) < 0.05  # bias-corrected: about 0
    # Close to scipy's (uncorrected) Cramér's V on a real, moderately associated pair.
    from scipy.stats.contingency import association

    i, j = columns.index("internet_service"), columns.index("online_security")
    table = pd.crosstab(frame["internet_service"], frame["online_security"]).to_numpy()
    assert matrix[i, j] == pytest.approx(association(table, method="cramer"), abs=0.005)
