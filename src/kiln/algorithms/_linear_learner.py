"""The linear learner: logistic (binary, softmax multiclass) or linear regression trained epoch
by epoch with stochastic gradient descent, so every epoch's training and validation loss is known.

Two optimizers:

- ``minibatch`` (numpy): each update steps along the gradient averaged over ``batch_size`` rows;
  L2 is part of the gradient, L1 a proximal (soft-threshold) step after it. Multiclass is a
  softmax model.
- ``sgd`` (scikit-learn's ``SGDClassifier`` / ``SGDRegressor``, one ``partial_fit`` per epoch on
  rows shuffled by kiln): one update per row. Multiclass is one-versus-rest.

Schedules, with ``t`` the number of rows seen so far (as scikit-learn counts): ``constant``
(eta0), ``optimal`` (``1 / (alpha * (t + t0))`` with scikit-learn's ``t0`` heuristic; meant for
classification), ``invscaling`` (``eta0 / (t + 1) ** power_t``) and ``adaptive`` (eta0, divided by
5 each time the training objective, loss plus penalty, has not improved for two epochs).

``eta0=None`` (the default) picks ``1 / L``, with ``L`` a bound on the curvature of the loss
(the mean squared row norm times 1/4 for logistic, 1/2 for softmax, 1 for squared loss): the
largest step that cannot diverge, whatever the number and scale of the features.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import expit, softmax

from kiln.algorithms._epochs import LINEAR_LEARNER_PARAMS
from kiln.algorithms._iterative import (
    EpochClassifierMixin,
    EpochRegressorMixin,
    EpochTrainedEstimator,
    squared,
)

__all__ = ["LinearLearnerClassifier", "LinearLearnerRegressor"]

_ADAPTIVE_PATIENCE = 2
_ADAPTIVE_FACTOR = 5.0
_ADAPTIVE_MIN_ETA = 1e-6


class _LinearLearner(EpochTrainedEstimator):
    _algorithm = "linear_learner"
    _schema = LINEAR_LEARNER_PARAMS
    _step_param = "eta0"

    def __init__(
        self,
        *,
        optimizer: str = "minibatch",
        batch_size: int = 32,
        epochs: int = 100,
        penalty: str = "l2",
        alpha: float = 1e-4,
        l1_ratio: float = 0.15,
        learning_rate: str = "adaptive",
        eta0: float | None = None,
        power_t: float = 0.25,
        early_stopping_rounds: int = 5,
        random_state: int | None = None,
    ):
        self.optimizer = optimizer
        self.batch_size = batch_size
        self.epochs = epochs
        self.penalty = penalty
        self.alpha = alpha
        self.l1_ratio = l1_ratio
        self.learning_rate = learning_rate
        self.eta0 = eta0
        self.power_t = power_t
        self.early_stopping_rounds = early_stopping_rounds
        self.random_state = random_state

    # -- shared -----------------------------------------------------------------------------------
    def _initialize(self, hp, X, target, rng):
        self.eta0_ = hp["eta0"] if hp["eta0"] is not None else self._safe_step_size(X)
        self.eta_ = self.eta0_
        self.stalled_epochs_ = 0
        self.best_objective_ = math.inf
        if hp["optimizer"] == "sgd":
            self.sgd_ = self._sklearn_sgd(hp, rng)
            self.coef_ = self.intercept_ = None
            self.t_ = 0
            return
        self.sgd_ = None
        n_outputs = len(self.classes_) if self._classifier and len(self.classes_) > 2 else 1
        self.coef_ = np.zeros((X.shape[1], n_outputs))
        self.intercept_ = np.zeros(n_outputs)
        if self._classifier:
            # Start from the class frequencies: the first epochs then fit the features.
            frequency = np.bincount(target, minlength=len(self.classes_)) / len(target)
            logits = np.log(np.clip(frequency, 1e-12, None))
            self.intercept_[:] = logits[1] - logits[0] if n_outputs == 1 else logits
        self.t_ = 0

    def _train_epoch(self, hp, X, target, rng):
        order = rng.permutation(X.shape[0])
        if self.sgd_ is not None:
            self.sgd_.eta0 = self.eta_
            extra = {"classes": np.arange(len(self.classes_))} if self._classifier else {}
            self.sgd_.partial_fit(X[order], target[order], **extra)
            self.t_ = int(self.sgd_.t_ - 1)
            return
        l1, l2 = _penalty_split(hp)
        n_outputs = self.coef_.shape[1]
        outputs = np.eye(n_outputs)[target] if n_outputs > 1 else target[:, None]
        for start in range(0, len(order), hp["batch_size"]):
            rows = order[start : start + hp["batch_size"]]
            X_batch = X[rows]
            residual = self._link(X_batch @ self.coef_ + self.intercept_) - outputs[rows]
            residual /= len(rows)
            eta = self._step_size(hp)
            self.t_ += len(rows)
            gradient = X_batch.T @ residual
            if l2:
                gradient += l2 * self.coef_
            self.coef_ -= eta * np.asarray(gradient)
            self.intercept_ -= eta * residual.sum(axis=0)
            if l1:
                self.coef_ = np.sign(self.coef_) * np.maximum(np.abs(self.coef_) - eta * l1, 0.0)

    def _end_epoch(self, hp):
        if hp["learning_rate"] != "adaptive":
            return
        # Progress is judged on the objective SGD minimises: the loss plus the penalty.
        objective = self._objective(hp)
        if objective < self.best_objective_ - 1e-4 * abs(objective):
            self.best_objective_ = objective
            self.stalled_epochs_ = 0
            return
        self.stalled_epochs_ += 1
        if self.stalled_epochs_ >= _ADAPTIVE_PATIENCE and self.eta_ > _ADAPTIVE_MIN_ETA:
            self.eta_ /= _ADAPTIVE_FACTOR
            self.stalled_epochs_ = 0

    def _objective(self, hp) -> float:
        loss = self.train_loss_[-1]
        if not self._classifier:  # the squared loss ½(z - y)² on the standardised target
            loss = 0.5 * loss / self.target_scale_**2
        model = self.sgd_ if self.sgd_ is not None else self
        l1, l2 = _penalty_split(hp)
        return loss + l1 * np.abs(model.coef_).sum() + 0.5 * l2 * np.square(model.coef_).sum()

    def _step_size(self, hp) -> float:
        schedule = hp["learning_rate"]
        if schedule == "optimal":
            t0 = _optimal_t0(hp["alpha"], classifier=self._classifier)
            return 1.0 / (hp["alpha"] * (t0 + self.t_))
        if schedule == "invscaling":
            return self.eta0_ / (self.t_ + 1) ** hp["power_t"]
        return self.eta_

    def _safe_step_size(self, X) -> float:
        """1 / L, with L a bound on the loss's curvature: the mean squared row norm times the
        largest second derivative of the loss (1/4 logistic, 1/2 softmax, 1 squared)."""
        mean_squared_norm = float(squared(X).sum()) / X.shape[0] + 1.0  # + 1: the intercept
        curvature = 1.0
        if self._classifier:
            curvature = 0.25 if len(self.classes_) == 2 else 0.5
        return 1.0 / (curvature * mean_squared_norm)

    def _linear(self, X) -> np.ndarray:
        return np.asarray(X @ self.coef_) + self.intercept_

    def _state(self):
        model = self.sgd_ if self.sgd_ is not None else self
        return model.coef_.copy(), model.intercept_.copy()

    def _restore(self, state):
        model = self.sgd_ if self.sgd_ is not None else self
        model.coef_, model.intercept_ = state

    def _sklearn_sgd(self, hp, rng):
        from sklearn import linear_model

        schedule = "constant" if hp["learning_rate"] == "adaptive" else hp["learning_rate"]
        common = dict(
            penalty=None if hp["penalty"] == "none" else hp["penalty"],
            alpha=hp["alpha"],
            l1_ratio=hp["l1_ratio"],
            learning_rate=schedule,
            eta0=self.eta0_,
            power_t=hp["power_t"],
            shuffle=False,  # kiln shuffles each epoch; partial_fit would reuse one order
            random_state=int(rng.integers(2**31 - 1)),
        )
        if self._classifier:
            return linear_model.SGDClassifier(loss="log_loss", **common)
        return linear_model.SGDRegressor(loss="squared_error", **common)


class LinearLearnerClassifier(EpochClassifierMixin, _LinearLearner):
    """Logistic regression (softmax for 3+ classes with ``minibatch``) trained by SGD.

    Parameters are those of the ``linear_learner`` algorithm (``kiln algorithms show
    linear_learner``); ``fit(X, y, eval_set=(X_val, y_val))`` records per-epoch ``train_loss_``
    and ``validation_loss_`` (log loss) and keeps the best epoch's weights.
    """

    def _link(self, z: np.ndarray) -> np.ndarray:
        return expit(z) if z.shape[1] == 1 else softmax(z, axis=1)

    def _scores(self, X) -> np.ndarray:
        if self.sgd_ is not None:
            return self.sgd_.predict_proba(X)
        z = self._linear(X)
        if z.shape[1] == 1:
            positive = expit(z[:, 0])
            return np.column_stack([1.0 - positive, positive])
        return softmax(z, axis=1)


class LinearLearnerRegressor(EpochRegressorMixin, _LinearLearner):
    """Linear regression trained by SGD on the standardised target (squared loss).

    ``fit(X, y, eval_set=(X_val, y_val))`` records per-epoch ``train_loss_`` and
    ``validation_loss_`` (mean squared error in the target's units) and keeps the best epoch.
    """

    def _link(self, z: np.ndarray) -> np.ndarray:
        return z

    def _scores(self, X) -> np.ndarray:
        if self.sgd_ is not None:
            return self.sgd_.predict(X)
        return self._linear(X)[:, 0]


def _penalty_split(hp: dict) -> tuple[float, float]:
    """(L1, L2) strengths of the penalty ``alpha * (l1_ratio |w| + (1 - l1_ratio) w² / 2)``."""
    share = {"l2": 0.0, "l1": 1.0, "elasticnet": hp["l1_ratio"], "none": None}[hp["penalty"]]
    if share is None:
        return 0.0, 0.0
    return hp["alpha"] * share, hp["alpha"] * (1.0 - share)


def _optimal_t0(alpha: float, *, classifier: bool) -> float:
    """scikit-learn's heuristic offset of the 'optimal' schedule (Léon Bottou's SGD code)."""
    typical_weight = math.sqrt(1.0 / math.sqrt(alpha))
    # |derivative of the loss| at margin -typical_weight for the label 1.
    slope = expit(typical_weight) if classifier else typical_weight + 1.0
    initial_eta = typical_weight / max(1.0, slope)
    return 1.0 / (initial_eta * alpha)
