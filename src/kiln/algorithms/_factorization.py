"""Factorization machines (Rendle, 2010) in numpy, for binary classification and regression.

The model scores a row ``x`` as::

    y(x) = w0 + Σ_i w_i x_i + Σ_{i<j} <v_i, v_j> x_i x_j

where each feature ``i`` has a weight ``w_i`` and a latent vector ``v_i`` of ``num_factors``
numbers, so every pair of features interacts through the dot product of their vectors. The pair
sum is computed in O(k · nnz) time as ``½ Σ_f [(Σ_i v_if x_i)² − Σ_i v_if² x_i²]``, which makes
one-hot-encoded sparse input (scipy CSR, kept sparse end to end) cheap. Training minimises the
logistic loss (classification) or the squared loss on the standardised target (regression) plus
L2 penalties on ``w`` and ``V``, by mini-batch SGD or Adam.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit

from kiln.algorithms._epochs import FACTORIZATION_MACHINE_PARAMS
from kiln.algorithms._iterative import (
    EpochClassifierMixin,
    EpochRegressorMixin,
    EpochTrainedEstimator,
    squared,
)

__all__ = ["FactorizationMachineClassifier", "FactorizationMachineRegressor"]

_ADAM_BETA1, _ADAM_BETA2, _ADAM_EPSILON = 0.9, 0.999, 1e-8


class _FactorizationMachine(EpochTrainedEstimator):
    _algorithm = "factorization_machines"
    _schema = FACTORIZATION_MACHINE_PARAMS
    _step_param = "learning_rate"

    def __init__(
        self,
        *,
        num_factors: int = 8,
        optimizer: str = "adam",
        epochs: int = 50,
        batch_size: int = 128,
        learning_rate: float = 0.01,
        reg_linear: float = 1e-4,
        reg_factors: float = 1e-3,
        init_std: float = 0.01,
        early_stopping_rounds: int = 5,
        random_state: int | None = None,
    ):
        self.num_factors = num_factors
        self.optimizer = optimizer
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.reg_linear = reg_linear
        self.reg_factors = reg_factors
        self.init_std = init_std
        self.early_stopping_rounds = early_stopping_rounds
        self.random_state = random_state

    # -- training ---------------------------------------------------------------------------------
    def _initialize(self, hp, X, target, rng):
        n_features = X.shape[1]
        self.w0_ = 0.0
        if self._classifier:
            rate = np.clip(np.mean(target), 1e-6, 1 - 1e-6)
            self.w0_ = float(np.log(rate / (1 - rate)))
        self.w_ = np.zeros(n_features)
        self.V_ = rng.normal(0.0, hp["init_std"], size=(n_features, hp["num_factors"]))
        self._moments = None
        if hp["optimizer"] == "adam":
            self._moments = {
                "step": 0,
                "first": [0.0, np.zeros_like(self.w_), np.zeros_like(self.V_)],
                "second": [0.0, np.zeros_like(self.w_), np.zeros_like(self.V_)],
            }

    def _train_epoch(self, hp, X, target, rng):
        X_squared = squared(X)
        order = rng.permutation(X.shape[0])
        for start in range(0, len(order), hp["batch_size"]):
            rows = order[start : start + hp["batch_size"]]
            X_batch, X2_batch = X[rows], X_squared[rows]
            raw, XV = self._raw(X_batch, X2_batch)
            prediction = expit(raw) if self._classifier else raw
            # d(loss)/d(raw) is (prediction - target) for both the logistic and squared losses.
            slope = (prediction - target[rows]) / len(rows)
            gradients = [
                float(slope.sum()),
                np.asarray(X_batch.T @ slope) + hp["reg_linear"] * self.w_,
                np.asarray(X_batch.T @ (slope[:, None] * XV))
                - self.V_ * np.asarray(X2_batch.T @ slope)[:, None]
                + hp["reg_factors"] * self.V_,
            ]
            self._step(hp, gradients)

    def _step(self, hp, gradients: list) -> None:
        rate = hp["learning_rate"]
        if self._moments is None:
            updates = [rate * g for g in gradients]
        else:
            moments = self._moments
            moments["step"] += 1
            step = moments["step"]
            correction = np.sqrt(1 - _ADAM_BETA2**step) / (1 - _ADAM_BETA1**step)
            updates = []
            for i, gradient in enumerate(gradients):
                first = _ADAM_BETA1 * moments["first"][i] + (1 - _ADAM_BETA1) * gradient
                second = _ADAM_BETA2 * moments["second"][i] + (1 - _ADAM_BETA2) * gradient**2
                moments["first"][i], moments["second"][i] = first, second
                updates.append(rate * correction * first / (np.sqrt(second) + _ADAM_EPSILON))
        self.w0_ -= float(updates[0])
        self.w_ -= updates[1]
        self.V_ -= updates[2]

    def _raw(self, X, X_squared=None) -> tuple[np.ndarray, np.ndarray]:
        """The scores ``y(x)`` of the rows of ``X`` and ``X @ V`` (reused by the gradient)."""
        if X_squared is None:
            X_squared = squared(X)
        XV = np.asarray(X @ self.V_)
        pairs = 0.5 * np.sum(XV**2 - np.asarray(X_squared @ (self.V_**2)), axis=1)
        return self.w0_ + np.asarray(X @ self.w_).ravel() + pairs, XV

    def _state(self):
        return self.w0_, self.w_.copy(), self.V_.copy()

    def _restore(self, state):
        self.w0_, self.w_, self.V_ = state

    def _finish(self):
        del self._moments


class FactorizationMachineClassifier(EpochClassifierMixin, _FactorizationMachine):
    """Binary factorization machine (logistic loss); parameters of ``factorization_machines``.

    ``fit(X, y, eval_set=(X_val, y_val))`` takes dense arrays or scipy sparse matrices, records
    per-epoch ``train_loss_`` and ``validation_loss_`` (log loss) and keeps the best epoch.
    """

    _max_classes = 2

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        return tags

    def _scores(self, X) -> np.ndarray:
        positive = expit(self._raw(X)[0])
        return np.column_stack([1.0 - positive, positive])


class FactorizationMachineRegressor(EpochRegressorMixin, _FactorizationMachine):
    """Factorization machine regressor (squared loss on the standardised target)."""

    def _scores(self, X) -> np.ndarray:
        return self._raw(X)[0]
