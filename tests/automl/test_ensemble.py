"""Ensemble selection and the AutoML metric losses, on hand-made predictions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kiln.automl._ensemble import select_ensemble
from kiln.automl._job import _minority_threshold
from kiln.automl._search import metric_loss


def test_selection_averages_models_that_err_on_different_rows():
    rng = np.random.default_rng(0)
    truth = rng.normal(size=400)
    noise = rng.normal(size=(3, 400))
    # Two decent models with independent errors and one bad one.
    candidates = [truth + noise[0], truth + noise[1], truth + 3 * noise[2]]
    loss = metric_loss("rmse", "regression", truth)
    weights, best = select_ensemble(candidates, loss)
    assert sum(weights) == pytest.approx(1.0)
    assert weights[0] > 0.25 and weights[1] > 0.25 and weights[2] < weights[0]
    blended = sum(w * c for w, c in zip(weights, candidates, strict=True))
    assert best == pytest.approx(loss(blended))
    assert best < min(loss(c) for c in candidates) * 0.8


def test_selection_keeps_a_single_model_that_nothing_improves():
    truth = np.linspace(0, 1, 50)
    weights, best = select_ensemble([truth, truth + 1.0], metric_loss("mae", "regression", truth))
    assert weights == [1.0, 0.0] and best == 0.0


def test_losses_are_minimised_whatever_the_metric_direction():
    y = np.array([0, 0, 1, 1])
    good = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.1, 0.9]])
    bad = good[:, ::-1]
    for metric in ("roc_auc", "log_loss", "accuracy", "f1", "pr_auc"):
        loss = metric_loss(metric, "binary", y)
        assert loss(good) < loss(bad), metric
    assert metric_loss("roc_auc", "binary", y)(good) == -1.0


def test_the_threshold_for_a_rare_class_moves_below_one_half():
    rng = np.random.default_rng(1)
    y = (rng.random(2000) < 0.1).astype(int)
    # A model that ranks the rare class well but under-predicts its probability.
    p = np.clip(0.05 + 0.3 * y + rng.normal(0, 0.08, size=2000), 0, 1)
    assert _minority_threshold(y, p) < 0.5


def test_a_fold_model_that_never_saw_a_rare_class_gets_a_zero_column_for_it():
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer

    from kiln.automl._ensemble import BaggedMember, full_proba

    X = np.array([[0.0], [1.0], [2.0], [3.0]])
    pipeline = Pipeline([("identity", FunctionTransformer()), ("model", LogisticRegression())]).fit(
        X, np.array([0, 0, 2, 2])
    )  # class 1 is missing from this fold
    proba = full_proba(pipeline, X, 3)
    assert proba.shape == (4, 3) and (proba[:, 1] == 0).all()
    assert np.allclose(proba.sum(axis=1), 1.0)
    member = BaggedMember("m", [pipeline, pipeline], "multiclass", n_classes=3)
    assert member.predict(X).shape == (4, 3)


def test_members_share_one_copy_of_a_recipe_fitted_alike():
    import pickle

    from sklearn.linear_model import LinearRegression, Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from kiln.automl._ensemble import BaggedMember, WeightedEnsemble, share_identical_steps

    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(200, 40)), columns=[f"x{i}" for i in range(40)])
    y = X.sum(axis=1)
    folds = [X.index[:100], X.index[100:]]

    def member(name, estimator):
        pipelines = [make_pipeline(StandardScaler(), estimator).fit(X.loc[f], y[f]) for f in folds]
        return BaggedMember(name, pipelines, "regression")

    members = [member("linear", LinearRegression()), member("ridge", Ridge())]
    before = WeightedEnsemble(members, [0.5, 0.5], "regression")
    predicted, size = before.predict(X), len(pickle.dumps(before))
    assert share_identical_steps(members) == 2  # each fold's scaler, once
    assert members[0].pipelines[1][0] is members[1].pipelines[1][0]
    assert members[0].pipelines[0][0] is not members[0].pipelines[1][0]  # other rows: kept
    after = WeightedEnsemble(members, [0.5, 0.5], "regression")
    assert np.array_equal(after.predict(X), predicted)
    assert len(pickle.dumps(after)) < size - 2 * 40 * 8 * 2


def test_an_ensemble_stored_before_calibration_existed_still_predicts_prints_and_clones():
    import pickle

    from sklearn.base import clone
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer

    from kiln.automl._ensemble import BaggedMember, WeightedEnsemble

    X = np.array([[0.0], [1.0], [2.0], [3.0]])
    pipeline = Pipeline([("identity", FunctionTransformer()), ("model", LogisticRegression())]).fit(
        X, np.array([0, 0, 1, 1])
    )
    ensemble = WeightedEnsemble([BaggedMember("m", [pipeline], "binary", 2)], [1.0], "binary")
    del ensemble.calibration  # what a model pickled before calibration existed holds
    old = pickle.loads(pickle.dumps(ensemble))
    assert old.calibration is None
    assert np.allclose(old.predict_proba(X), pipeline.predict_proba(X))
    assert "WeightedEnsemble" in repr(old)  # get_params reads every __init__ parameter
    assert clone(old).calibration is None
