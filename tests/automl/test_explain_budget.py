"""AutoML's explanation stays within its share of the time limit: permutation importance on
fewer rows for a slow model, and left out (saying why) when even a few rows would not fit."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn import datasets
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from kiln.automl._job import MIN_IMPORTANCE_ROWS, _permutation_importance, explain
from kiln.registry import TrainedModel


def breast_cancer_model():
    frame = datasets.load_breast_cancer(as_frame=True).frame
    X, y = frame.drop(columns=["target"]), frame["target"].to_numpy()
    pipeline = Pipeline([("scale", StandardScaler()), ("model", LogisticRegression())]).fit(X, y)
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
    model, X, y = breast_cancer_model()
    importance, row_seconds = _permutation_importance(
        model, X.head(300), y[:300], "roc_auc", seconds=1e-6, seed=0
    )
    assert importance == [] and row_seconds > 0


def test_the_explanation_says_what_it_left_out_and_why():
    model, X, y = breast_cancer_model()
    out = explain(model, X, y, "roc_auc", [], seconds=1e-6, seed=0)
    assert out["permutation_importance"] == []
    assert f"{MIN_IMPORTANCE_ROWS} rows" in out["permutation_importance_skipped"]
    assert out["shap_skipped"] == "no member of the ensemble is a tree model"
    # With time, nothing is left out.
    full = explain(model, X, y, "roc_auc", [], seconds=30.0, seed=0)
    assert "permutation_importance_skipped" not in full
    assert np.isfinite([i["importance"] for i in full["permutation_importance"]]).all()
    assert isinstance(pd.DataFrame(full["permutation_importance"]), pd.DataFrame)
