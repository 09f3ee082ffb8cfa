"""AutoML's explanation stays within its share of the time limit: permutation importance on
fewer rows for a slow model, and left out (saying why) when even a few rows would not fit."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest
from sklearn import datasets
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from kiln.automl._job import MIN_IMPORTANCE_ROWS, _permutation_importance, explain
from kiln.registry import TrainedModel


class SlowClassifier(LogisticRegression):
    """A logistic regression that takes 10 ms per predicted row: a model whose rows are slow to
    predict, as a bag of ten-class boosters on a wide table is."""

    def predict_proba(self, X):
        time.sleep(0.01 * len(X))
        return super().predict_proba(X)


def breast_cancer_model(slow: bool = False):
    frame = datasets.load_breast_cancer(as_frame=True).frame
    X, y = frame.drop(columns=["target"]), frame["target"].to_numpy()
    estimator = SlowClassifier() if slow else LogisticRegression()
    pipeline = Pipeline([("scale", StandardScaler()), ("model", estimator)]).fit(X, y)
    signature = {"inputs": [{"name": c} for c in X.columns], "outputs": {}}
    return TrainedModel(pipeline, problem_type="binary", classes=[0, 1], signature=signature), X, y


def test_importance_covers_every_column_when_time_allows():
    model, X, y = breast_cancer_model()
    importance, row_seconds = _permutation_importance(
        model, X.head(300), y[:300], "roc_auc", seconds=30.0, seed=0
    )
    assert {i["feature"] for i in importance} == set(X.columns)
    assert row_seconds > 0


def test_importance_is_left_out_when_even_a_few_rows_would_not_fit():
    # 20 rows of each of 30 shuffled columns would take this model 6 s.
    model, X, y = breast_cancer_model(slow=True)
    importance, row_seconds = _permutation_importance(
        model, X.head(300), y[:300], "roc_auc", seconds=0.5, seed=0
    )
    assert importance == [] and row_seconds >= 0.005


def test_a_fast_models_importance_gets_a_second_past_a_short_share():
    model, X, y = breast_cancer_model()
    importance, _ = _permutation_importance(
        model, X.head(300), y[:300], "roc_auc", seconds=1e-6, seed=0
    )
    assert {i["feature"] for i in importance} == set(X.columns)


def test_the_explanation_says_what_it_left_out_and_why():
    model, X, y = breast_cancer_model(slow=True)
    out = explain(model, X, y, "roc_auc", [], seconds=0.5, seed=0)
    assert out["permutation_importance"] == []
    assert f"{MIN_IMPORTANCE_ROWS} rows" in out["permutation_importance_skipped"]
    assert out["shap_skipped"] == "no member of the ensemble is a tree model"
    # With time, nothing is left out.
    model, X, y = breast_cancer_model()
    full = explain(model, X, y, "roc_auc", [], seconds=30.0, seed=0)
    assert "permutation_importance_skipped" not in full
    assert np.isfinite([i["importance"] for i in full["permutation_importance"]]).all()
    assert isinstance(pd.DataFrame(full["permutation_importance"]), pd.DataFrame)


def test_a_forest_whose_shap_rows_are_slower_than_its_predictions_is_skipped(monkeypatch):
    """Deep forests take shap's TreeExplainer seconds a row, which their prediction time does
    not foretell: the first row is timed, and the SHAP values are left out (saying why) when
    MIN_SHAP_ROWS rows would not fit. (A clock of 100 s per reading stands for such a forest.)"""
    pytest.importorskip("shap")
    from sklearn.ensemble import ExtraTreesClassifier

    from kiln.automl._search import Trial
    from kiln.evaluation import _explain

    frame = datasets.load_breast_cancer(as_frame=True).frame
    X, y = frame.drop(columns=["target"]), frame["target"].to_numpy()
    pipeline = Pipeline([("scale", StandardScaler()), ("model", ExtraTreesClassifier(20))])
    pipeline.fit(X, y)
    signature = {"inputs": [{"name": c} for c in X.columns], "outputs": {}}
    model = TrainedModel(pipeline, problem_type="binary", classes=[0, 1], signature=signature)
    trial = Trial(number=1, family="extra_trees", recipe="default", hyperparameters={})
    chosen, final = [(trial, 1.0)], {1: pipeline}
    explained = explain(model, X, y, "roc_auc", chosen, seconds=30.0, seed=0, final=final)
    assert explained["shap"]["method"] == "shap.TreeExplainer"
    ticks = iter(range(0, 10**6, 100))
    monkeypatch.setattr(_explain.time, "perf_counter", lambda: float(next(ticks)))
    out = explain(model, X, y, "roc_auc", chosen, seconds=30.0, seed=0, final=final)
    assert "shap" not in out and "100.0 s a row" in out["shap_skipped"]
