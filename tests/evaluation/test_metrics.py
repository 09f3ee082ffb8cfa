import numpy as np
import pytest

from kiln.evaluation import evaluate


def test_binary_metrics_match_hand_computed_values():
    y = np.array([0, 0, 0, 1, 1, 1, 1, 0])
    proba1 = np.array([0.1, 0.4, 0.6, 0.8, 0.7, 0.3, 0.9, 0.2])
    proba = np.column_stack([1 - proba1, proba1])
    pred = (proba1 >= 0.5).astype(int)  # TP=3, FN=1, TN=3, FP=1
    m = evaluate("binary", y, y_pred=pred, proba=proba)
    assert m["accuracy"] == 0.75
    assert m["precision"] == 0.75 and m["recall"] == 0.75 and m["specificity"] == 0.75
    assert m["f1"] == 0.75
    assert m["confusion_matrix"] == [[3, 1], [1, 3]]
    assert m["roc_auc"] == pytest.approx(0.875)
    assert 0 < m["log_loss"] < 1 and 0 < m["pr_auc"] <= 1


def test_multiclass_has_macro_and_weighted_averages():
    y = np.array([0, 1, 2, 0, 1, 2, 0, 0])
    proba = np.eye(3)[[0, 1, 1, 0, 1, 2, 0, 2]] * 0.8 + 0.2 / 3
    m = evaluate("multiclass", y, y_pred=proba.argmax(1), proba=proba)
    for name in ("precision", "recall", "f1", "specificity", "roc_auc", "pr_auc"):
        assert f"{name}_macro" in m and f"{name}_weighted" in m
    assert m["accuracy"] == 0.75
    assert m["recall_macro"] == pytest.approx((3 / 4 + 1 + 1 / 2) / 3, abs=1e-6)
    assert np.array(m["confusion_matrix"]).sum() == 8


def test_regression_metrics():
    y = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    pred = np.array([1.1, 1.9, 3.2, 3.8, 5.0])
    m = evaluate("regression", y, y_pred=pred, n_features=1)
    assert m["mse"] == pytest.approx(0.02)
    assert m["rmse"] == pytest.approx(np.sqrt(0.02), abs=1e-6)
    assert m["mae"] == pytest.approx(0.12)
    assert m["r2"] == pytest.approx(0.99)
    assert m["adjusted_r2"] == pytest.approx(1 - 0.01 * 4 / 3, abs=1e-6)
    assert m["mape"] == pytest.approx(np.mean(np.abs((y - pred) / y)), abs=1e-6)
