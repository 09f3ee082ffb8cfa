import numpy as np
import pandas as pd
from sklearn.base import clone

from kiln.recipe import (
    build_preprocessor,
    categorical_code_columns,
    native_categorical_options,
)
from kiln.recipe._default import MISSING_CATEGORY, as_category_strings

TYPES = {"n": "numeric", "c": "categorical", "b": "boolean", "d": "datetime"}


def frame(rows=40, seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "n": np.where(rng.random(rows) < 0.2, np.nan, rng.normal(size=rows)),
            "c": rng.choice(["red", "green", "blue", None], size=rows),
            "b": rng.choice(["yes", "no"], size=rows),
            "d": pd.date_range("2024-01-01", periods=rows, freq="h"),
        }
    )


def test_missing_categories_become_one_marker():
    out = as_category_strings(pd.DataFrame({"a": ["x", None, np.nan], "b": [1, 2, None]}))
    assert out[:, 0].tolist() == ["x", MISSING_CATEGORY, MISSING_CATEGORY]
    assert out[2, 1] == MISSING_CATEGORY


def test_fit_uses_training_rows_only_and_transforms_a_single_row():
    train, other = frame(seed=1), frame(seed=2)
    pre = build_preprocessor(TYPES, scale_numeric=True).fit(train)
    median = pre.named_transformers_["numeric"].named_steps["impute"].statistics_[0]
    assert median == np.nanmedian(train["n"])
    one = pre.transform(other.head(1))
    assert one.shape == (1, pre.transform(train).shape[1])
    unseen = other.head(1).assign(c="purple", n=np.nan)
    assert np.isfinite(pre.transform(unseen)).all()


def test_clone_round_trip():
    pre = build_preprocessor(TYPES, scale_numeric=False)
    assert clone(pre).get_params().keys() == pre.get_params().keys()


def test_one_long_value_does_not_widen_every_cell():
    frame = pd.DataFrame({"c": ["x" * 10_000] + ["y"] * 999, "b": [True, None] * 500})
    out = as_category_strings(frame)
    assert out.dtype == object and out.nbytes == 2000 * 8  # pointers, not 10,000-wide text
    assert out[1, 1] == MISSING_CATEGORY and out[0, 1] == "True"


def test_categorical_codes_give_one_code_per_value_and_unseen_values_none():
    train = frame(rows=200, seed=3)
    pre = build_preprocessor(TYPES, scale_numeric=False, categorical_codes=255).fit(train)
    columns = categorical_code_columns(pre)
    names = pre.get_feature_names_out()[columns]
    assert [n.split("__")[1] for n in names] == ["c", "b"]
    out = pre.transform(train)[:, columns]
    assert sorted(np.unique(out[:, 0])) == [0, 1, 2, 3]  # three colours and the missing marker
    assert out.shape[1] == 2 and np.array_equal(out, out.astype(int))
    unseen = pre.transform(train.head(2).assign(c="purple"))[:, columns[0]]
    assert np.isnan(unseen).all()  # the trees read it as missing
    # The rarest values share the last code when a column has more values than codes.
    few = build_preprocessor(TYPES, scale_numeric=False, categorical_codes=2).fit(train)
    assert set(np.unique(few.transform(train)[:, columns[0]])) == {0.0, 1.0}
    assert categorical_code_columns(build_preprocessor(TYPES, scale_numeric=False).fit(train)) == []


def test_native_categorical_options_tell_each_estimator_its_way():
    import lightgbm
    from sklearn.linear_model import LogisticRegression

    from kiln.algorithms._hist_gradient_boosting import HistGradientBoostingClassifier

    hgb = HistGradientBoostingClassifier()
    assert native_categorical_options(hgb, [1, 3], 4) == {}
    assert hgb.get_params()["categorical_features"].tolist() == [False, True, False, True]
    options = native_categorical_options(lightgbm.LGBMClassifier(), [1, 3], 4)
    assert options == {"categorical_feature": [1, 3]}
    assert native_categorical_options(LogisticRegression(), [1, 3], 4) == {}
    assert native_categorical_options(lightgbm.LGBMClassifier(), [], 4) == {}
