"""SHAP attributions per input column, NDCG, and the attribution drift check."""

from math import log2

import numpy as np
import pandas as pd
import pytest

from kiln.clarify import (
    attribution_ndcg,
    check_attribution,
    global_attributions,
    row_attributions,
)
from kiln.clarify._attributions import _by_perturbation, shap_by_column
from kiln.errors import DataError
from kiln.evaluation import shap_values, transformed_feature_names


@pytest.fixture(scope="module")
def model_and_rows(trained):
    ws, result = trained
    model = ws.models.load(result.model.ref)
    rows = ws.data.load(result.job.result["splits"]["test"]).head(200)
    return model, rows


@pytest.fixture(scope="module")
def one_hot_model(trained):
    """The session's LightGBM refitted on one-hot categoricals (its own reads codes)."""
    import lightgbm
    from sklearn.pipeline import Pipeline

    from kiln.recipe import build_preprocessor
    from kiln.registry import TrainedModel

    ws, result = trained
    model = ws.models.load(result.model.ref)
    train = ws.data.load(result.job.result["splits"]["train"])
    types = {c["name"]: c["type"] for c in result.model.signature["inputs"]}
    recipe = build_preprocessor(types, scale_numeric=False).fit(train[model.input_columns])
    y = (train["churn"] == model.classes[1]).to_numpy(dtype=int)
    booster = lightgbm.LGBMClassifier(n_estimators=60, verbose=-1)
    booster.fit(recipe.transform(train[model.input_columns]), y)
    pipeline = Pipeline([("preprocess", recipe), ("model", booster)])
    return TrainedModel(
        pipeline, problem_type="binary", classes=model.classes, signature=model.signature
    )


def test_ndcg_matches_the_hand_computed_value():
    # Baseline order a (3), b (2), c (1); the current order is b, c, a.
    dcg = 2 / log2(2) + 1 / log2(3) + 3 / log2(4)
    ideal = 3 / log2(2) + 2 / log2(3) + 1 / log2(4)
    value = attribution_ndcg({"a": 3, "b": 2, "c": 1}, {"a": 0.1, "b": 0.3, "c": 0.2})
    assert value == pytest.approx(dcg / ideal)
    assert value == pytest.approx(0.8675, abs=1e-4)


def test_ndcg_is_one_for_the_same_ranking_whatever_the_sizes():
    assert attribution_ndcg({"a": 3, "b": 2, "c": 1}, {"a": 30, "b": 0.2, "c": 0.1}) == 1.0


def test_features_missing_from_the_current_attributions_rank_last():
    # current ranks c first; a and b (absent) follow in the baseline's order.
    dcg = 1 / log2(2) + 3 / log2(3) + 2 / log2(4)
    ideal = 3 / log2(2) + 2 / log2(3) + 1 / log2(4)
    assert attribution_ndcg({"a": 3, "b": 2, "c": 1}, {"c": 5}) == pytest.approx(dcg / ideal)


@pytest.mark.parametrize("baseline", [{}, {"a": 0, "b": 0}, {"a": -1, "b": 2}])
def test_unusable_baseline_attributions_are_refused(baseline):
    with pytest.raises(DataError) as caught:
        attribution_ndcg(baseline, {"a": 1})
    assert caught.value.code == "clarify.bad-attributions"


@pytest.mark.parametrize(("encoding", "features"), [("codes", 1), ("one_hot", 3)])
def test_an_input_columns_attribution_is_the_sum_of_its_features_shap_values(
    model_and_rows, one_hot_model, encoding, features
):
    model, rows = model_and_rows
    if encoding == "one_hot":
        model = one_hot_model
    by_column, _, units = shap_by_column(model, rows)
    preprocessor = model.pipeline[:-1]
    Xt = preprocessor.transform(rows[model.input_columns])
    raw, _, _ = shap_values(model.pipeline[-1], Xt)
    names = transformed_feature_names(preprocessor, raw.shape[-1])
    contract = [i for i, n in enumerate(names) if n.startswith("contract")]
    assert len(contract) == features and units == "log-odds"
    column = model.input_columns.index("contract")
    np.testing.assert_allclose(by_column[:, 0, column], raw[:, 0, contract].sum(axis=1))
    # the missing-value indicator of total_charges counts for total_charges
    total = model.input_columns.index("total_charges")
    parts = [i for i, n in enumerate(names) if n.endswith("total_charges")]
    np.testing.assert_allclose(by_column[:, 0, total], raw[:, 0, parts].sum(axis=1))
    np.testing.assert_allclose(by_column.sum(axis=2), raw.sum(axis=2))  # nothing lost


