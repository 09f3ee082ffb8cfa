"""Custom estimators for the bring-your-own-code tests, importable as ``custom_estimators`` (the
tests' folder is on sys.path; job processes get it through PYTHONPATH)."""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression


class ShrunkLogistic(ClassifierMixin, BaseEstimator):
    """Logistic regression with its own name: a stand-in for a user's class."""

    def __init__(self, C: float = 1.0, max_iter: int = 200, random_state=None):
        self.C = C
        self.max_iter = max_iter
        self.random_state = random_state

    def fit(self, X, y):
        self.model_ = LogisticRegression(
            C=self.C, max_iter=self.max_iter, random_state=self.random_state
        ).fit(X, y)
        self.classes_ = self.model_.classes_
        return self

    def predict(self, X):
        return self.model_.predict(X)

    def predict_proba(self, X) -> np.ndarray:
        return self.model_.predict_proba(X)


class NotAnEstimator:
    """Has a constructor and nothing else."""

    def __init__(self, alpha: float = 1.0):
        self.alpha = alpha
