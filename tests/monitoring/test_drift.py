"""The data-quality check: each drift statistic against a hand-computed value, each violation, the
thresholds and their per-column overrides."""

from __future__ import annotations

import copy
import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from kiln.errors import ConfigError
from kiln.monitoring import check_data_quality, dataset_statistics, suggest_constraints
from kiln.monitoring._drift import categorical_drift, numeric_drift


def _numbers(values) -> dict:
    stats = dataset_statistics(pd.DataFrame({"x": values}))
    return stats["features"][0]["numerical_statistics"]


def _labels(counts: dict) -> dict:
    values = [label for label, count in counts.items() for _ in range(count)]
    return dataset_statistics(pd.DataFrame({"c": values}))["features"][0]["string_statistics"]


def test_ks_distance_and_p_value():
    drift = numeric_drift(_numbers([1, 2, 3, 4]), _numbers([3, 4, 5, 6]))
    # CDFs at 2: 0.5 against 0; at 4: 1 against 0.5.
    assert drift["ks"][0] == 0.5
    rng = np.random.default_rng(0)
    a, b = rng.normal(0, 1, 300), rng.normal(0.3, 1, 400)
    value, p_value = numeric_drift(_numbers(a), _numbers(b))["ks"]
    exact = sps.ks_2samp(a, b, method="asymp")
    assert abs(value - exact.statistic) <= 0.002  # the sketch's resolution
    assert p_value == pytest.approx(sps.kstwo.sf(value, round(300 * 400 / 700)))
    assert p_value == pytest.approx(exact.pvalue, rel=0.3)


def test_wasserstein_is_normalised_by_the_reference_sd():
    value, p_value = numeric_drift(_numbers([0, 1, 2, 3]), _numbers([1, 2, 3, 4]))["wasserstein"]
    # Every quantile moved by 1; the reference's (population) sd is sqrt(1.25).
    assert value == pytest.approx(1 / math.sqrt(1.25)) and p_value is None
    rng = np.random.default_rng(1)
    a, b = rng.lognormal(0, 1, 5000), rng.lognormal(0.2, 1, 5000)
    value = numeric_drift(_numbers(a), _numbers(b))["wasserstein"][0]
    assert value == pytest.approx(sps.wasserstein_distance(a, b) / np.std(a), rel=0.02)


def test_psi_on_the_reference_deciles():
    reference = np.arange(1000)
    current = np.concatenate([np.arange(500), np.arange(500)])  # all in the lower five deciles
    value = numeric_drift(_numbers(reference), _numbers(current))["psi"][0]
    # Five bins at 0.2 against 0.1, five empty ones (counted as 0.0001) against 0.1.
    expected = 5 * 0.1 * math.log(2) + 5 * (0.0001 - 0.1) * math.log(0.0001 / 0.1)
    assert value == pytest.approx(expected)
    assert numeric_drift(_numbers(reference), _numbers(reference))["psi"][0] == 0


def test_categorical_statistics():
    drift = categorical_drift(_labels({"a": 50, "b": 50}), _labels({"a": 80, "b": 20}))
    assert drift["linf"] == (pytest.approx(0.3), None)
    middle = (0.65, 0.35)
    divergence = 0.5 * (
        0.5 * math.log2(0.5 / middle[0]) + 0.5 * math.log2(0.5 / middle[1])
    ) + 0.5 * (0.8 * math.log2(0.8 / middle[0]) + 0.2 * math.log2(0.2 / middle[1]))
    # Less its expectation with no change: 1 degree of freedom, 100 rows on each side.
    expected_divergence = 1 * (1 / 100 + 1 / 100) / (8 * math.log(2))
    assert drift["jensen_shannon"][0] == pytest.approx(math.sqrt(divergence - expected_divergence))
    # 2 x 2 table [[50, 50], [80, 20]]: expected counts 65 and 35 in each row.
    chi2 = 2 * (15**2 / 65 + 15**2 / 35)
    assert drift["chi_square"][0] == pytest.approx(math.sqrt((chi2 - 1) / 200))
    assert drift["chi_square"][1] == pytest.approx(sps.chi2.sf(chi2, 1))
    # A value the reference never saw is in the "other" bucket, which the reference has empty.
    new = categorical_drift(_labels({"a": 50, "b": 50}), _labels({"a": 50, "c": 50}))
    assert new["linf"][0] == pytest.approx(0.5)


