"""AutoML's regression target transforms (with the smearing correction) and the post-hoc
calibration of its ensembles' probabilities, on hand-made data."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import Ridge
from sklearn.metrics import log_loss, roc_auc_score

from kiln.automl._ensemble import Calibration, choose_calibration
from kiln.automl._search import metric_loss
from kiln.automl._target import (
    BackTransformed,
    TargetTransform,
    smearing_points,
    target_transforms,
)


@pytest.mark.parametrize("kind", ["log", "power"])
def test_a_transform_inverts_what_it_forwards(kind):
    y = np.random.default_rng(0).lognormal(3, 1, 500)
    transform = TargetTransform(kind).fit(y)
    assert np.allclose(transform.inverse(transform.forward(y)), y)


def test_log_and_box_cox_are_offered_only_for_a_positive_target():
    assert target_transforms(np.array([1.0, 5.0, 300.0])) == ("none", "log", "power")
    # Yeo-Johnson's power transform takes any real target; the log does not.
    assert target_transforms(np.array([-2.0, 0.0, 7.0])) == ("none", "power")


def test_smearing_corrects_the_back_transforms_bias_towards_the_median():
    rng = np.random.default_rng(1)
    sigma = 0.8
    y = np.exp(rng.normal(0, sigma, 20_000))  # log-normal: mean exp(sigma²/2), median 1
    transform = TargetTransform("log").fit(y)
    residuals = transform.forward(y) - 0.0  # the residuals of a model predicting E[log y] = 0
    median = transform.inverse(np.zeros(1))[0]
    mean = transform.inverse(np.zeros(1), smearing_points("log", residuals))[0]
    assert median == pytest.approx(1.0)
    assert mean == pytest.approx(y.mean(), rel=1e-9)  # Duan's estimate, exactly
    assert mean == pytest.approx(np.exp(sigma**2 / 2), rel=0.03)
    power = TargetTransform("power").fit(y)
    points = smearing_points("power", power.forward(y) - 0.0)
    assert len(points) == 256
    assert power.inverse(np.zeros(1), points)[0] == pytest.approx(y.mean(), rel=0.02)


def test_a_prediction_far_outside_the_training_targets_stays_finite():
    transform = TargetTransform("log").fit(np.array([1.0, 10.0, 100.0]))
    assert np.isfinite(transform.inverse(np.array([1e6, -1e6]))).all()


@pytest.mark.parametrize("low", [1.0, 0.001])
def test_a_power_transform_back_transforms_any_prediction_to_a_finite_value(low):
    # A target spread evenly over [low, 100]: Box-Cox's lambda is > 0, and its inverse is NaN
    # below -1/lambda, barely under the lowest target once standardised. A prediction there, or
    # a low prediction plus a negative residual in the smearing average, came back NaN (and the
    # trial failed with "Input contains NaN").
    y = np.random.default_rng(7).uniform(low, 100, 500)
    transform = TargetTransform("power").fit(y)
    assert transform.power.lambdas_[0] > 0
    z = transform.forward(y)
    predictions = np.linspace(z.min() - 5, z.max() + 5, 1001)
    residuals = smearing_points("power", z - z.mean())
    for back in (transform.inverse(predictions), transform.inverse(predictions, residuals)):
        assert np.isfinite(back).all()
        span = y.max() - y.min()
        assert back.min() >= y.min() - span and back.max() <= y.max() + span
    assert np.allclose(transform.inverse(z), y)  # the training targets still come back


def test_a_transform_that_cannot_give_the_target_back_is_not_offered():
    # Box-Cox has no fit for a constant target, and a nearly constant one gets a degenerate
    # lambda that maps every y to one value: each trial with it would fail.
    assert target_transforms(np.full(40, 5.0)) == ("none", "log")
    assert target_transforms(np.array([5.0] * 39 + [6.0])) == ("none", "log")


def test_a_back_transformed_model_predicts_on_the_targets_own_scale():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(400, 3))
    y = np.exp(1 + X @ np.array([0.5, -0.3, 0.2]) + rng.normal(0, 0.1, 400))
    transform = TargetTransform("log").fit(y)
    model = BackTransformed(Ridge().fit(X, transform.forward(y)), transform)
    predicted = model.predict(X)
    assert np.corrcoef(predicted, y)[0, 1] > 0.95
    assert predicted.mean() == pytest.approx(y.mean(), rel=0.05)


def _overconfident(rows: int, classes: int, seed: int = 0):
    """Labels drawn from true probabilities, and those probabilities sharpened (T = 1/3)."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 1.2, size=(rows, classes))
    true = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    y = np.array([rng.choice(classes, p=p) for p in true])
    sharp = np.exp(3 * logits) / np.exp(3 * logits).sum(axis=1, keepdims=True)
    return sharp, y


def test_temperature_scaling_softens_overconfident_probabilities():
    proba, y = _overconfident(2000, 3)
    calibration = Calibration("temperature").fit(proba, y)
    assert calibration.temperature == pytest.approx(3.0, rel=0.2)
    calibrated = calibration.apply(proba)
    assert np.allclose(calibrated.sum(axis=1), 1.0)
    assert (calibrated.argmax(axis=1) == proba.argmax(axis=1)).all()  # rankings kept
    assert log_loss(y, calibrated) < 0.9 * log_loss(y, proba)


def test_calibration_is_chosen_by_cross_validation_and_reports_unseen_rows_only():
    proba, y = _overconfident(600, 3, seed=3)
    loss = metric_loss("log_loss", "multiclass", y)
    calibration, reported, tried = choose_calibration(proba, y, loss, seed=0)
    assert calibration is not None and calibration.method == "temperature"
    # The reported probabilities are the cross-validated ones, not the full fit's.
    assert not np.allclose(reported, calibration.apply(proba))
    assert loss(reported) == pytest.approx(tried["temperature"]["metric_loss"])
    assert tried["temperature"]["log_loss"] < tried["none"]["log_loss"]
    assert "isotonic" not in tried  # three classes: temperature only


def test_a_ranking_metric_takes_a_temperature_only_for_a_better_log_loss():
    proba, y = _overconfident(1500, 2, seed=4)
    loss = metric_loss("roc_auc", "binary", y)
    calibration, reported, tried = choose_calibration(proba, y, loss, seed=0, ranking=True)
    # Isotonic is tried on a large binary set; the temperature keeps the ROC-AUC exactly.
    assert set(tried) == {"none", "temperature", "isotonic"}
    assert calibration is not None and calibration.method == "temperature"
    assert roc_auc_score(y, reported[:, 1]) == roc_auc_score(y, proba[:, 1])
    assert log_loss(y, reported) < log_loss(y, proba)
    assert np.allclose(reported, calibration.apply(proba))


def test_well_calibrated_probabilities_are_left_alone():
    rng = np.random.default_rng(5)
    positive = rng.uniform(0.05, 0.95, 400)
    y = (rng.uniform(size=400) < positive).astype(int)
    proba = np.column_stack([1 - positive, positive])
    calibration, reported, _ = choose_calibration(
        proba, y, metric_loss("accuracy", "binary", y), seed=0, ranking=True
    )
    assert calibration is None and np.allclose(reported, proba)


def test_isotonic_calibration_never_says_zero_or_one():
    rng = np.random.default_rng(6)
    positive = rng.uniform(size=2000)
    y = (positive > 0.5).astype(int)  # separable: isotonic would reach 0 and 1
    calibration = Calibration("isotonic").fit(np.column_stack([1 - positive, positive]), y)
    out = calibration.apply(np.column_stack([1 - positive, positive]))
    assert out.min() > 0 and out.max() < 1
