"""Nothing from validation or test rows reaches a recipe's fit.

For every fitting step, a training job's fitted recipe must equal the same recipe fitted in this
process on the training split alone (with cross-validation: on train + validation, the rows the
final model is refit on). A step fitted on more rows would learn different statistics, and each
test also checks that it would notice: the recipe fitted on all rows differs.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from sklearn.base import clone

from conftest import CHURN_CSV, FIXTURES
from kiln.recipe import Recipe, RecipeTransformer
from kiln.training._job import order_classes

CHURN_CHAINS = {
    "statistics": [
        {"step": "drop_missing_columns", "threshold": 0.5},
        {"step": "missing_indicator"},
        {"step": "impute", "columns": ["total_charges"], "strategy": "mean"},
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
        {"step": "bin", "columns": ["tenure"], "method": "width", "bins": 3},
        {"step": "scale", "columns": ["total_charges"], "method": "robust"},
        {"step": "scale", "columns": ["monthly_charges"], "method": "minmax"},
        {
            "step": "pca",
            "columns": ["monthly_charges", "total_charges", "senior_citizen"],
            "n_components": 2,
        },
        {"step": "one_hot"},
        {"step": "select_by_importance", "k": 20},
    ],
    "more_models": [
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


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    import kiln

    ws = kiln.Workspace.init(tmp_path_factory.mktemp("leakage") / "ws")
    ws.data.ingest(CHURN_CSV, name="churn")
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
    validation_rows = ws.data.load(f"{data}_validation")
    test = ws.data.load(f"{data}_test")
    development = train if validation == "holdout" else pd.concat([train, validation_rows])
    development = development.reset_index(drop=True)
    probe = test[model.input_columns]
    expected = refit(model, development, target)
    assert np.allclose(dense(fitted.transform(probe)), dense(expected.transform(probe)))
    everything = pd.concat([train, validation_rows, test]).reset_index(drop=True)
    leaky = refit(model, everything, target)
    leaky_out, out = dense(leaky.transform(probe)), dense(fitted.transform(probe))
    assert leaky_out.shape != out.shape or not np.allclose(leaky_out, out), "insensitive test"


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
