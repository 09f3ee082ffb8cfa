"""hist_gradient_boosting: scikit-learn's HistGradientBoosting* with its own defaults, and kiln's
thread setting reaching its OpenMP fits (AutoML's one thread per fit, serving's one per call)."""

import time

import numpy as np
import pytest
from sklearn import ensemble
from sklearn.datasets import load_breast_cancer, load_diabetes
from threadpoolctl import threadpool_info, threadpool_limits

from kiln.algorithms import BINARY, MULTICLASS, REGRESSION, get_algorithm
from kiln.registry import set_estimator_threads
from kiln.training import Problem

HGB = get_algorithm("hist_gradient_boosting")


def _openmp_threads() -> set[int]:
    """The thread counts of the OpenMP runtimes loaded in this process, as they are now."""
    return {pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "openmp"}


class _ThreadRecorder:
    """An early-stopping scorer that records, from inside fit, the OpenMP threads fit has."""

    def __init__(self):
        self.seen: list[set[int]] = []

    def __call__(self, estimator, X, y) -> float:
        self.seen.append(_openmp_threads())
        return 0.0


@pytest.mark.parametrize(
    ("problem_type", "sklearn_class"),
    [
        (BINARY, ensemble.HistGradientBoostingClassifier),
        (MULTICLASS, ensemble.HistGradientBoostingClassifier),
        (REGRESSION, ensemble.HistGradientBoostingRegressor),
    ],
)
def test_the_default_trial_is_scikit_learns_own_default(problem_type, sklearn_class):
    estimator = HGB.build_estimator(problem_type, HGB.hyperparameters(), 7)
    assert isinstance(estimator, sklearn_class)
    params = estimator.get_params()
    assert params.pop("n_jobs") is None and params.pop("random_state") == 7
    default = sklearn_class().get_params()
    default.pop("random_state")
    assert params == default


def test_set_estimator_threads_limits_its_openmp_threads_during_fit_only():
    X, y = load_breast_cancer(return_X_y=True)
    recorder = _ThreadRecorder()
    # Two threads for the process, even on one core, so a limit of one is seen to take effect.
    with threadpool_limits(limits=2, user_api="openmp"):
        assert _openmp_threads() == {2}
        estimator = HGB.build_estimator(BINARY, HGB.hyperparameters({"max_iter": 5}), 0)
        estimator.set_params(early_stopping=True, scoring=recorder)
        estimator.fit(X, y)
        assert recorder.seen and all(seen == {2} for seen in recorder.seen)  # no limit: as is

        recorder.seen.clear()
        set_estimator_threads(estimator, 1)
        assert estimator.get_params()["n_jobs"] == 1
        estimator.fit(X, y)
        assert recorder.seen and all(seen == {1} for seen in recorder.seen)
        assert _openmp_threads() == {2}  # the limit held for the call, not the process
        estimator.predict_proba(X)
        assert _openmp_threads() == {2}


def test_a_bad_thread_count_is_refused_at_fit():
    X, y = load_diabetes(return_X_y=True)
    estimator = HGB.build_estimator(REGRESSION, HGB.hyperparameters(), 0).set_params(n_jobs=0)
    with pytest.raises(ValueError, match="'n_jobs' parameter"):
        estimator.fit(X, y)


def test_an_automl_style_fit_with_one_thread_and_a_deadline_trains():
    """AutoML fits with threads=1 and a deadline: the deadline hooks have nothing to stop in a
    scikit-learn fit (no fit options), and the fit still takes one thread."""
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    problem = Problem(
        problem_type=BINARY,
        algorithm=HGB,
        hyperparameters=HGB.hyperparameters(),
        column_types={c: "numeric" for c in X.columns},
        features=list(X.columns),
        classes=[0, 1],
        seed=0,
        threads=1,
        deadline=time.time() + 60,
    )
    pipeline, curves = problem.fit(X.iloc[:400], y.iloc[:400], X.iloc[400:], y.iloc[400:])
    assert curves == {}
    assert pipeline[-1].get_params()["n_jobs"] == 1
    assert (pipeline.predict(X.iloc[400:]) == y.iloc[400:]).mean() > 0.9


def test_missing_values_reach_the_trees_as_missing():
    """scikit-learn's trees learn where missing values go (kiln's default recipe imputes before
    any algorithm; a custom estimator input may still hold NaN)."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 3))
    y = (X[:, 0] > 0).astype(int)
    X[y == 1, 1] = np.nan  # missingness alone tells the class
    X[:, 0] = 0.0
    estimator = HGB.build_estimator(BINARY, HGB.hyperparameters({"max_iter": 20}), 0).fit(X, y)
    assert (estimator.predict(X) == y).mean() == 1.0
