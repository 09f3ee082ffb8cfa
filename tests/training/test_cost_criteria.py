"""The cost criteria priced from a held-out confusion matrix, without training anything."""

from __future__ import annotations

import pytest

from kiln.problems import CostSpec
from kiln.training._criteria import cost_results

MATRIX = {"No": {"No": 0, "Yes": 50}, "Yes": {"No": 500, "Yes": 50}}
# Rows are the actual classes (No, Yes), columns the predicted ones: 100 rows, 30 churners.
METRICS = {"test": {"confusion_matrix": [[60, 10], [12, 18]]}}


def test_cost_per_1000_against_the_nothing_positive_baseline():
    cost = CostSpec(matrix=MATRIX, baseline="nothing_positive", beat_baseline_by=0.5)
    (result,) = cost_results(cost, ["No", "Yes"], METRICS)
    # 10 offers to stayers and 18 to churners at 50, 12 missed churners at 500: 7,400 per 100.
    assert result["value"] == pytest.approx(74000)
    # Predicting "No" for everyone misses all 30 churners: 15,000 per 100.
    assert result["baseline_value"] == pytest.approx(150000)
    assert result["threshold"] == pytest.approx(75000) and result["passed"] is True
    assert result["split"] == "test" and "every row predicted 'No'" in result["baseline"]


def test_no_held_out_confusion_matrix_fails_the_cost_with_the_reason():
    cost = CostSpec(matrix=MATRIX, max_per_1000=1e9)
    (result,) = cost_results(cost, ["No", "Yes"], {"test": {"accuracy": 0.8}})
    assert result["value"] is None and result["passed"] is False
    assert result["note"] == "no held-out confusion matrix"
