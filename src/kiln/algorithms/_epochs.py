"""kiln's epoch-trained models: the linear learner, the multilayer perceptron and factorization
machines (their estimators live in _linear_learner, _neural and _factorization)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kiln.algorithms._algorithm import (
    Algorithm,
    AutoMLHints,
)
from kiln.algorithms._params import Param
from kiln.problems import BINARY, PROBLEM_TYPES, REGRESSION


# -- epoch-trained models: linear learner, multilayer perceptron, factorization machines -------
def _early_stopping(unit: str, default: int) -> Param:
    return Param(
        "early_stopping_rounds",
        "int",
        default,
        f"stop when the validation loss has not improved for this many {unit} (0: off)",
        0,
        10000,
    )


LINEAR_LEARNER_PARAMS = [
    Param(
        "optimizer",
        "choice",
        "minibatch",
        "minibatch: each step averages batch_size rows; sgd: one step per row (scikit-learn SGD)",
        choices=("minibatch", "sgd"),
    ),
    Param("batch_size", "int", 32, "rows per step of the minibatch optimizer", 1, 100000),
    Param("epochs", "int", 100, "passes over the training rows", 1, 10000),
    Param(
        "penalty",
        "choice",
        "l2",
        "regularisation: l2 (ridge), l1 (lasso), elasticnet or none",
        choices=("l2", "l1", "elasticnet", "none"),
    ),
    Param("alpha", "float", 1e-4, "regularisation strength (larger: simpler model)", 1e-10, 1e3),
    Param("l1_ratio", "float", 0.15, "share of L1 in elasticnet", 0.0, 1.0),
    Param(
        "learning_rate",
        "choice",
        "adaptive",
        "step-size schedule (t: rows seen): constant (eta0), optimal (1 / (alpha·(t + t0))), "
        "invscaling (eta0 / (t + 1)^power_t) or adaptive (eta0, divided by 5 whenever the "
        "training objective stalls for 2 epochs)",
        choices=("constant", "optimal", "invscaling", "adaptive"),
    ),
    Param(
        "eta0",
        "float",
        None,
        "initial step size for constant, invscaling and adaptive (none: 1 / the loss's "
        "curvature bound from the mean squared row norm)",
        1e-6,
        100.0,
        nullable=True,
    ),
    Param("power_t", "float", 0.25, "exponent of the invscaling schedule", 0.0, 5.0),
    _early_stopping("epochs", 5),
]


MLP_PARAMS = [
    Param(
        "hidden_layer_sizes",
        "int_list",
        "64,32",
        "neurons in each hidden layer, first to last",
        1,
        4096,
    ),
    Param(
        "activation",
        "choice",
        "relu",
        "activation of the hidden layers",
        choices=("relu", "tanh", "logistic"),
    ),
    Param("alpha", "float", 1e-3, "L2 penalty on the weights", 0.0, 1e3),
    Param("learning_rate_init", "float", 1e-3, "Adam step size", 1e-6, 1.0),
    Param("batch_size", "int", 64, "rows per Adam step", 1, 100000),
    Param("epochs", "int", 100, "passes over the training rows", 1, 10000),
    _early_stopping("epochs", 10),
]


FACTORIZATION_MACHINE_PARAMS = [
    Param("num_factors", "int", 8, "length of each feature's latent vector", 1, 1024),
    Param(
        "optimizer",
        "choice",
        "adam",
        "adam, or sgd (plain mini-batch gradient steps)",
        choices=("adam", "sgd"),
    ),
    Param("epochs", "int", 50, "passes over the training rows", 1, 10000),
    Param("batch_size", "int", 128, "rows per step", 1, 100000),
    Param("learning_rate", "float", 0.01, "step size", 1e-6, 10.0),
    Param("reg_linear", "float", 1e-4, "L2 penalty on the linear weights", 0.0, 1e3),
    Param("reg_factors", "float", 1e-3, "L2 penalty on the latent vectors", 0.0, 1e3),
    Param("init_std", "float", 0.01, "standard deviation of the initial latent vectors", 1e-6, 1.0),
    _early_stopping("epochs", 5),
]


def _kiln_estimator(module: str, prefix: str) -> Callable[[str, dict, int], Any]:
    """The build function of one of kiln's own estimator pairs (``<prefix>Classifier`` and
    ``<prefix>Regressor`` in ``kiln.algorithms.<module>``), imported on first use."""

    def build(problem_type: str, hp: dict, seed: int):
        import importlib

        estimators = importlib.import_module(f"kiln.algorithms.{module}")
        kind = "Regressor" if problem_type == REGRESSION else "Classifier"
        return getattr(estimators, f"{prefix}{kind}")(random_state=seed, **hp)

    return build


def _epoch_fit_options(hp: dict, train: tuple, validation: tuple) -> dict:
    return {"eval_set": validation}


def _epoch_curves(estimator) -> dict[str, list[float]]:
    return estimator.iteration_metrics()


def _epoch_best_iteration(estimator) -> int | None:
    return estimator.best_iteration_


# The catalog entries of this family (kiln.algorithms._catalog collects them).
ALGORITHMS: list[Algorithm] = [
    Algorithm(
        "linear_learner",
        "Logistic / linear regression trained by SGD or mini-batch SGD, epoch by epoch",
        PROBLEM_TYPES,
        LINEAR_LEARNER_PARAMS,
        _kiln_estimator("_linear_learner", "LinearLearner"),
        scale_numeric=True,
        iteration_metrics=_epoch_curves,
        fit_options=_epoch_fit_options,
        iterations_param="epochs",
        best_iteration=_epoch_best_iteration,
        tuning_ranges=("alpha=0.000001:1:log", "l1_ratio=0:1", "batch_size=16:512:log"),
    ),
    Algorithm(
        "mlp",
        "Multilayer perceptron (Adam) trained epoch by epoch, early stopping on validation",
        PROBLEM_TYPES,
        MLP_PARAMS,
        _kiln_estimator("_neural", "NeuralNetwork"),
        scale_numeric=True,
        iteration_metrics=_epoch_curves,
        fit_options=_epoch_fit_options,
        iterations_param="epochs",
        best_iteration=_epoch_best_iteration,
        tuning_ranges=(
            "alpha=0.000001:0.1:log",
            "learning_rate_init=0.0001:0.03:log",
            "batch_size=16:256:log",
            "activation=relu,tanh",
        ),
        automl=AutoMLHints(order=7, first_trial_cost=1.5),
    ),
    Algorithm(
        "factorization_machines",
        "Factorization machine (pairwise interactions through latent vectors) on sparse input",
        (BINARY, REGRESSION),
        FACTORIZATION_MACHINE_PARAMS,
        _kiln_estimator("_factorization", "FactorizationMachine"),
        scale_numeric=True,
        sparse_input=True,
        iteration_metrics=_epoch_curves,
        fit_options=_epoch_fit_options,
        iterations_param="epochs",
        best_iteration=_epoch_best_iteration,
        tuning_ranges=(
            "num_factors=2:64:log",
            "learning_rate=0.0005:0.1:log",
            "reg_factors=0.000001:0.1:log",
        ),
    ),
]
