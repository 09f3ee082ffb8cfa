"""The AutoML ensemble: greedy ensemble selection over out-of-fold predictions, and the fitted
estimator that averages its members.

Ensemble selection (Caruana et al., "Ensemble selection from libraries of models", ICML 2004) is
written here because neither scikit-learn nor Optuna has it: scikit-learn's Voting and Stacking
estimators refit their members, and AutoML already holds each candidate's fold models and
out-of-fold predictions.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from kiln.algorithms import REGRESSION
from kiln.registry import set_estimator_threads

SELECTION_ROUNDS = 40


def select_ensemble(
    predictions: list[np.ndarray],
    loss: Callable[[np.ndarray], float],
    *,
    rounds: int = SELECTION_ROUNDS,
) -> tuple[list[float], float]:
    """Weights (summing to 1) of the average of ``predictions`` with the lowest ``loss``.

    Greedy forward selection with replacement, starting from the best single candidate; the
    weights are how often each was picked, at the round with the lowest loss.
    """
    count = len(predictions)
    single = [loss(p) for p in predictions]
    first = int(np.argmin(single))
    picks = np.zeros(count)
    picks[first] = 1
    total = predictions[first].astype(float).copy()
    best_loss, best_picks = single[first], picks.copy()
    for step in range(2, rounds + 1):
        trial_losses = [loss((total + p) / step) for p in predictions]
        chosen = int(np.argmin(trial_losses))
        total += predictions[chosen]
        picks[chosen] += 1
        if trial_losses[chosen] < best_loss - 1e-12:
            best_loss, best_picks = trial_losses[chosen], picks.copy()
    weights = best_picks / best_picks.sum()
    return [float(w) for w in weights], float(best_loss)


class BaggedMember:
    """One candidate: its fold pipelines (recipe + estimator each), predicting their mean."""

    def __init__(self, name: str, pipelines: list, problem_type: str, n_classes: int = 0):
        self.name = name
        self.pipelines = pipelines
        self.problem_type = problem_type
        self.n_classes = n_classes

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Class probabilities (classification) or values (regression), averaged over folds."""
        if self.problem_type == REGRESSION:
            outs = [np.asarray(p.predict(X), dtype=float) for p in self.pipelines]
        else:
            outs = [full_proba(p, X, self.n_classes) for p in self.pipelines]
        return np.mean(outs, axis=0)


def full_proba(pipeline, X: pd.DataFrame, n_classes: int) -> np.ndarray:
    """Probabilities with a column for every class (encoded 0..n-1), zero for classes the model
    never saw: a fold of a rare class can lack it."""
    proba = np.asarray(pipeline.predict_proba(X), dtype=float)
    if not n_classes or proba.shape[1] == n_classes:
        return proba
    seen = np.asarray(pipeline[-1].classes_, dtype=int)
    out = np.zeros((proba.shape[0], n_classes))
    out[:, seen] = proba
    return out


class WeightedEnsemble(BaseEstimator):
    """The weighted average of bagged members; takes the raw input columns (each member runs its
    own recipe)."""

    def __init__(self, members: list[BaggedMember], weights: list[float], problem_type: str):
        self.members = members
        self.weights = weights
        self.problem_type = problem_type

    def fit(self, X=None, y=None):
        """Nothing to fit: the members were fit by the search (scikit-learn asks for the
        method)."""
        return self

    def __sklearn_is_fitted__(self) -> bool:
        return True

    def _average(self, X: pd.DataFrame) -> np.ndarray:
        total = None
        for member, weight in zip(self.members, self.weights, strict=True):
            part = weight * member.predict(X)
            total = part if total is None else total + part
        return total

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        proba = self._average(X)
        return proba / proba.sum(axis=1, keepdims=True)

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        if self.problem_type == REGRESSION:
            return self._average(X)
        return self.predict_proba(X).argmax(axis=1)

    def set_threads(self, threads: int) -> None:
        for member in self.members:
            for pipeline in member.pipelines:
                set_estimator_threads(pipeline[-1], threads)


def share_identical_steps(members: list[BaggedMember]) -> int:
    """Make members' fitted preprocessing steps that are identical (the same recipe fitted on the
    same rows: one fold, or all rows, of two candidates) one object, so that the stored model
    holds one copy (pickle writes a shared object once). Returns how many copies were dropped."""
    import hashlib
    import pickle

    seen: dict[bytes, object] = {}
    dropped = 0
    for member in members:
        for pipeline in member.pipelines:
            for position, (name, step) in enumerate(pipeline.steps[:-1]):
                key = hashlib.sha256(pickle.dumps(step, protocol=5)).digest()
                shared = seen.setdefault(key, step)
                if shared is not step:
                    pipeline.steps[position] = (name, shared)
                    dropped += 1
    return dropped


def ensemble_pipeline(ensemble: WeightedEnsemble, sample: pd.DataFrame) -> Pipeline:
    """The ensemble as the (identity preprocessing, estimator) Pipeline a TrainedModel holds."""
    identity = FunctionTransformer(feature_names_out="one-to-one").fit(sample)
    return Pipeline([("preprocess", identity), ("model", ensemble)])
