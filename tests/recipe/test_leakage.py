"""Nothing from validation or test rows reaches a recipe's fit.

For every fitting step, the state a training job's step learnt (statistics, encoders, detectors,
vocabularies, components, selected features) must equal the state of the same step fitted in this
process on the training split alone (with cross-validation: on train + validation, the rows the
final model is refit on). Each step's state is also checked to differ when fitted on all rows, so
the comparison would notice a leak.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from sklearn.base import clone

from conftest import CHURN_CSV, FIXTURES
from kiln.problems import order_classes
from kiln.recipe import Recipe, RecipeTransformer

CHURN_CHAINS = {
    "statistics": [
        {"step": "drop_missing_columns", "threshold": 0.5},
        {"step": "missing_indicator"},
        {"step": "impute", "columns": ["total_charges"], "strategy": "mean"},
        {"step": "impute", "columns": ["multiple_lines"], "strategy": "most_frequent"},
        {"step": "outliers", "columns": ["tenure"], "detect": "percentile", "treat": "clip"},
        {"step": "outliers", "columns": ["monthly_charges"], "detect": "iqr", "treat": "clip"},
        {
            "step": "outliers",
            "columns": ["total_charges"],
            "detect": "zscore",
            "treat": "mean",
            "threshold": 2,
        },
        {"step": "transform", "columns": ["monthly_charges"], "function": "yeo_johnson"},
        {"step": "bin", "columns": ["tenure"], "method": "quantile", "bins": 4},
        {
            "step": "ordinal",
            "columns": ["contract"],
            "order": {"contract": ["Month-to-month", "One year", "Two year"]},
        },
        {"step": "target_encode", "columns": ["payment_method"]},
        {"step": "frequency_encode", "columns": ["internet_service"]},
        {"step": "scale", "columns": "numeric", "method": "standard"},
        {"step": "tree_leaves", "columns": ["monthly_charges", "total_charges"], "n_trees": 3},
        {"step": "one_hot", "max_categories": 4},
        {"step": "variance_threshold", "threshold": 0.01},
        {"step": "correlation_filter", "threshold": 0.9},
        {"step": "select_mutual_info", "k": 25},
    ],
    "models": [
        # Their fallback for what neighbours cannot fill is the training mode or median.
        {"step": "impute", "columns": ["multiple_lines"], "strategy": "ffill"},
        {"step": "impute", "columns": ["monthly_charges"], "strategy": "interpolate"},
        {"step": "impute", "columns": "numeric", "strategy": "knn"},
        {
            "step": "outliers",
            "columns": ["monthly_charges", "total_charges"],
            "detect": "isolation_forest",
            "treat": "median",
        },
        {
            "step": "outliers",
            "columns": ["tenure", "total_charges"],
            "detect": "lof",
            "treat": "clip",
        },
        {
            "step": "outliers",
            "columns": ["monthly_charges", "tenure"],
            "detect": "elliptic_envelope",
            "treat": "mean",
        },
        {"step": "transform", "columns": ["monthly_charges"], "function": "box_cox"},
        {"step": "bin", "columns": ["total_charges"], "method": "width", "bins": 3},
        {"step": "scale", "columns": ["tenure"], "method": "robust"},
        {"step": "scale", "columns": ["monthly_charges"], "method": "minmax"},
        {
            "step": "pca",
            "columns": ["monthly_charges", "tenure", "senior_citizen"],
            "n_components": 2,
        },
        {"step": "one_hot"},
        {"step": "select_by_importance", "k": 20},
    ],
    "more_models": [
        {"step": "impute", "columns": ["total_charges"], "strategy": "median"},
        {"step": "impute", "columns": "numeric", "strategy": "iterative"},
        {
            "step": "outliers",
            "columns": ["monthly_charges", "total_charges"],
            "detect": "one_class_svm",
            "treat": "clip",
        },
        {
            "step": "outliers",
            "columns": ["tenure", "total_charges"],
            "detect": "dbscan",
            "treat": "median",
            "eps": 0.3,
        },
        {"step": "scale", "columns": ["tenure"], "method": "maxabs"},
        {"step": "scale", "columns": ["monthly_charges", "total_charges"], "method": "normalizer"},
        {"step": "one_hot"},
        {"step": "rfe", "k": 12},
    ],
}

TEXT_CHAIN = [
    {"step": "tfidf", "columns": ["text"], "min_df": 2},
    {"step": "truncated_svd", "n_components": 10},
]
TEXT_CHAIN_2 = [
    {"step": "remove_stopwords", "columns": ["text"]},
    {"step": "osb", "columns": ["text"], "min_df": 2},
]
TEXT_CHAIN_3 = [
    {"step": "bag_of_words", "columns": ["text"], "min_df": 2},
    {"step": "select_mutual_info", "k": 50},
]


def with_canaries(frame: pd.DataFrame, target: str) -> pd.DataFrame:
    """``frame`` with marked validation and test rows, where the training job will split them:
    a category no training row has (both), and in test rows only a missing tenure (training rows
    have none) and 400 more "Yes" in multiple_lines (enough to change its mode). A recipe that
    saw those rows would grow a one-hot column or a missing indicator, or impute another value.
    """
    from kiln.data._split import split_frame

    numbered = frame.assign(_row=np.arange(len(frame)))
    parts = split_frame(
        numbered, target=target, ratios=(0.7, 0.1, 0.2), time_column=None, stratify=True, seed=42
    )
    marked = frame.copy()
    validation, test = parts["validation"]["_row"].to_numpy(), parts["test"]["_row"].to_numpy()
    marked.loc[validation[:25], "payment_method"] = "CANARY_VALIDATION"
    marked.loc[test[:25], "payment_method"] = "CANARY_TEST"
    marked.loc[test[:5], "tenure"] = np.nan
    no = test[marked.loc[test, "multiple_lines"].to_numpy() == "No"]
    marked.loc[no[:400], "multiple_lines"] = "Yes"
    return marked


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    import kiln

    ws = kiln.Workspace.init(tmp_path_factory.mktemp("leakage") / "ws")
    ws.data.ingest(with_canaries(pd.read_csv(CHURN_CSV), "churn"), name="churn")
    ws.data.ingest(FIXTURES / "docstrings.csv", name="docs")
    yield ws
    ws.close()


def refit(model, frame: pd.DataFrame, target: str):
    """The model's recipe, unfitted, fitted here on ``frame`` only."""
    classes = order_classes(frame[target].dropna().unique().tolist())
    y = frame[target].map({c: i for i, c in enumerate(classes)}).to_numpy(int)
    recipe = clone(model.pipeline[0])
    recipe.fit_resample(frame[model.input_columns], y)
    return recipe


