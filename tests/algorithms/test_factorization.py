"""The factorization machine: the O(k·nnz) score equals the explicit pairwise sum, the gradient
matches finite differences, sparse and dense input train the same model, and it learns a pure
interaction that a linear model cannot."""

import itertools

import numpy as np
import pytest
from scipy import sparse
from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.metrics import r2_score, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from kiln.algorithms._factorization import (
    FactorizationMachineClassifier,
    FactorizationMachineRegressor,
)


def _random_model(rng, n_features=6, k=3):
    model = FactorizationMachineRegressor(num_factors=k)
    model.w0_ = 0.3
    model.w_ = rng.normal(size=n_features)
    model.V_ = rng.normal(size=(n_features, k))
    return model


def test_the_linear_time_score_equals_the_pairwise_definition():
    rng = np.random.default_rng(0)
    model = _random_model(rng)
    X = rng.normal(size=(5, 6)) * (rng.random((5, 6)) < 0.6)
    expected = [
        model.w0_
        + x @ model.w_
        + sum(
            model.V_[i] @ model.V_[j] * x[i] * x[j] for i, j in itertools.combinations(range(6), 2)
        )
        for x in X
    ]
    np.testing.assert_allclose(model._raw(X)[0], expected, rtol=1e-12)
    np.testing.assert_allclose(model._raw(sparse.csr_matrix(X))[0], expected, rtol=1e-12)


@pytest.mark.parametrize("classifier", [False, True])
def test_the_gradient_matches_finite_differences(classifier):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(7, 5))
    if classifier:
        model = FactorizationMachineClassifier(num_factors=2, reg_linear=0.1, reg_factors=0.2)
        target = rng.integers(0, 2, 7).astype(float)
    else:
        model = FactorizationMachineRegressor(num_factors=2, reg_linear=0.1, reg_factors=0.2)
        target = rng.normal(size=7)
    hp = model._hyperparameters()
    model._initialize(hp, X, target.astype(int) if classifier else target, rng)
    model.V_ = rng.normal(size=model.V_.shape)
    model.w_ = rng.normal(size=model.w_.shape)

    def objective():
        raw = model._raw(X)[0]
        if classifier:
            data = np.mean(np.logaddexp(0, raw) - target * raw)
        else:
            data = 0.5 * np.mean((raw - target) ** 2)
        return data + 0.05 * model.w_ @ model.w_ + 0.1 * np.sum(model.V_**2)

    captured = {}
    model._step = lambda hp, gradients: captured.setdefault("g", gradients)
    # One batch covering every row, so the captured gradient is the full-data gradient.
    model._train_epoch({**hp, "batch_size": 7}, X, target, np.random.default_rng(2))
    g_w0, g_w, g_V = captured["g"]

    def numeric(array, index):
        eps = 1e-6
        saved = array[index]
        array[index] = saved + eps
        up = objective()
        array[index] = saved - eps
        down = objective()
        array[index] = saved
        return (up - down) / (2 * eps)

    for index in np.ndindex(model.w_.shape):
        assert g_w[index] == pytest.approx(numeric(model.w_, index), rel=1e-5, abs=1e-8)
    for index in np.ndindex(model.V_.shape):
        assert g_V[index] == pytest.approx(numeric(model.V_, index), rel=1e-5, abs=1e-8)
    eps = 1e-6
    model.w0_ += eps
    up = objective()
    model.w0_ -= 2 * eps
    down = objective()
    assert g_w0 == pytest.approx((up - down) / (2 * eps), rel=1e-5)


def test_sparse_and_dense_input_train_the_same_model():
    X, y = load_breast_cancer(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    X[np.abs(X) < 0.5] = 0.0  # a genuinely sparse matrix
    dense = FactorizationMachineClassifier(epochs=5, random_state=3).fit(X, y)
    csr = FactorizationMachineClassifier(epochs=5, random_state=3).fit(sparse.csr_matrix(X), y)
    np.testing.assert_allclose(dense.V_, csr.V_, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(
        dense.predict_proba(X), csr.predict_proba(sparse.csr_matrix(X)), rtol=1e-9
    )


def test_seeded_training_is_deterministic():
    X, y = load_breast_cancer(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    first = FactorizationMachineClassifier(epochs=4, random_state=7).fit(X, y)
    second = FactorizationMachineClassifier(epochs=4, random_state=7).fit(X, y)
    other = FactorizationMachineClassifier(epochs=4, random_state=8).fit(X, y)
    np.testing.assert_array_equal(first.predict_proba(X), second.predict_proba(X))
    assert first.train_loss_ == second.train_loss_
    assert not np.array_equal(first.V_, other.V_)


def test_it_learns_a_pure_interaction_a_linear_model_cannot():
    """y = x0·x1 (XOR-like on one-hot-ish data): only the pairwise term can express it."""
    rng = np.random.default_rng(0)
    X = rng.choice([-1.0, 1.0], size=(2000, 4))
    y = (X[:, 0] * X[:, 1] > 0).astype(int)
    X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
    fm = FactorizationMachineClassifier(num_factors=2, learning_rate=0.05, random_state=0)
    fm.fit(X_train, y_train, eval_set=(X_test[:200], y_test[:200]))
    assert roc_auc_score(y_test, fm.predict_proba(X_test)[:, 1]) > 0.99
    linear = FactorizationMachineClassifier(num_factors=1, init_std=1e-6, learning_rate=0.05)
    linear.set_params(reg_factors=1e3, random_state=0)  # latent vectors forced to ~0
    linear.fit(X_train, y_train)
    assert roc_auc_score(y_test, linear.predict_proba(X_test)[:, 1]) < 0.6


def test_regression_and_classification_reach_sensible_scores():
    X, y = load_diabetes(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
    scaler = StandardScaler().fit(X_train)
    fm = FactorizationMachineRegressor(random_state=0).fit(
        scaler.transform(X_train), y_train, eval_set=(scaler.transform(X_test), y_test)
    )
    assert r2_score(y_test, fm.predict(scaler.transform(X_test))) > 0.35
    assert fm.loss_name == "mse" and len(fm.validation_loss_) == fm.n_iter_


def test_more_than_two_classes_is_refused():
    with pytest.raises(ValueError, match="Only binary classification is supported"):
        FactorizationMachineClassifier().fit(np.eye(3), [0, 1, 2])