def _draw(
    rows: int, seed: int, *, shift: float = 0.0, plans: tuple = (0.5, 0.3, 0.2)
) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "tenure": rng.poisson(20, rows),
            "charges": rng.lognormal(3 + shift, 0.5, rows),
            "score": rng.normal(shift, 1, rows),
            "plan": rng.choice(["basic", "plus", "pro"], rows, p=list(plans)),
            "paperless": rng.random(rows) < 0.6,
            "predicted_churn": rng.beta(2, 5, rows),
        }
    )
    frame.loc[rng.random(rows) < 0.05, "charges"] = np.nan
    return frame


@pytest.fixture(scope="module")
def baseline() -> tuple[dict, dict]:
    statistics = dataset_statistics(_draw(2000, 1))
    return statistics, suggest_constraints(statistics)


def test_no_violation_on_a_second_draw_of_the_same_distribution(baseline):
    result = check_data_quality(*baseline, _draw(2000, 2))
    assert result.violations == []
    assert result.metrics["violations"] == 0 and result.metrics["drift.num_cols"] == 0
    assert {d["column"] for d in result.drift} == set(_draw(5, 0).columns)
    assert not any(d["drifted"] for d in result.drift)
    assert json.dumps(result.to_dict(), allow_nan=False)
    assert all(isinstance(v, float) for v in result.metrics.values())


def test_every_violation_kind(baseline):
    current = _draw(2000, 3)
    current["tenure"] = current["tenure"].astype(object)
    current.loc[:299, "tenure"] = "n/a"  # 15 % not numbers
    current.loc[:199, "charges"] = np.nan  # completeness 0.95 -> about 0.86
    current["score"] = current["score"] + 0.5  # drift of half a standard deviation
    current.loc[:99, "score"] = 99.0  # 5 % beyond the reference's maximum
    current.loc[:399, "plan"] = "enterprise"  # 20 % outside the domain
    current = current.drop(columns=["paperless"]).assign(region="north")
    result = check_data_quality(*baseline, current)
    checks = {(v["column"], v["check"]) for v in result.violations}
    assert checks >= {
        ("tenure", "data_type_check"),
        ("charges", "completeness_check"),
        ("score", "range_check"),
        ("score", "baseline_drift_check"),
        ("plan", "categorical_values_check"),
        ("plan", "baseline_drift_check"),
        ("paperless", "missing_column_check"),
        ("region", "extra_column_check"),
    }
    assert not any(v["column"] == "predicted_churn" for v in result.violations)
    metrics = result.metrics
    assert metrics["type_mismatch.tenure"] == pytest.approx(0.15)
    assert metrics["new_categories.plan"] == pytest.approx(0.2)
    # 5 % set beyond the maximum, and a few of the shifted values beyond it too.
    assert 0.05 <= metrics["out_of_range.score"] < 0.06
    assert metrics["missing_columns"] == 1 and metrics["extra_columns"] == 1
    assert metrics["violations"] == len(result.violations)
    range_check = next(v for v in result.violations if v["check"] == "range_check")
    assert range_check["evidence"]["above"] >= 100 and range_check["evidence"]["observed_max"] == 99
    drift = next(v for v in result.violations if v["check"] == "baseline_drift_check")
    assert drift["observed"]["wasserstein"] > drift["expected"]["wasserstein"] == 0.1


def test_prediction_drift_is_reported_as_such(baseline):
    current = _draw(2000, 4)
    current["predicted_churn"] = np.clip(current["predicted_churn"] + 0.2, 0, 1)
    result = check_data_quality(*baseline, current)
    assert result.metrics["prediction_drift.num_cols"] == 1
    assert result.metrics["drift.num_cols"] == 0
    (violation,) = [v for v in result.violations if v["check"] == "baseline_drift_check"]
    assert violation["column"] == "predicted_churn" and violation["evidence"]["prediction"]
    assert all(d["prediction"] for d in result.drift if d["column"] == "predicted_churn")


def test_a_per_column_override_takes_effect(baseline):
    statistics, constraints = baseline[0], copy.deepcopy(baseline[1])
    current = _draw(2000, 5, plans=(0.42, 0.34, 0.24))  # L-infinity 0.08, below its 0.1
    current["score"] = current["score"] + 0.2  # Wasserstein about 0.2 sd; KS and PSI below theirs
    flagged = check_data_quality(statistics, constraints, current)
    assert [v["column"] for v in flagged.violations] == ["score"]
    score = next(f for f in constraints["features"] if f["name"] == "score")
    score["drift"] = {"wasserstein": 0.5}
    plan = next(f for f in constraints["features"] if f["name"] == "plan")
    plan["drift"] = {"linf": 0.05}
    result = check_data_quality(statistics, constraints, current)
    assert [v["column"] for v in result.violations] == ["plan"]
    row = next(d for d in result.drift if (d["column"], d["statistic"]) == ("score", "wasserstein"))
    assert row["threshold"] == 0.5 and not row["drifted"]


