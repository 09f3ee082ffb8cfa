"""kiln's epoch-trained estimators (linear learner, neural network, factorization machine): the
per-epoch losses, early stopping that keeps the best epoch, and the linear learner's options."""

import itertools

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris
from sklearn.metrics import accuracy_score, log_loss, mean_squared_error, r2_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from kiln.algorithms._factorization import (
    FactorizationMachineClassifier,
    FactorizationMachineRegressor,
)
from kiln.algorithms._linear_learner import LinearLearnerClassifier, LinearLearnerRegressor
from kiln.algorithms._neural import NeuralNetworkClassifier, NeuralNetworkRegressor
from kiln.errors import ConfigError

CLASSIFIERS = [LinearLearnerClassifier, NeuralNetworkClassifier, FactorizationMachineClassifier]
REGRESSORS = [LinearLearnerRegressor, NeuralNetworkRegressor, FactorizationMachineRegressor]


def _split(loader, stratify=True):
    X, y = loader(return_X_y=True)
    X_train, X_held, y_train, y_held = train_test_split(
        X, y, test_size=0.3, random_state=0, stratify=y if stratify else None
    )
    scaler = StandardScaler().fit(X_train)
    return scaler.transform(X_train), scaler.transform(X_held), y_train, y_held


@pytest.mark.parametrize("cls", CLASSIFIERS + REGRESSORS, ids=lambda c: c.__name__)
def test_early_stopping_keeps_the_best_epoch(cls):
    classifier = cls in CLASSIFIERS
    X, X_val, y, y_val = (
        _split(load_breast_cancer) if classifier else _split(load_diabetes, stratify=False)
    )
    # Many epochs and a large step so the validation loss turns upward and stopping triggers.
    model = cls(epochs=300, early_stopping_rounds=3, random_state=0)
    model.fit(X, y, eval_set=(X_val, y_val))
    losses = model.validation_loss_
    assert len(model.train_loss_) == len(losses) == model.n_iter_
    assert model.best_iteration_ == int(np.argmin(losses)) + 1
    assert model.n_iter_ <= model.best_iteration_ + 3 < 300
    if classifier:
        final = log_loss(y_val, model.predict_proba(X_val), labels=model.classes_)
        metric = "log_loss"
    else:
        final = mean_squared_error(y_val, model.predict(X_val))
        metric = "mse"
    assert final == pytest.approx(min(losses), rel=1e-9)
    curves = model.iteration_metrics()
    assert curves == {f"train_{metric}": model.train_loss_, f"validation_{metric}": losses}


@pytest.mark.parametrize("cls", CLASSIFIERS, ids=lambda c: c.__name__)
def test_without_validation_every_epoch_runs(cls):
    X, _, y, _ = _split(load_breast_cancer)
    model = cls(epochs=4, random_state=0).fit(X, y)
    assert model.n_iter_ == 4 and model.best_iteration_ is None
    assert list(model.iteration_metrics()) == ["train_log_loss"]
    # Training loss goes down on a well-conditioned problem.
    assert model.train_loss_[-1] < model.train_loss_[0]


@pytest.mark.parametrize(
    ("optimizer", "penalty", "schedule"),
    list(
        itertools.product(
            ("minibatch", "sgd"),
            ("l2", "l1", "elasticnet", "none"),
            ("constant", "optimal", "invscaling", "adaptive"),
        )
    ),
)
def test_every_linear_learner_option_learns(optimizer, penalty, schedule):
    X, X_test, y, y_test = _split(load_breast_cancer)
    model = LinearLearnerClassifier(
        optimizer=optimizer,
        penalty=penalty,
        learning_rate=schedule,
        epochs=20,
        random_state=0,
    ).fit(X, y)
    assert accuracy_score(y_test, model.predict(X_test)) >= 0.93


def test_l1_zeroes_weights_and_l2_does_not():
    X, _, y, _ = _split(load_breast_cancer)
    lasso = LinearLearnerClassifier(penalty="l1", alpha=0.05, random_state=0).fit(X, y)
    ridge = LinearLearnerClassifier(penalty="l2", alpha=0.05, random_state=0).fit(X, y)
    assert np.sum(lasso.coef_ == 0) >= 5
    assert np.sum(ridge.coef_ == 0) == 0


@pytest.mark.parametrize("optimizer", ["minibatch", "sgd"])
def test_linear_learner_multiclass_and_regression(optimizer):
    X, X_test, y, y_test = _split(load_iris)
    model = LinearLearnerClassifier(optimizer=optimizer, random_state=0).fit(X, y)
    proba = model.predict_proba(X_test)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert accuracy_score(y_test, model.predict(X_test)) >= 0.9
    X, X_test, y, y_test = _split(load_diabetes, stratify=False)
    eta0 = 0.01 if optimizer == "sgd" else None
    regressor = LinearLearnerRegressor(optimizer=optimizer, eta0=eta0, random_state=0).fit(X, y)
    assert r2_score(y_test, regressor.predict(X_test)) >= 0.35


def test_mlp_takes_layer_sizes_as_text():
    X, X_test, y, y_test = _split(load_iris)
    model = NeuralNetworkClassifier(hidden_layer_sizes="16,8,4", epochs=200, random_state=0)
    model.fit(X, y)
    assert [w.shape for w in model.network_.coefs_] == [(4, 16), (16, 8), (8, 4), (4, 3)]
    assert accuracy_score(y_test, model.predict(X_test)) >= 0.9


def test_string_labels_round_trip():
    X, _, y, _ = _split(load_breast_cancer)
    labels = np.where(y == 1, "benign", "malignant")
    model = LinearLearnerClassifier(epochs=3, random_state=0).fit(
        X, labels, eval_set=(X[:50], labels[:50])
    )
    assert set(model.predict(X)) <= {"benign", "malignant"}
    assert list(model.classes_) == ["benign", "malignant"]


def test_divergence_is_reported_with_the_step_size_to_lower():
    X, _, y, _ = _split(load_diabetes, stratify=False)
    model = LinearLearnerRegressor(learning_rate="constant", eta0=50.0, random_state=0)
    with pytest.raises(ConfigError, match="linear_learner diverged.*Lower 'eta0'") as info:
        model.fit(X, y)
    assert info.value.code == "algorithm.diverged"


def test_wrong_feature_count_at_predict_time():
    X, _, y, _ = _split(load_breast_cancer)
    model = LinearLearnerClassifier(epochs=2, random_state=0).fit(X, y)
    with pytest.raises(ValueError, match="X has 3 features, but .* is expecting 30 features"):
        model.predict(X[:, :3])
