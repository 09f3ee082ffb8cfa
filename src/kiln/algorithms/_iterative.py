"""The base of kiln's own epoch-trained estimators (linear learner, neural network, factorization
machine): hyperparameter checks against the catalog schema, target encoding, per-epoch training
and validation loss, early stopping that keeps the best epoch's weights.

A subclass implements five hooks; ``fit`` calls them in this order:

- ``_initialize(hp, X, target, rng)``: create the weights (``target`` is class indices for a
  classifier, the standardised values for a regressor);
- ``_train_epoch(hp, X, target, rng)``: one pass over the training rows;
- ``_scores(X)``: class probabilities (classifier) or standardised predictions (regressor), also
  used by ``predict_proba`` / ``predict``;
- ``_state()`` / ``_restore(state)``: a copy of the weights, and putting one back.

``_end_epoch(hp)`` (after each epoch's training loss) and ``_finish()`` (end of ``fit``) are
optional.
"""

from __future__ import annotations

import math
import time
from abc import ABCMeta, abstractmethod
from typing import Any, ClassVar

import numpy as np
from scipy import sparse
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_array, check_is_fitted, check_X_y

from kiln.algorithms._params import Param
from kiln.errors import ConfigError

_PROBABILITY_FLOOR = 1e-15
# A validation loss must beat the best so far by this relative margin to count as progress.
_MIN_IMPROVEMENT = 1e-6


def log_loss(target: np.ndarray, proba: np.ndarray) -> float:
    """Mean negative log-likelihood of the class indices ``target`` under ``proba``."""
    picked = proba[np.arange(len(target)), target]
    return float(-np.mean(np.log(np.clip(picked, _PROBABILITY_FLOOR, 1.0))))


def squared(X: Any) -> Any:
    """Element-wise square of a dense array or a sparse matrix."""
    return X.multiply(X).tocsr() if sparse.issparse(X) else X * X


