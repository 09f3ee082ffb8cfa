"""scikit-learn's histogram gradient boosting with a thread count.

``HistGradientBoostingClassifier`` and ``HistGradientBoostingRegressor`` are scikit-learn's own,
with one parameter more: ``n_jobs``, the OpenMP threads their fit and predictions may use
(None: all the process may use, as scikit-learn decides). scikit-learn's versions have no such
parameter (they use every core OpenMP offers), so kiln's thread setting
(``kiln.registry.set_estimator_threads``: one thread per AutoML fit, one per serving call) could
not reach them; here it is the same ``n_jobs`` every other catalog estimator has, applied with
threadpoolctl around each call and undone after it.

Their ``__init__`` lists scikit-learn's parameters (as of 1.9; scikit-learn's estimator contract
wants them spelled out): tests/algorithms/test_hist_gradient_boosting.py fails when scikit-learn's
own change, so the two stay the same estimator.
"""

from __future__ import annotations

import functools
import numbers
from contextlib import nullcontext

from sklearn import ensemble

__all__ = ["HistGradientBoostingClassifier", "HistGradientBoostingRegressor"]


@functools.cache
def _controller():
    """One threadpoolctl controller per process: building one scans the loaded libraries (too
    slow to do per call on a serving path). scikit-learn's OpenMP runtime is loaded by then,
    since this module imports its histogram gradient boosting."""
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


class _OpenMPThreads:
    """Runs fit and the predictions of a scikit-learn OpenMP estimator with at most ``n_jobs``
    OpenMP threads (the limit holds for the call only)."""

    def _threads(self):
        if self.n_jobs is None:
            return nullcontext()
        if (
            not isinstance(self.n_jobs, numbers.Integral)
            or isinstance(self.n_jobs, bool)
            or self.n_jobs < 1
        ):
            raise ValueError(
                f"The 'n_jobs' parameter of {type(self).__name__} must be an int in the range "
                f"[1, inf) or None. Got {self.n_jobs!r} instead."
            )
        return _controller().limit(limits=int(self.n_jobs), user_api="openmp")

    def fit(self, X, y, sample_weight=None, **fit_params):
        with self._threads():
            return super().fit(X, y, sample_weight=sample_weight, **fit_params)

    def predict(self, X):
        with self._threads():
            return super().predict(X)


class HistGradientBoostingClassifier(_OpenMPThreads, ensemble.HistGradientBoostingClassifier):
    """scikit-learn's ``HistGradientBoostingClassifier`` with ``n_jobs`` (see the module)."""

    def __init__(
        self,
        loss="log_loss",
        *,
        learning_rate=0.1,
        max_iter=100,
        max_leaf_nodes=31,
        max_depth=None,
        min_samples_leaf=20,
        l2_regularization=0.0,
        max_features=1.0,
        max_bins=255,
        categorical_features="from_dtype",
        monotonic_cst=None,
        interaction_cst=None,
        warm_start=False,
        early_stopping="auto",
        scoring="loss",
        validation_fraction=0.1,
        n_iter_no_change=10,
        tol=1e-7,
        verbose=0,
        random_state=None,
        class_weight=None,
        n_jobs=None,
    ):
        super().__init__(
            loss=loss,
            learning_rate=learning_rate,
            max_iter=max_iter,
            max_leaf_nodes=max_leaf_nodes,
            max_depth=max_depth,
            min_samples_leaf=min_samples_leaf,
            l2_regularization=l2_regularization,
            max_features=max_features,
            max_bins=max_bins,
            categorical_features=categorical_features,
            monotonic_cst=monotonic_cst,
            interaction_cst=interaction_cst,
            warm_start=warm_start,
            early_stopping=early_stopping,
            scoring=scoring,
            validation_fraction=validation_fraction,
            n_iter_no_change=n_iter_no_change,
            tol=tol,
            verbose=verbose,
            random_state=random_state,
            class_weight=class_weight,
        )
        self.n_jobs = n_jobs

    def predict_proba(self, X):
        with self._threads():
            return super().predict_proba(X)

    def decision_function(self, X):
        with self._threads():
            return super().decision_function(X)


class HistGradientBoostingRegressor(_OpenMPThreads, ensemble.HistGradientBoostingRegressor):
    """scikit-learn's ``HistGradientBoostingRegressor`` with ``n_jobs`` (see the module)."""

    def __init__(
        self,
        loss="squared_error",
        *,
        quantile=None,
        learning_rate=0.1,
        max_iter=100,
        max_leaf_nodes=31,
        max_depth=None,
        min_samples_leaf=20,
        l2_regularization=0.0,
        max_features=1.0,
        max_bins=255,
        categorical_features="from_dtype",
        monotonic_cst=None,
        interaction_cst=None,
        warm_start=False,
        early_stopping="auto",
        scoring="loss",
        validation_fraction=0.1,
        n_iter_no_change=10,
        tol=1e-7,
        verbose=0,
        random_state=None,
        n_jobs=None,
    ):
        super().__init__(
            loss=loss,
            quantile=quantile,
            learning_rate=learning_rate,
            max_iter=max_iter,
            max_leaf_nodes=max_leaf_nodes,
            max_depth=max_depth,
            min_samples_leaf=min_samples_leaf,
            l2_regularization=l2_regularization,
            max_features=max_features,
            max_bins=max_bins,
            categorical_features=categorical_features,
            monotonic_cst=monotonic_cst,
            interaction_cst=interaction_cst,
            warm_start=warm_start,
            early_stopping=early_stopping,
            scoring=scoring,
            validation_fraction=validation_fraction,
            n_iter_no_change=n_iter_no_change,
            tol=tol,
            verbose=verbose,
            random_state=random_state,
        )
        self.n_jobs = n_jobs