def test_global_attributions_are_the_mean_absolute_value_per_input_column(model_and_rows):
    model, rows = model_and_rows
    attributions = global_attributions(model, rows)
    by_column, _, _ = shap_by_column(model, rows)
    assert set(attributions) == set(model.input_columns)
    assert list(attributions.values()) == sorted(attributions.values(), reverse=True)
    column = model.input_columns.index("tenure")
    assert attributions["tenure"] == pytest.approx(np.abs(by_column[:, 0, column]).mean())


def test_row_attributions_are_each_rows_largest_contributions(model_and_rows):
    model, rows = model_and_rows
    explained, method, _ = row_attributions(model, rows.head(2), top=3)
    by_column, _, _ = shap_by_column(model, rows.head(2))
    assert "LightGBM" in method
    for index, row in enumerate(explained):
        contributions = row["contributions"]
        assert len(contributions) == 3
        largest = np.argsort(-np.abs(by_column[index, 0]))[:3]
        assert [c["column"] for c in contributions] == [model.input_columns[i] for i in largest]
        for c in contributions:
            assert c["value"] == rows.iloc[index][c["column"]]


def test_attribution_drift_is_flagged_when_the_ranking_changes(model_and_rows):
    model, rows = model_and_rows
    own = global_attributions(model, rows)
    metrics, violations, current = check_attribution(model, own, rows)
    assert metrics["attribution.ndcg"] == pytest.approx(1.0) and violations == []
    assert metrics["attribution.contract"] == current["contract"]
    reversed_ranking = dict(zip(own, sorted(own.values()), strict=True))
    metrics, violations, _ = check_attribution(model, reversed_ranking, rows)
    assert metrics["attribution.ndcg"] < 0.9
    (violation,) = violations
    assert violation["check"] == "attribution_drift_check"
    assert violation["expected"] == "NDCG >= 0.9"
    assert violation["evidence"]["current_top"] == list(own)[:5]


def test_features_no_name_tells_are_traced_by_changing_each_input_column():
    from sklearn.compose import ColumnTransformer
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    inputs = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0], "colour": ["red", "blue", "red", "green"]})
    preprocessor = ColumnTransformer(
        [("scale", StandardScaler(), ["x"]), ("onehot", OneHotEncoder(), ["colour"])]
    ).fit(inputs)
    owners = _by_perturbation(preprocessor, inputs, ["x", "colour"], 4)
    assert owners == [0, 1, 1, 1]


def test_a_model_shap_cannot_explain_is_refused_with_the_reason():
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    from kiln.errors import ConfigError
    from kiln.registry import TrainedModel

    frame = pd.DataFrame({"x": [0.0, 1.0, 2.0, 3.0]})
    pipeline = Pipeline([("scale", StandardScaler()), ("model", LogisticRegression())])
    pipeline.fit(frame, [0, 0, 1, 1])
    model = TrainedModel(
        pipeline, problem_type="binary", classes=[0, 1], signature={"inputs": [{"name": "x"}]}
    )
    with pytest.raises(ConfigError) as caught:
        global_attributions(model, frame)
    assert caught.value.code == "clarify.no-attributions"
    assert "LogisticRegression" in caught.value.message


@pytest.mark.parametrize("threshold", [0, 1.5])
def test_an_ndcg_threshold_outside_zero_to_one_is_refused(model_and_rows, threshold):
    from kiln.errors import ConfigError

    model, rows = model_and_rows
    with pytest.raises(ConfigError) as caught:
        check_attribution(model, {"tenure": 1.0}, rows, threshold=threshold)
    assert caught.value.code == "clarify.bad-threshold"
