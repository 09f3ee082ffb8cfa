"""The multilayer perceptron: scikit-learn's MLP (Adam) trained one ``partial_fit`` epoch at a
time, so every epoch's training and validation loss is logged and early stopping uses kiln's
validation split, not a slice of the training rows."""

from __future__ import annotations

import numpy as np

from kiln.algorithms._epochs import MLP_PARAMS
from kiln.algorithms._iterative import (
    EpochClassifierMixin,
    EpochRegressorMixin,
    EpochTrainedEstimator,
)

__all__ = ["NeuralNetworkClassifier", "NeuralNetworkRegressor"]


class _NeuralNetwork(EpochTrainedEstimator):
    _algorithm = "mlp"
    _schema = MLP_PARAMS
    _step_param = "learning_rate_init"

    def __init__(
        self,
        *,
        hidden_layer_sizes: str = "64,32",
        activation: str = "relu",
        alpha: float = 1e-3,
        learning_rate_init: float = 1e-3,
        batch_size: int = 64,
        epochs: int = 100,
        early_stopping_rounds: int = 10,
        random_state: int | None = None,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.alpha = alpha
        self.learning_rate_init = learning_rate_init
        self.batch_size = batch_size
        self.epochs = epochs
        self.early_stopping_rounds = early_stopping_rounds
        self.random_state = random_state

    def _initialize(self, hp, X, target, rng):
        from sklearn import neural_network

        network = neural_network.MLPClassifier if self._classifier else neural_network.MLPRegressor
        self.network_ = network(
            hidden_layer_sizes=tuple(int(n) for n in hp["hidden_layer_sizes"].split(",")),
            activation=hp["activation"],
            solver="adam",
            alpha=hp["alpha"],
            learning_rate_init=hp["learning_rate_init"],
            batch_size=min(hp["batch_size"], X.shape[0]),
            shuffle=False,  # kiln shuffles each epoch; partial_fit would reuse one order
            random_state=int(rng.integers(2**31 - 1)),
        )

    def _train_epoch(self, hp, X, target, rng):
        order = rng.permutation(X.shape[0])
        extra = {"classes": np.arange(len(self.classes_))} if self._classifier else {}
        self.network_.partial_fit(X[order], target[order], **extra)

    def _scores(self, X) -> np.ndarray:
        if self._classifier:
            return self.network_.predict_proba(X)
        return self.network_.predict(X)

    def _state(self):
        return (
            [w.copy() for w in self.network_.coefs_],
            [b.copy() for b in self.network_.intercepts_],
        )

    def _restore(self, state):
        self.network_.coefs_, self.network_.intercepts_ = state


class NeuralNetworkClassifier(EpochClassifierMixin, _NeuralNetwork):
    """Multilayer perceptron classifier (log loss), parameters of the ``mlp`` algorithm.

    ``fit(X, y, eval_set=(X_val, y_val))`` records per-epoch ``train_loss_`` and
    ``validation_loss_`` and keeps the best epoch's weights.
    """


class NeuralNetworkRegressor(EpochRegressorMixin, _NeuralNetwork):
    """Multilayer perceptron regressor (squared loss on the standardised target)."""
