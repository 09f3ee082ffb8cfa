"""What an algorithm is (``Algorithm``, with its ``AutoMLHints``), the registry of them, and the
helpers every family shares."""

from __future__ import annotations

import difflib
import math
import numbers
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kiln.algorithms._custom import custom_algorithm, is_import_path
from kiln.algorithms._params import Param, validate_hyperparameters
from kiln.errors import ConfigError

INF = math.inf
# The hyperparameters of a text model's vectoriser: the recipe takes them, not the estimator.
TEXT_VECTORISER_PARAMS = ("ngram_max", "min_document_frequency", "vocabulary_size")

# Shared by the classifiers that can re-weight classes.
CLASS_WEIGHT = Param(
    "class_weight",
    "choice",
    "none",
    "balanced re-weights classes by inverse frequency",
    choices=("none", "balanced"),
)


def default_threads() -> int:
    """The cores this process may use (its CPU affinity, e.g. under taskset or a container
    limit), not all the machine's."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class AutoMLHints:
    """How AutoML searches an algorithm; an algorithm without hints is no AutoML candidate.

    ``order``: candidates' first (default-settings) trials run in increasing order, cheap and
    strong first. ``first_trial_cost``: that trial's time estimate relative to the slowest trial
    seen so far. ``portfolio``: known-good hyperparameters tried after the default, before Optuna's
    TPE proposes. ``shap``: how the explanation computes its SHAP values: ``"native"`` (the
    booster's own contributions), ``"tree"`` (shap.TreeExplainer, slow on deep forests) or None.
    ``floor``: its default-settings trial is one a user would try first by hand; AutoML runs
    every floor trial before any other, on the same folds, so its chosen model is never worse
    out of fold than the best of them. Whether it needs scaled inputs is the algorithm's
    ``scale_numeric``.
    """

    order: int
    first_trial_cost: float = 1.0
    portfolio: tuple[dict[str, Any], ...] = ()
    shap: str | None = None
    floor: bool = False


@dataclass(frozen=True)
class Algorithm:
    """A built-in algorithm: its hyperparameter schema and how to build the estimator."""

    name: str
    summary: str
    problem_types: tuple[str, ...]
    params: list[Param]
    build: Callable[[str, dict, int], Any]
    scale_numeric: bool = False
    # One-hot columns stay a scipy sparse matrix (for models built for sparse input).
    sparse_input: bool = False
    # The estimator refuses a sparse matrix, so text columns' TF-IDF blocks are no input for it.
    dense_input_only: bool = False
    # Reads the data set's text columns (TF-IDF / counts) instead of the tabular recipe.
    text_input: bool = False
    # Reads per-iteration losses off a fitted estimator: {metric name: [values by iteration]}.
    iteration_metrics: Callable[[Any], dict[str, list[float]]] | None = None
    # Extra fit() arguments given the training and validation (X, y) pairs, e.g. eval_set.
    fit_options: Callable[[dict, tuple, tuple], dict] | None = None
    # The hyperparameter counting boosting rounds or epochs: a cross-validated model is refit with
    # the folds' mean best iteration (from early stopping) in it.
    iterations_param: str = "n_estimators"
    # The best iteration of a fitted estimator, counted from 1 (None: no early stopping took place).
    best_iteration: Callable[[Any], int | None] | None = None
    aliases: tuple[str, ...] = field(default=())
    # The default search space of a tuning job, as --range texts (see kiln.tuning): where good
    # values usually are, much narrower than what is valid.
    tuning_ranges: tuple[str, ...] = field(default=())
    # How AutoML searches it (None: AutoML does not).
    automl: AutoMLHints | None = None

    def build_estimator(self, problem_type: str, hp: dict[str, Any], seed: int) -> Any:
        """The estimator for hyperparameters ``hp``, less those of the text vectoriser (which the
        recipe consumes); training and the report's refits build it this one way."""
        if self.text_input:
            hp = {k: v for k, v in hp.items() if k not in TEXT_VECTORISER_PARAMS}
        return self.build(problem_type, hp, seed)

    def hyperparameters(self, given: dict[str, Any] | None = None) -> dict[str, Any]:
        return validate_hyperparameters(self.name, self.params, given or {})

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "summary": self.summary,
            "problem_types": list(self.problem_types),
            "hyperparameters": [p.to_dict() for p in self.params],
        }


# The registry: name → Algorithm, in the order `kiln algorithms list` shows them.
ALGORITHMS: dict[str, Algorithm] = {}


def register_algorithm(algorithm: Algorithm) -> Algorithm:
    """Add an algorithm to the catalog (a new name; aliases must not clash either)."""
    taken = {n for a in ALGORITHMS.values() for n in (a.name, *a.aliases)}
    clash = {algorithm.name, *algorithm.aliases} & taken
    if clash:
        raise ConfigError(
            f"An algorithm named {sorted(clash)[0]!r} is registered already.",
            code="algorithm.duplicate",
        )
    ALGORITHMS[algorithm.name] = algorithm
    return algorithm


def get_algorithm(name: str) -> Algorithm:
    """A built-in algorithm by name, or a custom estimator by import path (``pkg.mod:Class``)."""
    if name in ALGORITHMS:
        return ALGORITHMS[name]
    if is_import_path(name):
        return custom_algorithm(name)
    close = difflib.get_close_matches(name, list(ALGORITHMS), n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise ConfigError(
        f"Unknown algorithm {name!r}.{hint} Built-in algorithms: {', '.join(ALGORITHMS)}; or a "
        "scikit-learn-compatible class by import path, 'package.module:ClassName'.",
        code="algorithm.unknown",
        field="algorithm",
    )


def best_iteration(algorithm: Algorithm | None, estimator) -> int | None:
    """The iteration early stopping kept, counted from 1 (None without early stopping).

    The algorithm's own reader when it has one (CatBoost counts from 0, kiln's epoch models keep
    ``best_iteration_``); otherwise the scikit-learn-style attributes. ``algorithm`` may be None
    for a model kiln did not build from its catalog.
    """
    if algorithm is not None and algorithm.best_iteration is not None:
        return algorithm.best_iteration(estimator)
    for name in ("best_iteration_", "best_iteration"):
        try:
            value = getattr(estimator, name, None)
        except (AttributeError, ValueError):
            value = None
        if isinstance(value, numbers.Integral) and value > 0:
            return int(value) + (1 if name == "best_iteration" else 0)
    return None
