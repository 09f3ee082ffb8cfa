"""The target analysis and the quick model on real data."""

from __future__ import annotations

import pandas as pd
from sklearn.datasets import load_iris

from kiln.profile import profile


def test_binary_quick_model_on_churn(churn_profile):
    quick = churn_profile.quick_model
    assert quick["status"] == "ok" and quick["folds"] == 3
    assert 0.78 < quick["metrics"]["roc_auc"]["mean"] < 0.9
    top = [f["column"] for f in quick["top_features"][:5]]
    assert "contract" in top and "tenure" in top
    target = churn_profile.facts["target"]
    assert target["problem_type"] == "binary"
    assert {c["value"]: c["count"] for c in target["classes"]} == {"No": 5174, "Yes": 1869}


def test_regression_quick_model_on_housing(housing):
    result = profile(housing, target="price", title="housing")
    quick = result.quick_model
    assert result.facts["target"]["problem_type"] == "regression"
    assert set(quick["metrics"]) == {"r2", "rmse"}
    assert 0.4 < quick["metrics"]["r2"]["mean"] < 0.9
    assert quick["top_features"][0]["column"] == "lotsize"


def test_multiclass_quick_model_on_iris():
    iris = load_iris(as_frame=True)
    frame = iris.frame.assign(target=iris.target_names[iris.target])
    result = profile(frame, target="target", title="iris")
    assert result.facts["target"]["problem_type"] == "multiclass"
    assert result.quick_model["metrics"]["accuracy"]["mean"] > 0.9
    assert result.quick_model["metrics"]["log_loss"]["mean"] < 0.5


def test_without_a_target_the_quick_model_is_skipped_and_says_so(housing):
    result = profile(housing, title="housing")
    assert result.facts["target"] is None
    assert result.quick_model == {
        "status": "skipped",
        "reason": "no target given (use --target COLUMN)",
    }
    assert "Skipped: no target given" in result.to_html()


def test_a_constant_target_skips_the_model():
    frame = pd.DataFrame({"x": range(30), "y": ["a"] * 30})
    result = profile(frame, target="y", title="t")
    assert result.quick_model["status"] == "skipped"
    assert "single value" in result.quick_model["reason"]
