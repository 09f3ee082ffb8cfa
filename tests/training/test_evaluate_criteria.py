"""``kiln.training.evaluate_criteria``: any registered model against any problem."""

from __future__ import annotations

import pytest

from kiln.errors import ConfigError
from kiln.training import evaluate_criteria


def test_a_registered_model_is_checked_against_a_problem(trained_copy):
    ws, result = trained_copy
    ref = result.model.ref
    ws.problems.create(
        "churn",
        {
            "target": "churn",
            "criteria": ["roc_auc >= 0.5", "recall >= 0.99"],
            "cost": {
                "matrix": {"Yes": {"Yes": 1, "No": 10}, "No": {"Yes": 1, "No": 0}},
                "baseline": {"predict": "Yes"},
                "max_per_1000": 100000,
            },
            "latency": {"p99_ms": 5000},
        },
    )
    checked = evaluate_criteria(ws, ref, "churn")
    assert checked["passed"] is False
    auc, recall, cost, latency = checked["results"]
    assert (auc["passed"], recall["passed"], cost["passed"], latency["passed"]) == (
        True,
        False,
        True,
        True,
    )
    assert recall["value"] == result.metrics["test"]["recall"]
    (tn, fp), (fn, tp) = result.metrics["test"]["confusion_matrix"]
    rows = tn + fp + fn + tp
    assert cost["value"] == pytest.approx(1000 * (fp + tp + 10 * fn) / rows, abs=1e-3)
    # Every row predicted "Yes": one offer each.
    assert cost["baseline_value"] == pytest.approx(1000.0)
    # Timed here, on the test split the training job recorded.
    assert latency["rows"] == 100 and latency["value"] > 0
    assert "criteria" not in ws.models.get(ref).details  # evaluating records nothing


def test_a_problem_whose_classes_are_not_the_models_is_refused(trained_copy):
    ws, result = trained_copy
    matrix = {"churned": {"churned": 0, "stayed": 5}, "stayed": {"churned": 1, "stayed": 0}}
    ws.problems.create("other", {"target": "churn", "cost": {"matrix": matrix, "max_per_1000": 1}})
    with pytest.raises(ConfigError, match=r"names class\(es\) \['churned', 'stayed'\]") as err:
        evaluate_criteria(ws, result.model.ref, "other")
    assert err.value.code == "problem.cost-classes"
