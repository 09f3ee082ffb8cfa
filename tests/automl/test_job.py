"""The AutoML job's own records, apart from a search."""

from __future__ import annotations

import numpy as np
import pandas as pd

from kiln.automl._job import _recipes, _wordy_categoricals, peak_memory_mb


def _touch(megabytes: int) -> int:
    block = np.ones(megabytes * 131_072)  # 8-byte floats, written: resident
    return int(block.sum())


def test_peak_memory_counts_the_fit_workers_that_are_still_alive():
    # joblib keeps its loky workers for the next call: RUSAGE_CHILDREN, which counts ended
    # children only, said 0 MB for the workers of every AutoML job.
    from joblib import Parallel, delayed

    with Parallel(n_jobs=2, backend="loky") as parallel:
        parallel(delayed(_touch)(300) for _ in range(2))
    assert peak_memory_mb()["workers"] >= 300


def test_shap_of_a_transformed_targets_member_is_in_the_transformed_units():
    # Its booster explains log(y): calling those "target units" understated every feature's
    # effect by the target's scale.
    import pandas as pd
    from lightgbm import LGBMRegressor
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer

    from kiln.automl._job import _shap
    from kiln.automl._search import Trial
    from kiln.automl._target import BackTransformed, TargetTransform

    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=300), "b": rng.normal(size=300)})
    y = np.exp(3 + X["a"].to_numpy() + rng.normal(0, 0.2, 300))
    transform = TargetTransform("log").fit(y)
    booster = LGBMRegressor(n_estimators=20, verbose=-1).fit(X, transform.forward(y))
    pipeline = Pipeline(
        [("identity", FunctionTransformer()), ("model", BackTransformed(booster, transform))]
    )
    shap = _shap(Trial(1, "lightgbm", "default", {}), pipeline, X.head(50))
    assert shap["units"] == "log of the target"
    assert shap["mean_abs"][0]["value"] > 0.5  # a moves log(y) by about 0.8 on average
    plain = Pipeline([("identity", FunctionTransformer()), ("model", booster)])
    assert _shap(Trial(1, "lightgbm", "default", {}), plain, X.head(50))["units"] == "target units"


def test_categorical_columns_of_short_texts_get_their_words_as_features_too():
    rows = 300
    frame = pd.DataFrame(
        {
            "title": [f"Study number {i} in blue" for i in range(rows)],  # many values, words
            "artist": [f"Artist{i % 120}" for i in range(rows)],  # many values, one word each
            "colour": ["red shade", "blue shade"] * (rows // 2),  # words, but two values
            "n": range(rows),
        }
    )
    types = {"title": "categorical", "artist": "categorical", "colour": "categorical"}
    types["n"] = "numeric"
    wordy = _wordy_categoricals(frame, types, list(frame.columns))
    assert wordy == ["title"]
    recipes = _recipes(types, list(frame.columns), [], wordy)
    stats = {"step": "text_stats", "columns": ["title"]}
    step = {"step": "tfidf", "columns": ["title"], "max_features": 5000, "min_df": 2, "keep": True}
    assert recipes["trees"]["default"] == [stats, step]
    assert recipes["scaled"]["power"][:2] == [stats, step]
