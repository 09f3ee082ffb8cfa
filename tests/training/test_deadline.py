"""Fits that stop at a deadline: a forest grown a few trees at a time (AutoML's time limit)."""

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