# Steps whose state does not depend on the rows they are fitted on.
STATELESS = {
    "ordinal",
    "ratio",
    "product",
    "polynomial",
    "cross",
    "hash_encode",
    "datetime_parts",
    "lowercase",
    "remove_punctuation",
    "remove_stopwords",
    "stem",
    "drop_columns",
    "function",
    "hash_pii",
}


def same_state(a, b, path="", depth=0) -> str | None:
    """None when ``a`` and ``b`` hold the same fitted state, else where they first differ."""
    if depth > 40:
        return None
    if type(a) is not type(b):
        return f"{path}: {type(a).__name__} vs {type(b).__name__}"
    if isinstance(a, np.ndarray):
        if a.shape != b.shape:
            return f"{path}: shape {a.shape} vs {b.shape}"
        if a.dtype.kind in "fc":
            return None if np.allclose(a, b, equal_nan=True, rtol=1e-9) else f"{path}: values"
        if a.dtype.kind == "O":
            for i, (x, y) in enumerate(zip(a.ravel(), b.ravel(), strict=True)):
                if (where := same_state(x, y, f"{path}[{i}]", depth + 1)) is not None:
                    return where
            return None
        return None if np.array_equal(a, b) else f"{path}: values"
    if sp.issparse(a):
        return None if a.shape == b.shape and (a != b).nnz == 0 else f"{path}: sparse values"
    if isinstance(a, dict):
        if list(a) != list(b):
            return f"{path}: keys"
        for key in a:
            if (where := same_state(a[key], b[key], f"{path}.{key}", depth + 1)) is not None:
                return where
        return None
    if isinstance(a, list | tuple):
        if len(a) != len(b):
            return f"{path}: length {len(a)} vs {len(b)}"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            if (where := same_state(x, y, f"{path}[{i}]", depth + 1)) is not None:
                return where
        return None
    if isinstance(a, float | np.floating):
        return None if np.isclose(a, b, equal_nan=True, rtol=1e-9) else f"{path}: {a} vs {b}"
    if isinstance(a, str | int | bool | set | frozenset | type(None) | np.integer | np.bool_):
        return None if a == b else f"{path}: {a!r} vs {b!r}"
    if isinstance(a, np.random.RandomState):
        return same_state(a.get_state()[1], b.get_state()[1], path, depth + 1)
    if isinstance(a, type):
        return None if a is b else f"{path}: {a} vs {b}"
    if callable(a) and not hasattr(a, "__dict__"):
        return None
    state_a, state_b = a.__getstate__(), b.__getstate__()
    if isinstance(state_a, dict):
        skip = ("context", "_cached", "_stop_words_id")  # not fitted state: ids and caches
        state_a = {k: v for k, v in state_a.items() if k not in skip}
        state_b = {k: v for k, v in state_b.items() if k not in skip}
    return same_state(state_a, state_b, path, depth + 1)


def dense(matrix):
    return matrix.toarray() if sp.issparse(matrix) else np.asarray(matrix)


