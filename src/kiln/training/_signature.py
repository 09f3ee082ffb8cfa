"""The model signature: the one description of a model's inputs and outputs.

It drives request validation, the endpoint's OpenAPI schema and the client's checks.
"""

from __future__ import annotations

import datetime
import numbers

import pandas as pd

from kiln.data import BOOLEAN, CATEGORICAL, DATETIME, IDENTIFIER, NUMERIC, TEXT

MAX_LISTED_CATEGORIES = 1000


def storage_kind(series: pd.Series) -> str:
    """How a column's values are written in a request: number, string, boolean, datetime, date
    (YYYY-MM-DD) or time (HH:MM:SS).

    ``series`` is a stored column as pandas reads it from Arrow: dates, times of day and decimals
    arrive as Python objects, a bool or integer column with missing values as objects or floats,
    a dictionary column as a categorical.
    """
    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return storage_kind(pd.Series(dtype.categories))
    if isinstance(dtype, pd.ArrowDtype):
        return _arrow_kind(dtype.pyarrow_dtype)
    if isinstance(dtype, pd.StringDtype):
        return "string"
    kind = dtype.kind
    if kind == "b":
        return "boolean"
    if kind in "iuf":
        return "number"
    if kind == "M":
        return "datetime"
    types = set(series.dropna().map(type))
    if not types:
        return "string"
    if types == {bool}:
        return "boolean"  # a bool column with missing values arrives as objects
    # datetime.datetime is a datetime.date: test it first
    if all(issubclass(t, datetime.datetime) for t in types):
        return "datetime"
    if all(issubclass(t, datetime.date) for t in types):
        return "date"
    if all(issubclass(t, datetime.time) for t in types):
        return "time"
    if all(issubclass(t, numbers.Number) and not issubclass(t, bool) for t in types):
        return "number"  # decimals
    return "string"


def _arrow_kind(arrow_type) -> str:
    import pyarrow as pa

    if pa.types.is_dictionary(arrow_type):
        return _arrow_kind(arrow_type.value_type)
    if pa.types.is_boolean(arrow_type):
        return "boolean"
    if pa.types.is_integer(arrow_type) or pa.types.is_floating(arrow_type):
        return "number"
    if pa.types.is_decimal(arrow_type):
        return "number"
    if pa.types.is_timestamp(arrow_type):
        return "datetime"
    if pa.types.is_date(arrow_type):
        return "date"
    if pa.types.is_time(arrow_type):
        return "time"
    return "string"


def build_signature(
    frame: pd.DataFrame,
    *,
    column_types: dict[str, str],
    target: str | None,
    problem_type: str,
    classes: list | None,
    positive_label=None,
    text_inputs: bool = False,
    also: list[str] | None = None,
) -> dict:
    """Inputs: the columns the model reads — text columns for text models, else every column but
    text and identifiers, plus ``also`` (text or identifier columns a recipe uses). ``ignored``
    columns may be sent and are not used."""
    inputs, ignored = [], []
    also = set(also or ())
    for name, semantic in column_types.items():
        if name == target:
            continue
        if name not in also and ((semantic == TEXT) != text_inputs or semantic == IDENTIFIER):
            ignored.append({"name": name, "type": semantic})
            continue
        series = frame[name]
        spec = {"name": name, "type": semantic, "dtype": storage_kind(series)}
        if semantic in (CATEGORICAL, BOOLEAN):
            values = series.dropna().unique().tolist()
            if len(values) <= MAX_LISTED_CATEGORIES:
                spec["categories"] = sorted(_native(v) for v in values)
        inputs.append(spec)
    outputs = {"problem_type": problem_type, "target": target}
    if classes is not None:
        outputs["labels"] = [_native(c) for c in classes]
        if positive_label is not None:
            outputs["positive_label"] = _native(positive_label)
    return {"inputs": inputs, "ignored": ignored, "outputs": outputs}


def _native(value):
    return value.item() if hasattr(value, "item") else value


__all__ = ["BOOLEAN", "CATEGORICAL", "DATETIME", "NUMERIC", "build_signature", "storage_kind"]
