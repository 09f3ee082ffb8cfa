"""The baseline's documents: statistics of a table, suggested constraints, their validation."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from kiln.errors import ConfigError
from kiln.monitoring import dataset_statistics, suggest_constraints, validate_constraints
from kiln.monitoring._statistics import TOP_CATEGORIES


def _frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "age": [30.0, 41.0, np.nan, 52.0],  # whole numbers with a gap: float64 in pandas
            "income": [1.5, 2.5, 3.5, -1.0],
            "city": ["Oslo", "Lima", "Oslo", None],
            "churn": ["yes", "no", "Yes", "no"],
            "active": [True, False, True, True],
            "signed_up": pd.to_datetime(["2024-01-01"] * 4),
            "predicted_churn": [0.1, 0.9, 0.4, np.inf],
            "inference_id": ["a", "b", "c", "d"],  # data capture's own column: not monitored
        }
    )


def _feature(document: dict, name: str) -> dict:
    return next(f for f in document["features"] if f["name"] == name)


def test_types_completeness_and_numbers():
    stats = dataset_statistics(_frame())
    assert stats["version"] == 1 and stats["dataset"] == {"item_count": 4}
    types = {f["name"]: f["inferred_type"] for f in stats["features"]}
    assert types == {
        "age": "Integral",
        "income": "Fractional",
        "city": "String",
        "churn": "Boolean",
        "active": "Boolean",
        "signed_up": "Unknown",
        "predicted_churn": "Fractional",
    }
    age = _feature(stats, "age")
    assert age["completeness"] == 0.75
    numbers = age["numerical_statistics"]
    assert numbers["common"] == {"num_present": 3, "num_missing": 1}
    assert (numbers["min"], numbers["max"], numbers["sum"], numbers["mean"]) == (30, 52, 123, 41)
    assert numbers["std_dev"] == pytest.approx(np.std([30, 41, 52]))
    assert _feature(stats, "predicted_churn")["prediction"] is True
    assert "prediction" not in age


def test_quantile_sketch_is_the_inverted_cdf_at_thousandths():
    stats = dataset_statistics(pd.DataFrame({"x": np.arange(1000)[::-1]}))
    values = _feature(stats, "x")["numerical_statistics"]["quantiles"]["values"]
    assert len(values) == 1001
    # The smallest value whose CDF reaches k/1000 is k - 1 (and the minimum at k = 0).
    assert values[:3] == [0, 0, 1] and values[500] == 499 and values[-1] == 999


def test_categorical_frequencies_booleans_and_the_cap():
    stats = dataset_statistics(_frame())
    city = _feature(stats, "city")["string_statistics"]
    assert city["frequencies"] == {"Oslo": 2, "Lima": 1}
    assert city["distinct_count"] == 2 and city["other_count"] == 0
    assert city["common"] == {"num_present": 3, "num_missing": 1}
    churn = _feature(stats, "churn")["string_statistics"]["frequencies"]
    assert churn == {"true": 2, "false": 2}
    active = _feature(stats, "active")["string_statistics"]["frequencies"]
    assert active == {"true": 3, "false": 1}

    many = pd.DataFrame({"code": [f"c{i}" for i in range(TOP_CATEGORIES + 5)] + ["c0"] * 3})
    code = dataset_statistics(many)["features"][0]["string_statistics"]
    assert len(code["frequencies"]) == TOP_CATEGORIES and code["frequencies"]["c0"] == 4
    assert code["other_count"] == 5 and code["distinct_count"] == TOP_CATEGORIES + 5


def test_documents_are_plain_json():
    frame = _frame()
    frame["counts"] = pd.Series([1, 2, 3, 4], dtype="int32")
    frame["all_missing"] = np.nan
    stats = dataset_statistics(frame)
    constraints = suggest_constraints(stats)
    for document in (stats, constraints):
        assert json.loads(json.dumps(document, allow_nan=False)) == document
    assert _feature(stats, "all_missing")["numerical_statistics"]["mean"] is None
    # The infinity is not a number the sketch can hold: left out of the statistics.
    assert _feature(stats, "predicted_churn")["numerical_statistics"]["max"] == 0.9


@pytest.mark.parametrize("frame", [pd.DataFrame({"x": []}), pd.DataFrame(index=range(3))])
def test_an_empty_table_is_refused_with_advice(frame):
    with pytest.raises(ConfigError) as caught:
        dataset_statistics(frame)
    assert caught.value.code == "monitor.empty-data"
    assert "Pick a data set version" in caught.value.message


def test_suggested_constraints():
    constraints = suggest_constraints(dataset_statistics(_frame()))
    age = _feature(constraints, "age")
    assert age["inferred_type"] == "Integral"
    assert age["completeness"] == pytest.approx(0.73)  # 0.75 observed, less the tolerance
    assert age["num_constraints"] == {"is_non_negative": True, "min": 30, "max": 52}
    assert _feature(constraints, "income")["num_constraints"]["is_non_negative"] is False
    # Lima was seen once in three values: the reference has surely not seen every city there is.
    assert "string_constraints" not in _feature(constraints, "city")
    cities = pd.DataFrame({"city": ["Lima", "Oslo"] * 10})
    assert suggest_constraints(dataset_statistics(cities))["features"][0]["string_constraints"] == {
        "domains": ["Lima", "Oslo"]
    }
    assert _feature(constraints, "predicted_churn")["prediction"] is True
    config = constraints["monitoring_config"]
    assert config["distribution_constraints"]["thresholds"]["numeric"]["psi"] == 0.1
    assert config["datatype_check_threshold"] == 0.1
    # A column with more distinct values than were kept has no closed domain.
    many = pd.DataFrame({"code": [f"c{i}" for i in range(TOP_CATEGORIES + 1)]})
    assert "string_constraints" not in suggest_constraints(dataset_statistics(many))["features"][0]


def test_validation_fills_in_defaults_and_keeps_overrides():
    constraints = suggest_constraints(dataset_statistics(_frame()))
    _feature(constraints, "income")["drift"] = {"psi": 0.3, "ks": None}
    constraints["monitoring_config"] = {
        "distribution_constraints": {"thresholds": {"numeric": {"ks": 0.2}}}
    }
    checked = validate_constraints(constraints)
    thresholds = checked["monitoring_config"]["distribution_constraints"]["thresholds"]
    assert thresholds["numeric"] == {"ks": 0.2, "wasserstein": 0.1, "psi": 0.1}
    assert thresholds["categorical"]["linf"] == 0.1
    assert checked["monitoring_config"]["range_check_threshold"] == 0.01
    assert _feature(checked, "income")["drift"] == {"psi": 0.3, "ks": None}


def _with(change) -> dict:
    constraints = suggest_constraints(dataset_statistics(_frame()))
    change(constraints)
    return constraints


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (lambda c: c.pop("features"), '"features" list'),
        (lambda c: _feature(c, "age").update(inferred_type="Int"), "Got 'Int'"),
        (lambda c: _feature(c, "age").update(completeness=1.5), "completeness must be"),
        (lambda c: _feature(c, "age").update(drift={"psi": -1}), "Got -1"),
        (lambda c: _feature(c, "age").update(drift={"chi_square": 0.1}), "'chi_square'"),
        (lambda c: _feature(c, "age")["num_constraints"].update(min=99), "min 99 above max 52"),
        (lambda c: c["features"].append({"name": "age", "inferred_type": "Integral"}), "two"),
        (lambda c: c["monitoring_config"].update(range_check_threshold="1%"), "Got '1%'"),
        (lambda c: c["monitoring_config"].update(drift={"ks": 0.2}), "thresholds.numeric.ks"),
        (
            lambda c: c["monitoring_config"]["distribution_constraints"].update(significance=0),
            "significance must be",
        ),
        (lambda c: _feature(c, "age").update(drfit={"ks": 0.2}), "the key 'drfit'"),
        (
            lambda c: c["monitoring_config"]["distribution_constraints"]["thresholds"].update(
                text={"ks": 0.1}
            ),
            "'text'",
        ),
        (
            lambda c: c.update(model_quality={"roc_auc": {"threshold": "high"}}),
            "model_quality.roc_auc.threshold must be a number. Got 'high'",
        ),
        (lambda c: c.update(model_quality={"roc_acu": {"threshold": 0.8}}), "'roc_acu'"),
        (
            lambda c: c.update(model_quality={"rmse": {"threshold": 3, "comparison": "Above"}}),
            "Got 'Above'",
        ),
        (lambda c: c.update(attribution={"ndcg_threshold": 2}), "ndcg_threshold must be"),
    ],
)
def test_a_bad_constraints_document_is_refused(change, words):
    with pytest.raises(ConfigError) as caught:
        validate_constraints(_with(change))
    assert caught.value.code == "monitor.bad-constraints"
    assert words in caught.value.message
    assert "docs/monitoring-drift.md" in caught.value.message
