import pytest

from kiln.errors import ConfigError
from kiln.evaluation._diagnosis import (
    OVERFIT_RMSE_RATIO,
    OVERFIT_SKILL_GAP,
    UNDERFIT_SKILL,
    diagnose,
)

# Class shares 0.73 / 0.27, as in the churn data (rows: actual class).
CHURN_MATRIX = [[730, 0], [270, 0]]


def binary(train_auc, held_auc, train_loss=0.40, held_loss=0.42, *, split="validation"):
    return {
        "train": {"roc_auc": train_auc, "log_loss": train_loss, "confusion_matrix": CHURN_MATRIX},
        split: {"roc_auc": held_auc, "log_loss": held_loss},
    }


def test_balanced_when_train_and_validation_agree():
    # The churn LightGBM model of the test suite: ROC-AUC 0.905 / 0.849 / 0.838.
    metrics = binary(0.905, 0.849, 0.352, 0.413)
    metrics["test"] = {"roc_auc": 0.838, "log_loss": 0.425}
    out = diagnose("binary", metrics, algorithm="lightgbm")
    assert out["verdict"] == "balanced"
    assert out["metric"] == "roc_auc" and out["baseline"] == 0.5
    assert out["held_out_split"] == "validation"
    assert out["skill"]["train"] == pytest.approx(0.81)
    assert out["gap"] == pytest.approx(0.112)
    assert out["gap"] < OVERFIT_SKILL_GAP
    assert any("0.9050 on train" in e for e in out["evidence"])
    assert out["suggestions"] and "tuning" in out["suggestions"][0]


def test_overfitting_from_a_large_train_validation_gap():
    out = diagnose("binary", binary(0.999, 0.80), algorithm="random_forest")
    assert out["verdict"] == "overfitting"
    assert out["gap"] == pytest.approx(0.998 - 0.6, abs=1e-3)
    text = " ".join(out["suggestions"])
    assert "More regularisation" in text and "min_samples_leaf" in text
    assert "More data" in text and "Fewer features" in text


def test_overfitting_from_log_loss_alone():
    # Ranking holds up (AUC gap small) but the probabilities are overconfident off the train rows.
    out = diagnose("binary", binary(0.90, 0.86, train_loss=0.10, held_loss=0.45))
    assert out["gap"] < OVERFIT_SKILL_GAP
    assert out["loss"]["gap"] > OVERFIT_SKILL_GAP
    assert out["verdict"] == "overfitting"


def test_overfitting_from_the_rmse_ratio_in_regression():
    metrics = {
        "train": {"r2": 0.95, "rmse": 5000.0},
        "validation": {"r2": 0.85, "rmse": 8500.0},
    }
    out = diagnose("regression", metrics, algorithm="xgboost")
    assert out["gap"] == pytest.approx(0.10)
    assert out["loss"]["ratio"] == pytest.approx(1.7) and out["loss"]["ratio"] > OVERFIT_RMSE_RATIO
    assert out["verdict"] == "overfitting"
    assert "max_depth" in out["suggestions"][0]


def test_underfitting_when_the_training_rows_are_not_fit():
    out = diagnose("binary", binary(0.60, 0.58, 0.55, 0.56), algorithm="linear")
    assert out["skill"]["train"] == pytest.approx(0.2) and out["skill"]["train"] < UNDERFIT_SKILL
    assert out["verdict"] == "underfitting"
    text = " ".join(out["suggestions"])
    assert "lower alpha" in text and "boosted-tree" in text and "features" in text

    regression = diagnose(
        "regression",
        {"train": {"r2": 0.12, "rmse": 30.0}, "test": {"r2": 0.10, "rmse": 31.0}},
    )
    assert regression["held_out_split"] == "test"
    assert regression["verdict"] == "underfitting"


def test_multiclass_baseline_is_the_majority_class_share():
    # 60% of the rows are class 0: accuracy 0.66 is barely above always predicting it.
    matrix = [[60, 0, 0], [25, 0, 0], [15, 0, 0]]
    metrics = {
        "train": {"accuracy": 0.66, "log_loss": 0.85, "confusion_matrix": matrix},
        "validation": {"accuracy": 0.64, "log_loss": 0.88},
    }
    out = diagnose("multiclass", metrics)
    assert out["baseline"] == pytest.approx(0.6)
    assert out["skill"]["train"] == pytest.approx(0.15)
    assert out["verdict"] == "underfitting"
    assert out["loss"]["baseline"] == pytest.approx(0.9376, abs=1e-3)  # entropy of the shares


def test_cross_validation_mean_is_the_held_out_estimate():
    metrics = binary(0.95, 0.50, split="test")
    metrics["cv_mean"] = {"roc_auc": 0.91, "log_loss": 0.43}
    metrics["cv_std"] = {"roc_auc": 0.01}
    out = diagnose("binary", metrics)
    assert out["held_out_split"] == "cv_mean"
    assert out["gap"] == pytest.approx(0.08)
    assert any("±0.0100" in e for e in out["evidence"])
    # The test split disagrees with the cross-validation estimate: said, not hidden.
    assert out["verdict"] == "balanced"


def test_validation_test_disagreement_is_pointed_out():
    metrics = binary(0.90, 0.88)
    metrics["test"] = {"roc_auc": 0.70}
    out = diagnose("binary", metrics)
    assert any("Validation and test disagree" in e for e in out["evidence"])


def test_learning_curve_decides_whether_more_data_helps():
    metrics = binary(0.905, 0.849, 0.352, 0.413)
    rising = [
        {"rows": 3000, "train": 0.93, "validation": 0.82},
        {"rows": 4000, "train": 0.91, "validation": 0.849},
    ]
    out = diagnose("binary", metrics, learning_curve=rising)
    assert any("still rising" in e for e in out["evidence"])
    assert any(s.startswith("More data") for s in out["suggestions"])
    flat = [dict(rising[0], validation=0.848), rising[1]]
    out = diagnose("binary", metrics, learning_curve=flat)
    assert any("levelled off" in e for e in out["evidence"])
    assert not any(s.startswith("More data") for s in out["suggestions"])


def test_uniformly_bad_probabilities_are_not_overfitting():
    # Naive Bayes on churn: fair ranking, log loss far above the baseline on every split.
    out = diagnose("binary", binary(0.823, 0.812, train_loss=6.34, held_loss=6.45))
    assert out["loss"]["gap"] > OVERFIT_SKILL_GAP and out["loss"]["ratio"] < 1.25
    assert out["verdict"] == "balanced"
    assert any("badly calibrated" in e for e in out["evidence"])


def test_missing_scores_give_unknown():
    out = diagnose("binary", {"train": {"roc_auc": 0.9}})
    assert out["verdict"] == "unknown" and out["suggestions"] == []
    assert "held-out" in out["evidence"][0]


def test_unsupervised_problem_types_have_no_diagnosis():
    with pytest.raises(ConfigError, match="binary, multiclass, regression"):
        diagnose("clustering", {})
