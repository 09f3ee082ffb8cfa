"""The model signature: the one description of a model's inputs and outputs.

It drives request validation, the endpoint's OpenAPI schema and the client's checks.
"""

from __future__ import annotations

import pandas as pd

from kiln.data import BOOLEAN, CATEGORICAL, DATETIME, IDENTIFIER, NUMERIC, TEXT

MAX_LISTED_CATEGORIES = 1000


def storage_kind(series: pd.Series) -> str:
    """How a column's values are written in a request: number, string, boolean or datetime."""
    kind = series.dtype.kind
    if kind == "b":
        return "boolean"
    if kind in "iuf":
        return "number"
    if kind == "M":
        return "datetime"
    values = series.dropna()
    if len(values) and values.map(type).eq(bool).all():
        return "boolean"  # a bool column with missing values arrives as objects
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
