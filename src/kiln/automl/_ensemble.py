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
CALIBRATION_FOLDS = 5
ISOTONIC_MIN_ROWS = 1000  # isotonic calibration needs many rows; temperature needs few
# Metrics a temperature cannot change: they read each row's ranking of the classes (argmax,
# or the second class's probability against a threshold or across rows of two classes).
RANKING_METRICS = ("roc_auc", "pr_auc", "accuracy", "f1", "f1_macro", "f1_weighted")


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


class Calibration:
    """Post-hoc calibration of an ensemble's class probabilities, fitted on its out-of-fold
    predictions: temperature scaling (Guo et al., "On calibration of modern neural networks",
    ICML 2017: one parameter, the probabilities' log divided by T, then normalised; it keeps
    every row's ranking of the classes) or, for two classes and many rows, isotonic regression
    of the second class's probability (scikit-learn's IsotonicRegression)."""

    def __init__(self, method: str):
        self.method = method
        self.temperature = 1.0
        self.isotonic = None

    def fit(self, proba: np.ndarray, y: np.ndarray) -> Calibration:
        if self.method == "temperature":
            from scipy.optimize import minimize_scalar
            from sklearn.metrics import log_loss

            labels = np.arange(proba.shape[1])
            logs = np.log(np.clip(proba, 1e-15, 1.0))

            def loss(log_t: float) -> float:
                return log_loss(y, _softmax(logs / np.exp(log_t)), labels=labels)

            found = minimize_scalar(loss, bounds=(np.log(0.05), np.log(20.0)), method="bounded")
            self.temperature = float(np.exp(found.x))
        else:
            from sklearn.isotonic import IsotonicRegression

            # Never 0 or 1: one confident mistake would make the log loss infinite.
            margin = 0.5 / len(y)
            self.isotonic = IsotonicRegression(
                y_min=margin, y_max=1 - margin, out_of_bounds="clip"
            ).fit(proba[:, 1], y)
        return self

    def apply(self, proba: np.ndarray) -> np.ndarray:
        """Calibrated probabilities of ``proba`` (rows summing to 1)."""
        if self.method == "temperature":
            return _softmax(np.log(np.clip(proba, 1e-15, 1.0)) / self.temperature)
        positive = self.isotonic.predict(proba[:, 1])
        return np.column_stack([1 - positive, positive])

    def describe(self) -> dict:
        if self.method == "temperature":
            return {"method": "temperature", "temperature": round(self.temperature, 4)}
        return {"method": "isotonic", "steps": int(len(self.isotonic.X_thresholds_))}


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def choose_calibration(
    oof: np.ndarray,
    y: np.ndarray,
    loss: Callable[[np.ndarray], float],
    seed: int,
    *,
    ranking: bool = False,
) -> tuple[Calibration | None, np.ndarray, dict]:
    """(calibration or None, the out-of-fold probabilities to report, what was tried).

    Each method is scored by cross-validation over the out-of-fold rows (fitted on four fifths,
    applied to the fifth), so the choice never uses a row to calibrate itself. A method is
    chosen when it improves the optimised metric, or leaves it unchanged and improves the log
    loss; the one chosen is then fitted on all rows. ``ranking``: the optimised metric is one a
    temperature cannot change (RANKING_METRICS): the temperature's metric is the uncalibrated
    one, exactly (its cross-validation would mix five temperatures and move a ranking metric by
    noise), and the full fit's probabilities are reported. Otherwise the cross-validated
    probabilities are reported.
    """
    from sklearn.metrics import log_loss
    from sklearn.model_selection import StratifiedKFold

    proba = oof / oof.sum(axis=1, keepdims=True)
    labels = np.arange(proba.shape[1])
    counts = np.bincount(y, minlength=proba.shape[1])
    folds = min(CALIBRATION_FOLDS, int(counts[counts > 0].min()))
    base = (loss(proba), log_loss(y, proba, labels=labels))
    tried = {"none": {"metric_loss": base[0], "log_loss": base[1]}}
    if folds < 2:
        return None, proba, tried
    methods = ["temperature"]
    if proba.shape[1] == 2 and len(y) >= ISOTONIC_MIN_ROWS:
        methods.append("isotonic")
    splitter = StratifiedKFold(folds, shuffle=True, random_state=seed)
    best, best_score, best_proba = None, base, proba
    for method in methods:
        cross = np.zeros_like(proba)
        for fit_rows, apply_rows in splitter.split(proba, y):
            calibration = Calibration(method).fit(proba[fit_rows], y[fit_rows])
            cross[apply_rows] = calibration.apply(proba[apply_rows])
        keeps_metric = ranking and method == "temperature"
        score = (base[0] if keeps_metric else loss(cross), log_loss(y, cross, labels=labels))
        tried[method] = {"metric_loss": score[0], "log_loss": score[1]}
        if _better(score, best_score):
            best, best_score, best_proba = method, score, cross
    if best is None:
        return None, proba, tried
    calibration = Calibration(best).fit(proba, y)
    if ranking and best == "temperature":
        best_proba = calibration.apply(proba)
    return calibration, best_proba, tried


def _better(score: tuple[float, float], than: tuple[float, float]) -> bool:
    """Lower optimised metric, or the same (to rounding) and a lower log loss."""
    tolerance = 1e-9 * max(1.0, abs(than[0]))
    if score[0] < than[0] - tolerance:
        return True
    return abs(score[0] - than[0]) <= tolerance and score[1] < than[1] - 1e-9


class WeightedEnsemble(BaseEstimator):
    """The weighted average of bagged members; takes the raw input columns (each member runs its
    own recipe). ``calibration``: applied to the average's class probabilities."""

    def __init__(
        self,
        members: list[BaggedMember],
        weights: list[float],
        problem_type: str,
        calibration: Calibration | None = None,
    ):
        self.members = members
        self.weights = weights
        self.problem_type = problem_type
        self.calibration = calibration

    def fit(self, X=None, y=None):
        """Nothing to fit: the members were fit by the search (scikit-learn asks for the
        method)."""
        return self

    def __sklearn_is_fitted__(self) -> bool:
        return True

    def __setstate__(self, state: dict) -> None:
        # Models stored before calibration existed unpickle without the attribute, and
        # scikit-learn's get_params (repr, clone) reads every __init__ parameter.
        super().__setstate__({"calibration": None, **state})

    def _average(self, X: pd.DataFrame) -> np.ndarray:
        total = None
        for member, weight in zip(self.members, self.weights, strict=True):
            part = weight * member.predict(X)
            total = part if total is None else total + part
        return total

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        proba = self._average(X)
        proba = proba / proba.sum(axis=1, keepdims=True)
        return proba if self.calibration is None else self.calibration.apply(proba)

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
