"""Each recipe step on real data: what it learns from training rows and what it outputs."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import scipy.stats

from conftest import CHURN_CSV, FIXTURES
from kiln.data._schema import infer_schema
from kiln.recipe import RecipeError, compile_recipe, plan
from kiln.recipe._spec import Recipe
from kiln.settings import set_pii_key


def types_of(frame: pd.DataFrame) -> dict[str, str]:
    schema = infer_schema(pa.Table.from_pandas(frame, preserve_index=False))
    return {c["name"]: c["type"] for c in schema["columns"]}


@pytest.fixture(scope="module")
def churn():
    frame = pd.read_csv(CHURN_CSV)
    y = (frame.pop("churn") == "Yes").to_numpy(int)
    return frame, types_of(frame), y


@pytest.fixture(scope="module")
def housing():
    frame = pd.read_csv(FIXTURES / "housing_prices.csv")
    y = frame.pop("price").to_numpy(float)
    return frame, types_of(frame), y


def fit(steps, data, problem_type="binary", scale=False):
    frame, types, y = data
    recipe = compile_recipe(steps, types, problem_type=problem_type, scale_numeric=scale, seed=0)
    X, y_fit = recipe.fit_resample(frame, y)
    return recipe, X, y_fit


def after(recipe, frame):
    return recipe.transform_frame(frame).dense


# --- missing values ---------------------------------------------------------------------


def test_drop_missing_rows_drops_training_rows_only(churn):
    frame, _, y = churn
    recipe, X, y_fit = fit([{"step": "drop_missing_rows", "columns": ["total_charges"]}], churn)
    assert len(X) == len(y_fit) == len(frame) - frame["total_charges"].isna().sum() == 7032
    assert len(recipe.transform(frame)) == len(frame)  # inference keeps every row


def test_drop_missing_columns_learns_from_the_training_share(churn):
    frame, types, y = churn
    holed = frame.copy()
    holed.loc[: len(frame) // 2, "tenure"] = np.nan  # ~50% missing
    recipe, _, _ = fit([{"step": "drop_missing_columns", "threshold": 0.4}], (holed, types, y))
    assert "tenure" not in after(recipe, holed)
    assert "total_charges" in after(recipe, holed)  # 0.16% missing


@pytest.mark.parametrize(
    "strategy, expected",
    [
        ("mean", lambda c: c.mean()),
        ("median", lambda c: c.median()),
        ("most_frequent", lambda c: c.mode()[0]),
        ("constant", lambda c: 0.0),
    ],
)
def test_simple_imputation_fills_with_the_training_statistic(churn, strategy, expected):
    frame, _, _ = churn
    step = {"step": "impute", "columns": ["total_charges"], "strategy": strategy}
    recipe, _, _ = fit([step], churn)
    missing = frame["total_charges"].isna()
    filled = after(recipe, frame)["total_charges"]
    assert filled.notna().all()
    assert np.allclose(filled[missing], expected(frame["total_charges"]))
    assert np.allclose(filled[~missing], frame["total_charges"][~missing])


@pytest.mark.parametrize("strategy", ["ffill", "bfill", "interpolate", "knn", "iterative"])
def test_other_imputers_fill_every_value_and_keep_the_known_ones(churn, strategy):
    frame, _, _ = churn
    step = {"step": "impute", "columns": ["tenure", "total_charges"], "strategy": strategy}
    recipe, _, _ = fit([step], churn)
    out = after(recipe, frame)
    missing = frame["total_charges"].isna()
    assert out["total_charges"].notna().all()
    assert np.allclose(out["total_charges"][~missing], frame["total_charges"][~missing])
    # A single-row request with a missing value still gets a value.
    single = after(recipe, frame[missing].head(1))
    assert single["total_charges"].notna().all()
    if strategy == "ffill":
        first = np.flatnonzero(missing)[0]
        assert out["total_charges"][first] == frame["total_charges"][first - 1]


def test_imputing_a_categorical_with_the_mean_names_the_column(churn):
    with pytest.raises(RecipeError, match="'contract' is categorical") as error:
        fit([{"step": "impute", "columns": ["contract"], "strategy": "mean"}], churn)
    assert error.value.code == "recipe.wrong-type"


def test_categorical_most_frequent_and_missing_indicator(churn):
    frame, types, y = churn
    holed = frame.copy()
    holed.loc[:9, "contract"] = None
    recipe, _, _ = fit(
        [
            {"step": "missing_indicator", "columns": ["contract", "tenure"]},
            {"step": "impute", "columns": ["contract"], "strategy": "most_frequent"},
        ],
        (holed, types, y),
    )
    out = after(recipe, holed)
    assert (out["contract"][:10] == "Month-to-month").all()
    assert out["contract_missing"][:10].eq(1).all() and out["contract_missing"][10:].eq(0).all()
    assert "tenure_missing" not in out  # tenure had no missing training values


# --- outliers ---------------------------------------------------------------------------


def test_iqr_clip_uses_training_quartiles(housing):
    frame, _, _ = housing
    recipe, _, _ = fit([{"step": "outliers", "columns": ["lotsize"], "treat": "clip"}], housing)
    q1, q3 = frame["lotsize"].quantile([0.25, 0.75])
    high = q3 + 1.5 * (q3 - q1)
    out = after(recipe, frame)["lotsize"]
    assert out.max() == pytest.approx(high) and frame["lotsize"].max() > high
    huge = after(recipe, frame.assign(lotsize=1e9).head(2))["lotsize"]
    assert np.allclose(huge, high)


def test_percentile_clip_winsorises_at_training_percentiles(housing):
    frame, _, _ = housing
    step = {"step": "outliers", "columns": ["lotsize"], "detect": "percentile", "threshold": 0.1}
    recipe, _, _ = fit([step], housing)
    low, high = np.percentile(frame["lotsize"], [10, 90])
    out = after(recipe, frame)["lotsize"]
    assert out.min() == pytest.approx(low) and out.max() == pytest.approx(high)
    inside = (frame["lotsize"] > low) & (frame["lotsize"] < high)
    assert (out[inside] == frame["lotsize"][inside]).all()


def test_zscore_median_replacement_and_log_treatment(housing):
    frame, _, _ = housing
    recipe, _, _ = fit(
        [
            {
                "step": "outliers",
                "columns": ["lotsize"],
                "detect": "zscore",
                "treat": "median",
                "threshold": 2,
            }
        ],
        housing,
    )
    z = np.abs(scipy.stats.zscore(frame["lotsize"]))
    out = after(recipe, frame)["lotsize"]
    inlier_median = frame["lotsize"][z <= 2].median()
    assert (z > 2).sum() > 0
    assert np.allclose(out[z > 2], inlier_median)
    recipe, _, _ = fit([{"step": "outliers", "columns": ["lotsize"], "treat": "log"}], housing)
    assert np.allclose(after(recipe, frame)["lotsize"], np.log1p(frame["lotsize"]))


@pytest.mark.parametrize(
    "detect", ["isolation_forest", "lof", "elliptic_envelope", "one_class_svm", "dbscan"]
)
def test_model_based_detectors_drop_training_rows_and_clip_at_inference(housing, detect):
    frame, _, _ = housing
    columns = ["lotsize", "bedrooms", "bathrms"]
    options = {"eps": 0.8} if detect == "dbscan" else {"contamination": 0.05}
    _, X, y_fit = fit(
        [{"step": "outliers", "columns": columns, "detect": detect, "treat": "drop", **options}],
        housing,
    )
    assert len(frame) * 0.8 < len(X) == len(y_fit) < len(frame)
    recipe, _, _ = fit(
        [{"step": "outliers", "columns": columns, "detect": detect, "treat": "clip", **options}],
        housing,
    )
    extreme = after(recipe, frame.assign(lotsize=1e9).head(3))["lotsize"]
    assert (extreme < frame["lotsize"].max() + 1).all()


# --- numeric transforms -------------------------------------------------------------------


@pytest.mark.parametrize(
    "function, reference",
    [
        ("log", np.log),
        ("log1p", np.log1p),
        ("sqrt", np.sqrt),
        ("cbrt", np.cbrt),
        ("reciprocal", lambda x: 1 / x),
        ("box_cox", lambda x: scipy.stats.boxcox(x)[0]),
        ("yeo_johnson", lambda x: scipy.stats.yeojohnson(x)[0]),
    ],
)
def test_transforms_match_numpy_and_scipy(housing, function, reference):
    frame, _, _ = housing
    recipe, _, _ = fit(
        [{"step": "transform", "columns": ["lotsize"], "function": function}], housing
    )
    out = after(recipe, frame)["lotsize"].to_numpy()
    assert np.allclose(out, reference(frame["lotsize"].to_numpy(float)), rtol=1e-4)


def test_log_of_non_positive_training_values_names_the_column(housing):
    with pytest.raises(RecipeError, match=r"'garagepl' has 300 .*\(e\.g\. 0\)") as error:
        fit([{"step": "transform", "columns": ["garagepl"], "function": "log"}], housing)
    assert error.value.field == "garagepl"


def test_log_of_a_non_positive_request_value_is_missing_then_imputed(housing):
    frame, _, _ = housing
    recipe, _, _ = fit([{"step": "transform", "columns": ["lotsize"], "function": "log"}], housing)
    assert np.isnan(after(recipe, frame.assign(lotsize=-5.0).head(1))["lotsize"][0])
    assert np.isfinite(recipe.transform(frame.assign(lotsize=-5.0).head(1))).all()


def test_bins_by_edges_with_labels_quantiles_and_width(housing):
    frame, _, _ = housing
    recipe, _, _ = fit(
        [
            {
                "step": "bin",
                "columns": ["bedrooms"],
                "method": "edges",
                "edges": [2, 4],
                "labels": ["small", "medium", "large"],
            }
        ],
        housing,
    )
    out = after(recipe, frame)["bedrooms"]
    expected = np.where(
        frame["bedrooms"] < 2, "small", np.where(frame["bedrooms"] < 4, "medium", "large")
    )
    assert (out.to_numpy() == expected).all()
    recipe, _, _ = fit([{"step": "bin", "columns": ["lotsize"], "bins": 4}], housing)
    counts = after(recipe, frame)["lotsize"].value_counts()
    assert len(counts) == 4 and counts.min() > len(frame) * 0.2
    recipe, _, _ = fit(
        [{"step": "bin", "columns": ["lotsize"], "method": "width", "bins": 3}], housing
    )
    assert after(recipe, frame)["lotsize"].nunique() == 3
    with pytest.raises(RecipeError, match="need 3 labels"):
        fit(
            [
                {
                    "step": "bin",
                    "columns": ["bedrooms"],
                    "method": "edges",
                    "edges": [2, 4],
                    "labels": ["a", "b"],
                }
            ],
            housing,
        )


# --- scaling ----------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["standard", "minmax", "maxabs", "robust", "normalizer"])
def test_scalers_match_scikit_learn(housing, method):
    from sklearn import preprocessing as p

    frame, _, _ = housing
    columns = ["lotsize", "bedrooms"]
    recipe, _, _ = fit([{"step": "scale", "columns": columns, "method": method}], housing)
    reference = {
        "standard": p.StandardScaler(),
        "minmax": p.MinMaxScaler(),
        "maxabs": p.MaxAbsScaler(),
        "robust": p.RobustScaler(),
        "normalizer": p.Normalizer(),
    }[method].fit_transform(frame[columns].to_numpy(float))
    assert np.allclose(after(recipe, frame)[columns].to_numpy(), reference)


# --- categorical encoding ---------------------------------------------------------------


def test_one_hot_caps_columns_and_groups_rare_and_unseen_values(churn):
    frame, _, _ = churn
    recipe, X, _ = fit(
        [{"step": "one_hot", "columns": ["payment_method"], "max_categories": 3}], churn
    )
    out = after(recipe, frame)
    made = [c for c in out if c.startswith("payment_method=")]
    assert len(made) == 3 and "payment_method=other" in made
    assert (out[made].sum(axis=1) == 1).all()
    unseen = after(recipe, frame.head(1).assign(payment_method="Bitcoin"))
    assert unseen["payment_method=other"][0] == 1


def test_ordinal_uses_the_given_order_and_refuses_unlisted_training_values(churn):
    frame, _, _ = churn
    order = ["Month-to-month", "One year", "Two year"]
    recipe, _, _ = fit(
        [{"step": "ordinal", "columns": ["contract"], "order": {"contract": order}}], churn
    )
    assert (after(recipe, frame)["contract"] == frame["contract"].map(order.index)).all()
    with pytest.raises(RecipeError, match="'Two year'.* missing from its order"):
        fit([{"step": "ordinal", "columns": ["contract"], "order": {"contract": order[:2]}}], churn)


def test_target_encoding_cross_fits_training_rows(churn):
    frame, _, y = churn
    recipe, X, _ = fit([{"step": "target_encode", "columns": ["payment_method"]}], churn)
    names = list(recipe.get_feature_names_out())
    j = names.index("payment_method_target")
    training_values = X[:, j]
    inference_values = recipe.transform(frame)[:, j]
    # At inference every row of a category gets one value; training rows get out-of-fold ones.
    assert pd.Series(inference_values).groupby(frame["payment_method"]).nunique().max() == 1
    assert pd.Series(training_values).groupby(frame["payment_method"]).nunique().min() > 1
    # The encoding is the (smoothed) churn rate of the category.
    rate = pd.Series(y).groupby(frame["payment_method"]).mean()
    encoded = pd.Series(inference_values).groupby(frame["payment_method"]).first()
    assert np.allclose(encoded[rate.index], rate, atol=0.02)


def test_frequency_and_hash_encoding(churn):
    frame, _, _ = churn
    recipe, _, _ = fit(
        [
            {"step": "frequency_encode", "columns": ["contract"]},
            {"step": "hash_encode", "columns": ["payment_method"], "n_features": 8},
        ],
        churn,
    )
    out = after(recipe, frame)
    shares = frame["contract"].value_counts(normalize=True)
    assert np.allclose(out["contract_frequency"], frame["contract"].map(shares))
    hashed = out[[f"payment_method_hash{i}" for i in range(8)]].to_numpy()
    assert (np.abs(hashed).sum(axis=1) == 1).all()
    assert len({tuple(r) for r in hashed}) == frame["payment_method"].nunique()
    assert after(recipe, frame.head(1).assign(contract="Decade"))["contract_frequency"][0] == 0


# --- feature creation -------------------------------------------------------------------


def test_cross_polynomial_ratio_and_product(housing, churn):
    frame, _, _ = housing
    recipe, _, _ = fit(
        [
            {"step": "polynomial", "columns": ["lotsize", "bedrooms"], "degree": 2},
            {"step": "ratio", "numerator": ["lotsize"], "denominator": ["garagepl"]},
            {"step": "product", "columns": ["bedrooms", "bathrms"]},
        ],
        housing,
    )
    out = after(recipe, frame)
    assert np.allclose(out["lotsize^2"], frame["lotsize"] ** 2)
    assert np.allclose(out["lotsize*bedrooms"], frame["lotsize"] * frame["bedrooms"])
    ratio = out["lotsize_per_garagepl"]
    assert ratio[frame["garagepl"] == 0].isna().all()
    assert np.allclose(
        ratio[frame["garagepl"] > 0], (frame["lotsize"] / frame["garagepl"])[frame["garagepl"] > 0]
    )
    assert np.allclose(out["bedrooms_x_bathrms"], frame["bedrooms"] * frame["bathrms"])
    frame, _, _ = churn
    recipe, _, _ = fit([{"step": "cross", "columns": ["contract", "internet_service"]}], churn)
    crossed = after(recipe, frame)["contract_x_internet_service"]
    assert crossed[0] == f"{frame['contract'][0]}|{frame['internet_service'][0]}"
    assert crossed.nunique() == 9


def test_datetime_parts(churn):
    frame, types, y = churn
    dated = frame.assign(signup=pd.date_range("2024-01-01 08:00", periods=len(frame), freq="7h"))
    recipe, _, _ = fit(
        [{"step": "datetime_parts", "columns": ["signup"]}], (dated, types_of(dated), y)
    )
    out = after(recipe, dated)
    moments = dated["signup"]
    assert "signup" not in out
    assert (out["signup_month"] == moments.dt.month).all()
    assert (out["signup_hour"] == moments.dt.hour).all()
    assert (out["signup_weekend"] == (moments.dt.day_of_week >= 5)).all()


def test_tree_leaves_are_one_hot_leaf_memberships(churn):
    frame, _, _ = churn
    recipe, _, _ = fit(
        [
            {
                "step": "tree_leaves",
                "columns": ["tenure", "monthly_charges"],
                "n_trees": 5,
                "max_depth": 2,
            }
        ],
        churn,
    )
    leaves = after(recipe, frame).filter(like="leaf_")
    assert leaves.shape[1] <= 5 * 4
    assert (leaves.sum(axis=1) == 5).all()  # one leaf per tree


# --- text -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def docstrings():
    frame = pd.read_csv(FIXTURES / "docstrings.csv")
    y = (frame.pop("library") == "numpy").to_numpy(int)
    types = types_of(frame)
    assert types["text"] == "text"
    return frame, types, y


def test_text_cleaning_steps(docstrings):
    frame, _, _ = docstrings
    cleaning = [
        {"step": "lowercase", "columns": ["text"]},
        {"step": "remove_punctuation", "columns": ["text"]},
        {"step": "remove_stopwords", "columns": ["text"]},
        {"step": "stem", "columns": ["text"]},
    ]
    recipe, _, _ = fit([*cleaning, {"step": "bag_of_words", "columns": ["text"]}], docstrings)
    assert frame["text"][0] == "Calculate the absolute value element-wise."
    cleaned = (
        recipe.ops_[-2]
        .apply(
            recipe.ops_[-3].apply(
                recipe.ops_[-4].apply(recipe.ops_[-5].apply(recipe._frame(frame.head(1))))
            )
        )
        .dense["text"][0]
    )
    assert cleaned == "calcul absolut valu element wise"
    vocabulary = {n.split("=", 1)[1] for n in recipe.get_feature_names_out()}
    assert {"calcul", "absolut", "valu"} <= vocabulary and not {"the", "Calculate"} & vocabulary
    restored = pickle.loads(pickle.dumps(recipe))
    assert (restored.transform(frame.head(5)) != recipe.transform(frame.head(5))).nnz == 0


def test_text_left_raw_is_not_a_feature(docstrings):
    with pytest.raises(RecipeError, match="no features .* need a vectorising step") as error:
        fit([{"step": "lowercase", "columns": ["text"]}], docstrings)
    assert error.value.code == "recipe.no-features"


@pytest.mark.parametrize("step", ["bag_of_words", "tfidf", "osb"])
def test_vectorizers_make_a_sparse_block_from_training_vocabulary(docstrings, step):
    frame, _, y = docstrings
    recipe, X, _ = fit([{"step": step, "columns": ["text"], "min_df": 2}], docstrings)
    import scipy.sparse as sp

    assert sp.issparse(X) and X.shape[0] == len(frame)
    names = [n for n in recipe.get_feature_names_out() if n.startswith(f"text_{step}=")]
    assert len(names) > 100
    if step == "osb":
        assert "text_osb=the_0_absolute" in names or any(n.count("_") >= 3 for n in names)
    unseen = recipe.transform(frame.head(1).assign(text="zzzqqq xxyyzz"))
    assert unseen[:, -len(names) :].nnz == 0


def test_a_vectorizer_that_keeps_a_categorical_column_adds_its_words_beside_its_encoding():
    """Titles typed as categorical: their words as a TF-IDF block, and the column itself still
    encoded by the default recipe (one-hot here, codes for the models that take them)."""
    titles = ["Untitled red", "Untitled blue", "Study in red", "Study in blue", "Red shore"]
    frame = pd.DataFrame({"title": titles * 20, "n": np.arange(100.0)})
    data = (frame, {"title": "categorical", "n": "numeric"}, np.arange(100) % 2)
    kept, X, _ = fit([{"step": "tfidf", "columns": ["title"], "keep": True}], data)
    names = list(kept.get_feature_names_out())
    assert "title_tfidf=untitled" in names and "title_Untitled red" in names
    assert X.shape[1] == len(names)
    dropped, _, _ = fit([{"step": "tfidf", "columns": ["title"]}], data)
    assert not [n for n in dropped.get_feature_names_out() if n.startswith("title_Untitled")]
    codes = compile_recipe(
        [{"step": "tfidf", "columns": ["title"], "keep": True}],
        data[1],
        problem_type="binary",
        scale_numeric=False,
        seed=0,
        categorical_codes=255,
    )
    codes.fit_resample(frame, data[2])
    assert "title" in list(codes.get_feature_names_out())  # one column of codes


def test_text_stats_describe_each_text_and_keep_it_for_the_vectorizer():
    frame = pd.DataFrame(
        {
            "t": ["Hello @bob! See https://x.co #win", None, "plain words here."],
            "n": [1.0, 2.0, 3.0],
        }
    )
    data = (frame, {"t": "text", "n": "numeric"}, np.array([0, 1, 0]))
    recipe, X, _ = fit([{"step": "text_stats"}, {"step": "tfidf", "columns": ["t"]}], data)
    out = after(recipe, frame)
    first = out.iloc[0]
    assert (first["t_characters"], first["t_words"]) == (33, 5)
    assert (first["t_links"], first["t_mentions"], first["t_hashtags"]) == (1, 1, 1)
    assert first["t_exclamations"] == 1 and first["t_slashes"] == 2
    assert first["t_capitals"] == pytest.approx(2 / 33)
    assert out.iloc[1][["t_characters", "t_words", "t_links"]].isna().all()  # no text
    assert out.iloc[2]["t_punctuation"] == pytest.approx(1 / 17)
    names = list(recipe.get_feature_names_out())
    assert "t_words" in names and "t_tfidf=plain" in names and X.shape[1] == len(names)
    assert plan(Recipe.parse([{"step": "text_stats"}, {"step": "tfidf"}]), data[1], "binary") == [
        "t"
    ]


def test_osb_tokens_pair_words_with_their_gap():
    from kiln.recipe._ops import OsbAnalyzer

    assert OsbAnalyzer(3)("Big red, fox") == ["big_0_red", "big_1_fox", "red_0_fox"]


# --- reduction and selection ------------------------------------------------------------


def test_pca_and_truncated_svd(housing, docstrings):
    frame, _, _ = housing
    numeric = ["lotsize", "bedrooms", "bathrms", "stories"]
    recipe, _, _ = fit(
        [
            {"step": "scale", "columns": numeric},
            {"step": "pca", "columns": numeric, "n_components": 2},
        ],
        housing,
    )
    out = after(recipe, frame)
    assert "pc1" in out and "pc2" in out and "lotsize" not in out
    frame, _, _ = docstrings
    recipe, X, _ = fit(
        [{"step": "tfidf", "columns": ["text"]}, {"step": "truncated_svd", "n_components": 20}],
        docstrings,
    )
    assert X.shape == (len(frame), 20)


def test_pca_on_missing_values_says_to_impute_first(churn):
    with pytest.raises(RecipeError, match=r"total_charges \(11 missing\).*impute"):
        fit([{"step": "pca", "columns": ["tenure", "total_charges"]}], churn)


def test_selection_steps_keep_k_features(churn):
    frame, _, y = churn
    base = [{"step": "impute"}, {"step": "one_hot"}]
    for step in ("select_mutual_info", "select_by_importance", "rfe"):
        recipe, X, _ = fit([*base, {"step": step, "k": 6}], churn)
        assert X.shape[1] == 6, step
    recipe, X, _ = fit([*base, {"step": "select_mutual_info", "k": 1}], churn)
    assert list(recipe.get_feature_names_out()) == ["contract=Month-to-month"] or X.shape[1] == 1


def test_variance_threshold_and_correlation_filter(housing):
    frame, types, y = housing
    extra = frame.assign(constant=1.0, lotsize_twice=frame["lotsize"] * 2)
    recipe, _, _ = fit(
        [{"step": "variance_threshold"}, {"step": "correlation_filter", "threshold": 0.99}],
        (extra, types_of(extra), y),
        problem_type="regression",
    )
    out = after(recipe, extra)
    assert "constant" not in out and "lotsize_twice" not in out and "lotsize" in out


# --- PII, resampling, other -------------------------------------------------------------


def test_hash_pii_is_keyed_and_the_key_is_never_in_the_model(churn, monkeypatch):
    frame, _, _ = churn
    monkeypatch.delenv("KILN_PII_KEY", raising=False)
    set_pii_key(None)
    with pytest.raises(RecipeError, match="pii_key") as error:
        fit([{"step": "hash_pii", "columns": ["payment_method"]}], churn)
    assert error.value.code == "recipe.no-pii-key"
    set_pii_key("first-secret-key")
    try:
        recipe, _, _ = fit([{"step": "hash_pii", "columns": ["payment_method"]}], churn)
        tokens = after(recipe, frame)["payment_method"]
        assert tokens.nunique() == frame["payment_method"].nunique()
        assert not set(tokens) & set(frame["payment_method"])
        blob = pickle.dumps(recipe)
        assert b"first-secret-key" not in blob
        set_pii_key("another-key")
        assert (after(pickle.loads(blob), frame)["payment_method"] != tokens).all()
    finally:
        set_pii_key(None)


@pytest.mark.parametrize(
    "step", ["oversample", "undersample", "smote", "adasyn", "edited_nearest_neighbours"]
)
def test_resampling_changes_training_rows_only(churn, step):
    frame, _, y = churn
    recipe, X, y_fit = fit([{"step": step}], churn)
    assert len(X) == len(y_fit) != len(y)
    if step != "edited_nearest_neighbours":
        assert abs(y_fit.mean() - 0.5) < 0.02  # balanced; churn is 26.5% positive
    else:
        assert y_fit.mean() > y.mean()  # majority rows near the class boundary are removed
    assert recipe.transform(frame).shape[0] == len(frame)


def test_resampling_a_regression_target_is_refused(housing):
    frame, types, _ = housing
    with pytest.raises(RecipeError, match="classification target"):
        plan(Recipe.parse([{"step": "smote"}]), types, "regression")


def test_function_step_and_drop_columns(churn):
    frame, _, _ = churn
    recipe, _, _ = fit(
        [
            {
                "step": "function",
                "function": "recipe_functions:charges_per_month",
                "columns": ["tenure", "total_charges"],
            },
            {"step": "drop_columns", "columns": ["female"]},
        ],
        churn,
    )
    out = after(recipe, frame)
    assert "female" not in out and "tenure" not in out
    expected = frame["total_charges"] / frame["tenure"].clip(lower=1)
    assert np.allclose(out["charges_per_month"], expected, equal_nan=True)
    with pytest.raises(RecipeError, match="cannot import function 'nowhere:nothing'"):
        fit([{"step": "function", "function": "nowhere:nothing"}], churn)
    with pytest.raises(RecipeError, match="must return a DataFrame with 7043 rows"):
        fit([{"step": "function", "function": "recipe_functions:wrong_length"}], churn)


# --- selection of columns ---------------------------------------------------------------


def test_selectors_regex_and_errors(churn):
    frame, types, _ = churn
    recipe, _, _ = fit([{"step": "scale", "columns": {"regex": "_charges$"}}], churn)
    out = after(recipe, frame)
    assert abs(out["monthly_charges"].mean()) < 1e-9 and out["tenure"].mean() > 1
    with pytest.raises(RecipeError, match="unknown column 'tenur'. Did you mean 'tenure'"):
        fit([{"step": "scale", "columns": ["tenur"]}], churn)
    with pytest.raises(RecipeError, match="matches no datetime column") as error:
        fit([{"step": "datetime_parts"}], churn)
    assert error.value.code == "recipe.empty-selection"
    with pytest.raises(RecipeError, match="learns from the target"):
        plan(Recipe.parse([{"step": "target_encode"}]), types, None)


# --- inference-time robustness ----------------------------------------------------------


def test_integers_at_training_and_floats_at_inference_are_the_same_category(churn):
    """Requests carry JSON numbers and CSV columns read as floats; the lake holds integers."""
    frame, _, _ = churn
    set_pii_key("a-key")
    try:
        recipe, _, _ = fit(
            [
                {"step": "hash_pii", "columns": ["tenure"]},
                {"step": "cross", "columns": ["contract", "tenure"]},
                {"step": "frequency_encode", "columns": ["tenure"]},
            ],
            churn,
        )
        as_ints = recipe.transform(frame.head(20))
        as_floats = recipe.transform(frame.head(20).astype({"tenure": float}))
        as_objects = recipe.transform(frame.head(20).astype({"tenure": object}))
        assert np.array_equal(as_ints, as_floats) and np.array_equal(as_ints, as_objects)
        assert (after(recipe, frame.head(20))["tenure_frequency"] > 0).all()
    finally:
        set_pii_key(None)


def test_only_matrix_steps_take_text_blocks(docstrings):
    frame, _, _ = docstrings
    recipe, X, _ = fit(
        [{"step": "tfidf", "columns": ["text"]}, {"step": "missing_indicator"}], docstrings
    )
    assert X.shape[0] == len(frame)  # "all" means the dense columns; the block is left alone
    with pytest.raises(RecipeError, match="matches no numeric column"):
        fit(
            [{"step": "tfidf", "columns": ["text"]}, {"step": "scale", "columns": "features"}],
            docstrings,
        )


def test_a_text_or_identifier_column_is_an_input_only_when_named(docstrings):
    _, types, _ = docstrings
    assert plan(Recipe.parse([{"step": "missing_indicator"}]), types, "binary") == []
    named = [{"step": "tfidf", "columns": ["text"]}, {"step": "hash_pii", "columns": ["name"]}]
    assert plan(Recipe.parse(named), types, "binary") == ["text", "name"]
    assert plan(Recipe.parse([{"step": "tfidf"}]), types, "binary") == ["text"]


def test_late_errors_are_recipe_errors_naming_the_column(housing, docstrings):
    frame, types, y = housing
    with pytest.raises(RecipeError, match="'lotsize' is numeric, so fill_value must be a number"):
        fit(
            [
                {
                    "step": "impute",
                    "columns": ["lotsize"],
                    "strategy": "constant",
                    "fill_value": "missing",
                }
            ],
            housing,
        )
    flat = frame.assign(flat=3.0)
    with pytest.raises(RecipeError, match="two distinct training values in column 'flat'"):
        fit(
            [{"step": "transform", "columns": ["flat"], "function": "box_cox"}],
            (flat, types_of(flat), y),
        )
    text, text_types, labels = docstrings
    holed = text.assign(size=np.where(np.arange(len(text)) % 7, 1.0, np.nan))
    with pytest.raises(RecipeError, match=r"size \(\d+ missing\).*impute"):
        fit(
            [{"step": "tfidf", "columns": ["text"]}, {"step": "truncated_svd"}],
            (holed, {**text_types, "size": "numeric"}, labels),
        )


def test_yaml_yes_and_no_in_an_ordinal_order_match_the_data(housing, tmp_path):
    frame, _, _ = housing
    path = tmp_path / "recipe.yaml"
    path.write_text("- {step: ordinal, columns: [driveway], order: {driveway: [no, yes]}}\n")
    recipe, _, _ = fit(Recipe.parse(path).to_list(), housing)
    out = after(recipe, frame)["driveway"]
    assert (out == (frame["driveway"] == "yes").astype(float)).all()


def test_small_batches_finish_through_the_compiled_default_recipe_alike(churn):
    """Real-time requests skip the ColumnTransformer's per-call overhead; results must agree."""
    frame, _, _ = churn
    steps = [
        {"step": "impute", "columns": ["total_charges"]},
        {"step": "ratio", "numerator": ["total_charges"], "denominator": ["tenure"]},
        {"step": "bin", "columns": ["tenure"], "bins": 4},
        {"step": "cross", "columns": ["contract", "internet_service"]},
    ]
    recipe, _, _ = fit(steps, churn, scale=True)
    assert recipe.fast_finish_ is not None
    odd = frame.head(40).copy()
    odd.loc[0, "internet_service"] = "Satellite"  # unseen
    odd.loc[1, "monthly_charges"] = np.nan
    odd.loc[2, "tech_support"] = None
    in_one_go = recipe.transform(pd.concat([odd] * 3, ignore_index=True))[:40]  # > 64 rows
    small = np.vstack([recipe.transform(odd.iloc[i : i + 8]) for i in range(0, 40, 8)])
    assert np.allclose(in_one_go, small)
