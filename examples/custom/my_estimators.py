"""A custom estimator kiln trains, tunes, registers, serves and batch-scores like a built-in one.

    PYTHONPATH=examples/custom kiln train churn --target churn \
        --algorithm my_estimators:MarginClassifier --hp C=0.5

Any class with scikit-learn's contract works: hyperparameters are the keyword arguments of
``__init__`` (stored as given), ``fit`` returns ``self``, and ``predict`` (plus ``predict_proba``
for a classifier, so kiln can report ROC AUC and serve probabilities) work on the numeric matrix
kiln's recipe makes of the data set. The module must be importable wherever the model is loaded:
install it, or put its folder on PYTHONPATH for 'kiln serve' and batch transform too.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.svm import LinearSVC


class MarginClassifier(ClassifierMixin, BaseEstimator):
    """A linear SVM whose margins become probabilities through a logistic squash."""

    def __init__(self, C: float = 1.0, temperature: float = 1.0, random_state=None):
        self.C = C
        self.temperature = temperature
        self.random_state = random_state

    def fit(self, X, y):
        if self.temperature <= 0:
            raise ValueError(f"temperature must be above 0. Got {self.temperature}.")
        self.svm_ = LinearSVC(C=self.C, random_state=self.random_state).fit(X, y)
        self.classes_ = self.svm_.classes_
        return self

    def predict(self, X):
        return self.svm_.predict(X)

    def predict_proba(self, X) -> np.ndarray:
        margin = np.asarray(self.svm_.decision_function(X)) / self.temperature
        if margin.ndim == 1:  # binary: one margin, for the second class
            positive = 1 / (1 + np.exp(-margin))
            return np.column_stack([1 - positive, positive])
        exp = np.exp(margin - margin.max(axis=1, keepdims=True))
        return exp / exp.sum(axis=1, keepdims=True)