def check_fitted_on(ws, data, target, steps, *, algorithm="lightgbm", validation="holdout"):
    result = ws.train(
        data,
        target=target,
        algorithm=algorithm,
        recipe=steps,
        validation=validation,
        hyperparameters={"n_estimators": 10} if algorithm == "lightgbm" else None,
    )
    model = ws.models.load(result.model.ref)
    fitted = model.pipeline[0]
    assert fitted.recipe == Recipe.parse(steps).to_list()
    train = ws.data.load(f"{data}_train")
    if "payment_method" in train:  # the canaries are where the job's split put them
        assert not train["payment_method"].str.startswith("CANARY").any()
        assert train["tenure"].notna().all()
        counts = train["multiple_lines"].value_counts()
        assert counts["No"] > counts["Yes"]
    validation_rows = ws.data.load(f"{data}_validation")
    test = ws.data.load(f"{data}_test")
    development = train if validation == "holdout" else pd.concat([train, validation_rows])
    development = development.reset_index(drop=True)
    probe = test[model.input_columns]
    expected = refit(model, development, target)
    everything = pd.concat([train, validation_rows, test]).reset_index(drop=True)
    leaky = refit(model, everything, target)
    assert len(fitted.ops_) == len(expected.ops_) == len(steps)
    for mine, theirs, leaked in zip(fitted.ops_, expected.ops_, leaky.ops_, strict=True):
        assert same_state(vars(mine), vars(theirs)) is None, (
            f"{mine.label} learnt from rows beyond the training split: "
            f"{same_state(vars(mine), vars(theirs))}"
        )
        stateless = mine.step.name in STATELESS or getattr(mine.step, "method", "") == "normalizer"
        if not stateless:
            assert same_state(vars(mine), vars(leaked)) is not None, (
                f"{mine.label}: fitting on all rows changes nothing, so this check is blind"
            )
    assert same_state(fitted.finish_, expected.finish_) is None
    assert np.allclose(dense(fitted.transform(probe)), dense(expected.transform(probe)))


@pytest.mark.parametrize("chain", sorted(CHURN_CHAINS))
def test_fitting_steps_see_only_training_rows(workspace, chain):
    check_fitted_on(workspace, "churn", "churn", CHURN_CHAINS[chain])


def test_with_cross_validation_the_recipe_sees_train_and_validation_rows_only(workspace):
    check_fitted_on(workspace, "churn", "churn", CHURN_CHAINS["statistics"], validation="kfold:3")


@pytest.mark.parametrize(
    "chain", [TEXT_CHAIN, TEXT_CHAIN_2, TEXT_CHAIN_3], ids=["tfidf_svd", "osb", "bow_select"]
)
def test_text_steps_see_only_training_rows(workspace, chain):
    frame = workspace.data.load("docs")
    binary = frame.assign(numpy=np.where(frame["library"] == "numpy", "yes", "no"))
    workspace.data.ingest(binary.drop(columns=["library"]), name="docs_numpy")
    check_fitted_on(workspace, "docs_numpy", "numpy", chain, algorithm="linear")


@pytest.mark.parametrize(
    "step", ["drop_missing_rows", "oversample", "undersample", "edited_nearest_neighbours"]
)
def test_row_steps_keep_only_training_rows(step):
    """Row-changing steps output training rows only (resamplers: nothing but training rows)."""
    frame = pd.read_csv(CHURN_CSV)
    train, held_out = frame.iloc[:5000], frame.iloc[5000:]
    y = (train.pop("churn") == "Yes").to_numpy(int)
    features = ["tenure", "monthly_charges", "total_charges"]
    recipe = RecipeTransformer(
        recipe=[{"step": "impute", "columns": ["tenure"]}, {"step": step}],
        column_types=dict.fromkeys(features, "numeric"),
        problem_type="binary",
    )
    X, _ = recipe.fit_resample(train[features], y)
    seen = {tuple(np.round(r, 6)) for r in recipe.transform(train[features])}
    assert all(tuple(np.round(r, 6)) in seen for r in X)
    held = {tuple(np.round(r, 6)) for r in recipe.transform(held_out[features])}
    assert held - seen  # held-out rows would have been noticed


@pytest.mark.parametrize("step", ["smote", "adasyn"])
def test_synthetic_rows_come_from_training_rows_only(step):
    """SMOTE and ADASYN keep the training rows and add points between training minority rows:
    none reaches the extreme values planted in the held-out rows."""
    frame = pd.read_csv(CHURN_CSV)
    train, held_out = frame.iloc[:5000].copy(), frame.iloc[5000:].copy()
    held_out["monthly_charges"] = 1e6  # a canary a leaky resampler would interpolate towards
    y = (train.pop("churn") == "Yes").to_numpy(int)
    features = ["tenure", "monthly_charges", "total_charges"]
    recipe = RecipeTransformer(
        recipe=[{"step": "impute", "columns": ["total_charges"]}, {"step": step}],
        column_types=dict.fromkeys(features, "numeric"),
        problem_type="binary",
    )
    X, y_fit = recipe.fit_resample(train[features], y)
    original = recipe.transform(train[features])
    assert np.allclose(X[: len(original)], original)  # the training rows, then new ones
    synthetic = X[len(original) :]
    assert len(synthetic) and (y_fit[len(original) :] == 1).all()
    minority = original[y == 1]
    assert (synthetic >= minority.min(axis=0) - 1e-9).all()
    assert (synthetic <= minority.max(axis=0) + 1e-9).all()
    assert recipe.transform(held_out[features])[:, 1].max() == 1e6  # the canary is real