class EpochTrainedEstimator(BaseEstimator, metaclass=ABCMeta):
    """Shared ``fit`` of the estimators kiln trains epoch by epoch.

    ``fit(X, y, eval_set=(X_val, y_val))`` records ``train_loss_`` and ``validation_loss_`` (log
    loss for classifiers, mean squared error in the target's units for regressors) after every
    epoch, stops when the validation loss has not improved for ``early_stopping_rounds`` epochs,
    and keeps the weights of the epoch with the lowest validation loss (``best_iteration_``,
    counted from 1). Without ``eval_set`` it trains for ``epochs`` epochs.
    """

    # The catalog name and hyperparameter schema, for uniform error messages.
    _algorithm: ClassVar[str]
    _schema: ClassVar[list[Param]]
    _step_param: ClassVar[str]  # the step-size hyperparameter, named when training diverges
    _classifier: ClassVar[bool]
    _max_classes: ClassVar[int | None] = None

    def fit(self, X, y, eval_set: tuple | None = None, deadline: float | None = None):
        """Train on ``(X, y)``; ``eval_set`` is one ``(X, y)`` pair for the validation loss.
        Training ends after the epoch that passes ``deadline`` (``time.time()``; AutoML's time
        limit), keeping the best epoch so far."""
        hp = self._hyperparameters()
        X, y = check_X_y(X, y, accept_sparse="csr", dtype=np.float64, y_numeric=False)
        self.n_features_in_ = X.shape[1]
        target = self._encode_target(y, fitting=True)
        validation = None
        if eval_set is not None:
            X_val, y_val = eval_set
            X_val = self._check_X(X_val)
            validation = (X_val, self._encode_target(np.asarray(y_val), fitting=False))
        rng = np.random.default_rng(self.random_state)
        self._initialize(hp, X, target, rng)
        self.train_loss_: list[float] = []
        self.validation_loss_: list[float] = []
        self.best_iteration_: int | None = None
        best_loss, best_state, waited = math.inf, None, 0
        patience = hp.get("early_stopping_rounds", 0)
        # A diverging run overflows; the finiteness check reports it in kiln's words instead.
        with np.errstate(over="ignore", invalid="ignore"):
            for epoch in range(1, hp["epochs"] + 1):
                self._train_epoch(hp, X, target, rng)
                self.train_loss_.append(self._loss(X, target))
                self._check_finite(self.train_loss_[-1], epoch)
                self._end_epoch(hp)
                past_deadline = deadline is not None and time.time() > deadline
                if validation is None:
                    if past_deadline:
                        break
                    continue
                loss = self._loss(*validation)
                self.validation_loss_.append(loss)
                if best_state is None or loss < best_loss - _MIN_IMPROVEMENT * abs(best_loss):
                    best_loss, best_state, waited = loss, self._state(), 0
                    self.best_iteration_ = epoch
                else:
                    waited += 1
                    if patience and waited >= patience:
                        break
                if past_deadline:
                    break
        self.n_iter_ = len(self.train_loss_)
        if best_state is not None:
            self._restore(best_state)
        self._finish()
        return self

    @property
    def loss_name(self) -> str:
        """The loss of the learning curves: ``log_loss`` or ``mse``."""
        return "log_loss" if self._classifier else "mse"

    def iteration_metrics(self) -> dict[str, list[float]]:
        """Per-epoch losses, named like ``train_log_loss`` and ``validation_log_loss``."""
        check_is_fitted(self, "train_loss_")
        out = {f"train_{self.loss_name}": list(self.train_loss_)}
        if self.validation_loss_:
            out[f"validation_{self.loss_name}"] = list(self.validation_loss_)
        return out

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags

    # -- internals --------------------------------------------------------------------------------
    def _check_X(self, X) -> Any:
        """``X`` as a float64 CSR matrix or dense array with the fitted number of columns."""
        X = check_array(X, accept_sparse="csr", dtype=np.float64)
        if X.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {X.shape[1]} features, but {type(self).__name__} is expecting "
                f"{self.n_features_in_} features as input."
            )
        return X

    def _hyperparameters(self) -> dict[str, Any]:
        params = self.get_params(deep=False)
        return {p.name: p.parse(params[p.name], algorithm=self._algorithm) for p in self._schema}

    def _encode_target(self, y: np.ndarray, *, fitting: bool) -> np.ndarray:
        if self._classifier:
            if fitting:
                check_classification_targets(y)
                self.classes_, indices = np.unique(y, return_inverse=True)
                if len(self.classes_) < 2:
                    raise ValueError(
                        f"{type(self).__name__} needs at least 2 classes in y; got "
                        f"{len(self.classes_)} class."
                    )
                if self._max_classes is not None and len(self.classes_) > self._max_classes:
                    raise ValueError(
                        f"Only binary classification is supported. {type(self).__name__} got "
                        f"{len(self.classes_)} classes."
                    )
                return indices
            indices = np.searchsorted(self.classes_, y)
            indices = np.clip(indices, 0, len(self.classes_) - 1)
            if not np.all(self.classes_[indices] == y):
                raise ValueError("The validation target has classes not seen in training.")
            return indices
        y = np.asarray(y, dtype=np.float64)
        if fitting:
            self.target_mean_ = float(np.mean(y))
            self.target_scale_ = float(np.std(y)) or 1.0
        return (y - self.target_mean_) / self.target_scale_

    def _loss(self, X, target: np.ndarray) -> float:
        scores = self._scores(X)
        if self._classifier:
            return log_loss(target, scores)
        return float(np.mean((scores - target) ** 2) * self.target_scale_**2)

    def _check_finite(self, loss: float, epoch: int) -> None:
        if not math.isfinite(loss):
            raise ConfigError(
                f"{self._algorithm} diverged: the training loss is {loss} after epoch {epoch}. "
                f"Lower {self._step_param!r} or raise the regularisation.",
                code="algorithm.diverged",
            )

    def _end_epoch(self, hp: dict) -> None:
        """Called after each epoch's training loss is recorded (e.g. to adapt the step size)."""

    def _finish(self) -> None:
        """Called at the end of ``fit``: drop what only training needs (optimizer moments)."""

    @abstractmethod
    def _initialize(self, hp: dict, X, target: np.ndarray, rng: np.random.Generator) -> None:
        """Create the model's parameters before the first epoch."""

    @abstractmethod
    def _train_epoch(self, hp: dict, X, target: np.ndarray, rng: np.random.Generator) -> None:
        """One pass over the training rows."""

    @abstractmethod
    def _scores(self, X) -> np.ndarray:
        """Raw model outputs for rows ``X`` (probabilities or values)."""

    @abstractmethod
    def _state(self) -> Any:
        """A copy of the learned parameters (to keep the best epoch)."""

    @abstractmethod
    def _restore(self, state: Any) -> None:
        """Put back parameters saved by ``_state``."""


class EpochClassifierMixin(ClassifierMixin):
    """``predict_proba`` and ``predict`` for an :class:`EpochTrainedEstimator` classifier."""

    _classifier = True

    def predict_proba(self, X) -> np.ndarray:
        check_is_fitted(self, "classes_")
        return self._scores(self._check_X(X))

    def predict(self, X) -> np.ndarray:
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]


class EpochRegressorMixin(RegressorMixin):
    """``predict`` for an :class:`EpochTrainedEstimator` regressor."""

    _classifier = False

    def predict(self, X) -> np.ndarray:
        check_is_fitted(self, "target_mean_")
        scores = self._scores(self._check_X(X))
        return scores * self.target_scale_ + self.target_mean_