def test_captured_text_is_read_with_the_baseline_types(baseline):
    current = _draw(2000, 6)
    for name in ("tenure", "score"):
        current[name] = current[name].astype(str)  # a CSV capture: numbers as text
    current["paperless"] = current["paperless"].map({True: "yes", False: "no"})
    result = check_data_quality(*baseline, current)
    assert result.violations == []
    assert result.metrics["type_mismatch.tenure"] == 0


def test_an_empty_window_is_refused(baseline):
    with pytest.raises(ConfigError) as caught:
        check_data_quality(*baseline, _draw(5, 0).iloc[:0])
    assert caught.value.code == "monitor.empty-data"


def test_many_rare_categories_are_not_drift():
    # 1,000 categories with Zipf-like shares: most are seen a handful of times in 5,000 rows, so
    # their shares differ between two draws by chance alone.
    shares = 1 / np.arange(1, 1001) ** 1.1
    labels = np.array([f"k{i}" for i in range(1000)])

    def draw(seed: int) -> pd.DataFrame:
        rng = np.random.default_rng(seed)
        return pd.DataFrame({"code": labels[rng.choice(1000, 5000, p=shares / shares.sum())]})

    statistics = dataset_statistics(draw(1))
    constraints = suggest_constraints(statistics)
    constraints["features"][0].pop("string_constraints", None)  # values the reference missed
    result = check_data_quality(statistics, constraints, draw(2))
    assert not any(d["drifted"] for d in result.drift), result.drift


def test_switches_and_an_edited_range(baseline):
    statistics, constraints = baseline[0], copy.deepcopy(baseline[1])
    current = _draw(2000, 7)
    current["score"] = current["score"] + 2.0  # 7 % beyond the reference's maximum
    current.loc[:99, "tenure"] = -1  # 5 % negative
    tenure = next(f for f in constraints["features"] if f["name"] == "tenure")
    tenure["num_constraints"].update(min=None, max=None)  # open range, still non-negative
    result = check_data_quality(statistics, constraints, current)
    assert {(v["column"], v["check"]) for v in result.violations} == {
        ("tenure", "range_check"),
        ("score", "range_check"),
        ("score", "baseline_drift_check"),
    }
    constraints["monitoring_config"]["evaluate_constraints"] = "Disabled"
    result = check_data_quality(statistics, constraints, current)
    assert {v["check"] for v in result.violations} == {"baseline_drift_check"}
    constraints["monitoring_config"]["distribution_constraints"] = {
        "perform_comparison": "Disabled"
    }
    result = check_data_quality(statistics, constraints, current)
    assert result.violations == [] and result.drift == []


def test_a_small_window_of_the_same_distribution_is_no_violation(baseline):
    """100 rows: sampling noise alone moves a Wasserstein distance past 0.1 sd, completeness
    below its constraint or a share past its limit now and then; each must also pass its test at
    the run's significance, which noise does not. A real shift still does."""
    statistics, constraints = baseline
    ungated = copy.deepcopy(constraints)
    ungated["monitoring_config"]["distribution_constraints"]["significance"] = 1.0
    draws = [_draw(100, seed) for seed in range(20, 40)]
    assert sum(bool(check_data_quality(statistics, ungated, d).violations) for d in draws) >= 5
    assert all(check_data_quality(statistics, constraints, d).violations == [] for d in draws)
    moved = _draw(100, 41)
    moved["score"] = moved["score"] + 1.0
    result = check_data_quality(statistics, constraints, moved)
    assert [v["column"] for v in result.violations] == ["score"]


def test_a_window_too_small_to_tell_from_chance_does_not_drift(baseline):
    statistics, constraints = baseline[0], copy.deepcopy(baseline[1])
    small = _draw(60, 8)
    small["score"] = small["score"] + 0.2
    result = check_data_quality(statistics, constraints, small)
    score = {d["statistic"]: d for d in result.drift if d["column"] == "score"}
    # The Wasserstein distance passes its threshold, but the KS test cannot tell the 60 rows
    # from a sample of the reference.
    assert score["wasserstein"]["value"] > 0.1 and score["ks"]["p_value"] > 0.001
    assert not any(d["drifted"] for d in score.values())
    constraints["monitoring_config"]["distribution_constraints"] = {"significance": None}
    result = check_data_quality(statistics, constraints, small)
    assert any(d["drifted"] for d in result.drift if d["column"] == "score")
