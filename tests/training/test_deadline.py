"""Fits that stop at a deadline (AutoML's time limit): a forest grown a few trees at a time, and
kiln's epoch-trained models."""

from __future__ import annotations

import time

from sklearn.datasets import make_classification
from sklearn.ensemble import ExtraTreesClassifier, RandomForestRegressor

from kiln.training._live import fit_until, grows_in_steps


def test_a_forest_stops_growing_at_the_deadline_and_keeps_its_trees():
    X, y = make_classification(300, 8, random_state=0)
    forest = ExtraTreesClassifier(n_estimators=200, random_state=0)
    fit_until(forest, X, y, deadline=time.time() - 1)  # already passed: the first step only
    assert len(forest.estimators_) == 20 and forest.n_estimators == 20
    assert not forest.warm_start
    assert forest.predict_proba(X).shape == (300, 2)


def test_a_forest_with_time_grows_all_its_trees():
    X, y = make_classification(300, 8, random_state=0)
    forest = ExtraTreesClassifier(n_estimators=50, random_state=0)
    fit_until(forest, X, y, deadline=time.time() + 600)
    assert len(forest.estimators_) == 50 and not forest.warm_start


def test_only_forests_grow_in_steps():
    from sklearn.linear_model import Ridge

    assert grows_in_steps(RandomForestRegressor()) and grows_in_steps(ExtraTreesClassifier())
    assert not grows_in_steps(Ridge())


def test_an_epoch_trained_model_ends_after_the_epoch_that_passes_the_deadline():
    """AutoML's deadline reaches kiln's epoch loop (the MLP, the linear learner, factorization
    machines) through stop_at, as it reaches the boosters' callbacks."""
    from kiln.algorithms import get_algorithm
    from kiln.training._live import stop_at

    X, y = make_classification(600, 8, random_state=0)
    for name in ("mlp", "linear_learner", "factorization_machines"):
        algorithm = get_algorithm(name)
        hp = algorithm.hyperparameters({"epochs": 200, "early_stopping_rounds": 0})
        estimator = algorithm.build_estimator("binary", hp, 0)
        options = algorithm.fit_options(hp, (X, y), (X[:100], y[:100]))
        stop_at(name, estimator, options, deadline=time.time() - 1)  # already passed
        estimator.fit(X, y, **options)
        assert estimator.n_iter_ == 1, name
        assert estimator.predict_proba(X).shape == (600, 2)
        estimator.fit(X, y, eval_set=(X[:100], y[:100]), deadline=time.time() + 600)
        assert estimator.n_iter_ == 200, name
