"""The default preprocessing recipe, compiled to a scikit-learn ColumnTransformer.

Numerics: median imputation plus a missing-indicator column (and standard scaling for linear
models). Categoricals and booleans: one-hot with the rarest values grouped, unseen values mapped to
that group (or to all zeros); for models that split categories themselves (LightGBM, histogram
gradient boosting), one integer code per value instead, the rarest grouped, unseen values missing.
Datetimes: calendar parts. Text and identifier columns are not used.
"""

from __future__ import annotations

import inspect

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import (
    FunctionTransformer,
    OneHotEncoder,
    OrdinalEncoder,
    StandardScaler,
)

from kiln.data import BOOLEAN, CATEGORICAL, DATETIME, NUMERIC

MISSING_CATEGORY = "__missing__"
MAX_CATEGORIES = 50
# Codes per categorical column at most (the rarest values share one): scikit-learn's histogram
# gradient boosting splits at most its ``max_bins`` (255) categories.
MAX_CODES = 255
DATETIME_PARTS = ("year", "month", "day", "day_of_week", "hour")


def category_text(value) -> str:
    """One spelling per value: ``5``, ``5.0`` and ``np.int64(5)`` are all ``"5"``.

    Training data holds integers where requests (JSON numbers, CSV columns read as floats) may
    hold floats; without this the same category would be unseen at inference.
    """
    if isinstance(value, float | np.floating) and np.isfinite(value) and float(value).is_integer():
        return str(int(value))
    return str(value)


def as_category_strings(frame: pd.DataFrame) -> np.ndarray:
    """Categorical values as Python strings, missing as one marker, so mixed types encode alike.

    The result is an object array: NumPy's fixed-width text would size every cell for the longest
    value, so one long value in a chunk could take gigabytes.
    """
    out = np.empty(frame.shape, dtype=object)
    for j, name in enumerate(frame.columns):
        column = frame[name]
        if not pd.api.types.is_string_dtype(column):
            column = column.astype(object).map(category_text, na_action="ignore")
        out[:, j] = column.to_numpy(dtype=object, na_value=MISSING_CATEGORY)
    return out


def datetime_parts(frame: pd.DataFrame) -> np.ndarray:
    parts = []
    for name in frame.columns:
        moments = pd.to_datetime(frame[name], errors="coerce", format="ISO8601")
        for attribute in DATETIME_PARTS:
            parts.append(getattr(moments.dt, attribute).to_numpy(dtype=float, na_value=np.nan))
    return np.column_stack(parts) if parts else np.empty((len(frame), 0))


def datetime_part_names(transformer, names) -> list[str]:
    return [f"{n}_{part}" for n in names for part in DATETIME_PARTS]


def build_preprocessor(
    column_types: dict[str, str],
    *,
    scale_numeric: bool,
    sparse: bool = False,
    categorical_codes: int | None = None,
) -> ColumnTransformer:
    """A ColumnTransformer for the columns the model uses (others must be dropped beforehand).

    ``sparse=True`` keeps the one-hot block sparse and returns a scipy sparse matrix.
    ``categorical_codes=N`` gives each categorical column one integer code per value instead of
    one-hot columns, at most N codes (the rarest values share the last), unseen values missing:
    for a model that splits categories itself (see ``native_categorical_options``).
    """
    numeric = [c for c, t in column_types.items() if t == NUMERIC]
    categorical = [c for c, t in column_types.items() if t in (CATEGORICAL, BOOLEAN)]
    dates = [c for c, t in column_types.items() if t == DATETIME]
    numeric_steps = [("impute", SimpleImputer(strategy="median", add_indicator=True))]
    if scale_numeric:
        numeric_steps.append(("scale", StandardScaler()))
    transformers = []
    if numeric:
        transformers.append(("numeric", Pipeline(numeric_steps), numeric))
    if categorical:
        transformers.append(
            (
                "categorical",
                Pipeline(
                    [
                        (
                            "as_text",
                            FunctionTransformer(
                                as_category_strings, feature_names_out="one-to-one"
                            ),
                        ),
                        _categorical_encoder(sparse, categorical_codes),
                    ]
                ),
                categorical,
            )
        )
    if dates:
        date_steps = [
            ("parts", FunctionTransformer(datetime_parts, feature_names_out=datetime_part_names)),
            ("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
        ]
        if scale_numeric:
            date_steps.append(("scale", StandardScaler()))
        transformers.append(("datetime", Pipeline(date_steps), dates))
    return ColumnTransformer(
        transformers,
        remainder="drop",
        verbose_feature_names_out=True,
        sparse_threshold=1.0 if sparse else 0.0,
    )


def _categorical_encoder(sparse: bool, codes: int | None) -> tuple[str, object]:
    if codes is None:
        return "one_hot", OneHotEncoder(
            handle_unknown="infrequent_if_exist",
            max_categories=MAX_CATEGORIES,
            sparse_output=sparse,
        )
    # Missing values are a category of their own (``as_category_strings``); unseen ones are NaN,
    # which the models that take codes read as missing.
    return "codes", OrdinalEncoder(
        handle_unknown="use_encoded_value", unknown_value=np.nan, max_categories=codes
    )


def categorical_code_columns(preprocessor) -> list[int]:
    """The output columns of a fitted default recipe (a ColumnTransformer, or the completion of
    a ``RecipeTransformer``, which comes first in its output) that hold categorical codes."""
    preprocessor = getattr(preprocessor, "finish_", preprocessor)
    if not isinstance(preprocessor, ColumnTransformer):
        return []
    block = dict((n, t) for n, t, _ in preprocessor.transformers_).get("categorical")
    if block is None or "codes" not in block.named_steps:
        return []
    where = preprocessor.output_indices_["categorical"]
    return list(range(where.start, where.stop))


def native_categorical_options(estimator, columns: list[int], width: int) -> dict:
    """Tell an estimator that splits categories natively which of its ``width`` input columns
    hold codes: scikit-learn's histogram gradient boosting takes them as a parameter (set here),
    LightGBM as a fit argument (returned, to pass to ``fit``)."""
    if not columns:
        return {}
    if "categorical_features" in estimator.get_params(deep=False):
        mask = np.zeros(width, dtype=bool)
        mask[columns] = True
        estimator.set_params(categorical_features=mask)
        return {}
    if "categorical_feature" in inspect.signature(estimator.fit).parameters:
        return {"categorical_feature": list(columns)}
    return {}


def join_text(frame: pd.DataFrame, columns: list[str]) -> np.ndarray:
    """The text columns of each row joined by spaces (missing values as empty text)."""
    return frame[columns].fillna("").astype(str).agg(" ".join, axis=1).to_numpy()


def build_text_preprocessor(
    columns: list[str], *, ngram_max: int, min_df: int, max_features: int, counts: bool = False
) -> Pipeline:
    """Word n-grams of the text columns: TF-IDF weights, or raw counts (``counts=True``, for
    topic models)."""
    from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer

    options = dict(
        ngram_range=(1, ngram_max),
        min_df=min_df,
        max_features=max_features,
        lowercase=True,
        strip_accents="unicode",
    )
    vectorizer = (
        CountVectorizer(stop_words="english", **options)
        if counts
        else TfidfVectorizer(sublinear_tf=True, **options)
    )
    return Pipeline(
        [
            ("join", FunctionTransformer(join_text, kw_args={"columns": list(columns)})),
            ("vectorize", vectorizer),
        ]
    )
