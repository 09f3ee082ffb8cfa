"""LightGBM and histogram gradient boosting read categorical columns as codes that their trees
split by category (``categorical_encoding=native``, the default), through training, a refit of
the pipeline (learning curves) and the endpoint's compiled recipe; ``one_hot`` and recipes that
synthesise rows keep one-hot columns."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from kiln.recipe import categorical_code_columns


def shops(rows: int = 1500, seed: int = 0) -> pd.DataFrame:
    """Sales by shop: 80 shops, each with its own level, plus a little noise. One-hot columns
    keep 50 shops (the rest share one column); codes keep them all."""
    rng = np.random.default_rng(seed)
    level = rng.normal(0, 10, size=80)
    shop = rng.integers(0, 80, size=rows)
    return pd.DataFrame(
        {
            "shop": [f"shop {s:02d}" for s in shop],
            "size": rng.normal(size=rows),
            "sales": level[shop] + rng.normal(size=rows),
        }
    )


@pytest.fixture
def shop_ws(ws):
    ws.data.ingest(shops(), name="shops")
    return ws


def _booster_splits_by_category(estimator) -> bool:
    trees = estimator.booster_.dump_model()["tree_info"]

    def walk(node):
        if "decision_type" not in node:
            return False
        return (
            node["decision_type"] == "==" or walk(node["left_child"]) or walk(node["right_child"])
        )

    return any(walk(tree["tree_structure"]) for tree in trees)


def test_lightgbm_splits_categories_natively_and_beats_one_hot_on_many_of_them(shop_ws):
    ws = shop_ws
    native = ws.train("shops", target="sales", algorithm="lightgbm")
    one_hot = ws.train(
        "shops",
        target="sales",
        algorithm="lightgbm",
        hyperparameters={"categorical_encoding": "one_hot"},
    )
    model = ws.models.load(native.model.ref)
    assert categorical_code_columns(model.pipeline[0]) == [1]  # size, then shop's codes
    assert _booster_splits_by_category(model.pipeline[-1])
    assert not categorical_code_columns(ws.models.load(one_hot.model.ref).pipeline[0])
    # 80 shops: one-hot columns group 30 of them; codes tell every shop apart.
    assert native.model.metrics["test"]["rmse"] < 0.7 * one_hot.model.metrics["test"]["rmse"]


def test_a_refit_of_the_pipeline_keeps_the_codes_categorical(shop_ws):
    """The learning curve refits ``clone(pipeline)``: its estimator is told the codes again."""
    ws = shop_ws
    for algorithm in ("lightgbm", "hist_gradient_boosting"):
        result = ws.train("shops", target="sales", algorithm=algorithm)
        model = ws.models.load(result.model.ref)
        frame = ws.data.load("shops")
        refit = clone(model.pipeline).fit(frame[model.input_columns], frame["sales"])
        estimator = refit[-1]
        if algorithm == "lightgbm":
            assert _booster_splits_by_category(estimator)
        else:
            assert estimator.is_categorical_.tolist() == [False, True]


def test_hist_gradient_boosting_takes_codes_up_to_its_bins(shop_ws):
    ws = shop_ws
    result = ws.train(
        "shops",
        target="sales",
        algorithm="hist_gradient_boosting",
        hyperparameters={"max_bins": 32},
    )
    model = ws.models.load(result.model.ref)
    codes = model.pipeline[0].transform(ws.data.load("shops")[model.input_columns])[:, 1]
    assert np.nanmax(codes) == 31  # 32 codes: the 49 rarest shops share the last
    assert model.pipeline[-1].is_categorical_.tolist() == [False, True]


def test_a_recipe_that_synthesises_rows_keeps_one_hot_columns(ws):
    frame = shops(rows=600).assign(big=lambda f: np.where(f["sales"] > 12, "yes", "no"))
    ws.data.ingest(frame.drop(columns=["sales"]), name="big_shops")
    result = ws.train(
        "big_shops",
        target="big",
        algorithm="lightgbm",
        recipe=[{"step": "smote", "k_neighbors": 3}],
    )
    model = ws.models.load(result.model.ref)
    assert categorical_code_columns(model.pipeline[0]) == []
