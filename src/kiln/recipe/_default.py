"""The default preprocessing recipe, compiled to a scikit-learn ColumnTransformer.

Numerics: median imputation plus a missing-indicator column (and standard scaling for linear
models). Categoricals and booleans: one-hot with the rarest values grouped, unseen values mapped to
that group (or to all zeros). Datetimes: calendar parts. Text and identifier columns are not used.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

from kiln.data import BOOLEAN, CATEGORICAL, DATETIME, NUMERIC

MISSING_CATEGORY = "__missing__"
MAX_CATEGORIES = 50
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
    column_types: dict[str, str], *, scale_numeric: bool, sparse: bool = False
) -> ColumnTransformer:
    """A ColumnTransformer for the columns the model uses (others must be dropped beforehand).

    ``sparse=True`` keeps the one-hot block sparse and returns a scipy sparse matrix.
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
                        (
                            "one_hot",
                            OneHotEncoder(
                                handle_unknown="infrequent_if_exist",
                                max_categories=MAX_CATEGORIES,
                                sparse_output=sparse,
                            ),
                        ),
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
