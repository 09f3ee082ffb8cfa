"""The shared conformance check every built-in supervised algorithm passes, for each problem type
it supports: clone round-trip, fit returns self and leaves its hyperparameters and input alone, a
single row predicts (the same as in a batch), the pickled model predicts the same, and iterative
ones report their learning curves.

A new algorithm joins by being registered in the catalog; text algorithms, which read the text
columns instead of the tabular recipe, have their own tests.
"""

import pickle

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline

from kiln.algorithms import ALGORITHMS, BINARY, MULTICLASS, PROBLEM_TYPES, REGRESSION
from kiln.recipe import build_preprocessor

SUPERVISED = sorted(
    (name, problem_type)
    for name, algorithm in ALGORITHMS.items()
    if set(algorithm.problem_types) <= set(PROBLEM_TYPES)
    and not getattr(algorithm, "text_input", False)
    for problem_type in algorithm.problem_types
)


def _real_data(problem_type: str) -> tuple[pd.DataFrame, np.ndarray, dict[str, str]]:
    """breast_cancer, iris or diabetes, each with one categorical column so one-hot (and, for
    sparse-input models, a sparse matrix) is part of the check."""
    loader = {BINARY: load_breast_cancer, MULTICLASS: load_iris, REGRESSION: load_diabetes}
    frame, y = loader[problem_type](return_X_y=True, as_frame=True)
    frame = frame.copy()
    first = frame.columns[0]
    frame["band"] = pd.qcut(frame[first], 3, labels=["low", "mid", "high"]).astype(str)
    types = {c: "categorical" if c == "band" else "numeric" for c in frame.columns}
    return frame, y.to_numpy(), types


def comparable_params(estimator) -> dict:
    """``get_params(deep=True)`` without the nested estimator objects (their parameters are in it
    as ``name__param``) and with NaN made equal to itself."""
    return {
        key: "nan" if isinstance(value, float) and np.isnan(value) else value
        for key, value in estimator.get_params(deep=True).items()
        if not hasattr(value, "get_params")
    }


def _fit_options(algorithm, hp, train, validation):
    if algorithm.fit_options is None:
        return {}
    return algorithm.fit_options(hp, train, validation)


def _predict(estimator, X, problem_type):
    if problem_type == REGRESSION:
        return estimator.predict(X)
    return estimator.predict_proba(X)


@pytest.mark.parametrize(("name", "problem_type"), SUPERVISED)
def test_builtin_algorithm_conformance(name, problem_type):
    algorithm = ALGORITHMS[name]
    hp = algorithm.hyperparameters()
    frame, y, types = _real_data(problem_type)
    stratify = None if problem_type == REGRESSION else y
    X_train, X_held, y_train, y_held = train_test_split(
        frame, y, test_size=0.25, random_state=0, stratify=stratify
    )

    estimator = algorithm.build(problem_type, hp, 0)
    params = comparable_params(estimator)
    assert comparable_params(clone(estimator)) == params

    preprocessor = build_preprocessor(
        types, scale_numeric=algorithm.scale_numeric, sparse=algorithm.sparse_input
    )
    Xt = preprocessor.fit_transform(X_train, y_train)
    Xh = preprocessor.transform(X_held)
    Xt_before = Xt.copy()
    options = _fit_options(algorithm, hp, (Xt, y_train), (Xh, y_held))
    assert estimator.fit(Xt, y_train, **options) is estimator
    if type(estimator).__module__.startswith("kiln."):
        # kiln's own estimators; XGBoost, for one, fills in its objective during fit.
        assert comparable_params(estimator) == params, "fit must not change the hyperparameters"
    assert (abs(Xt - Xt_before)).sum() == 0, "fit must not modify its input"

    if options and algorithm.iteration_metrics is not None:
        curves = algorithm.iteration_metrics(estimator)
        train = [k for k in curves if k.startswith("train_")]
        validation = [k for k in curves if k.startswith("validation_")]
        assert train and validation, curves
        assert len(curves[train[0]]) == len(curves[validation[0]]) >= 1
        assert all(np.isfinite(v).all() for v in curves.values())
        if algorithm.best_iteration is not None:
            assert 1 <= algorithm.best_iteration(estimator) <= len(curves[train[0]])

    pipeline = Pipeline([("preprocess", preprocessor), ("model", estimator)])
    row = X_held.iloc[[0]]
    one = _predict(pipeline, row, problem_type)
    # No leakage between rows at predict time: a row scores the same alone or in a batch.
    np.testing.assert_allclose(one[0], _predict(pipeline, X_held, problem_type)[0], rtol=1e-9)
    if problem_type == REGRESSION:
        assert one.shape == (1,) and np.isfinite(one).all()
    else:
        assert one.shape == (1, len(np.unique(y)))
        np.testing.assert_allclose(one.sum(axis=1), 1.0)
        assert list(estimator.classes_) == list(range(len(np.unique(y))))

    restored = pickle.loads(pickle.dumps(pipeline))
    # Equal up to the order in which threads sum the trees of a forest (one unit in the last place).
    np.testing.assert_allclose(
        _predict(restored, X_held, problem_type),
        _predict(pipeline, X_held, problem_type),
        rtol=1e-12,
        atol=1e-12,
    )
