"""Semantic column types and the clean-up every ingested table gets."""

from __future__ import annotations

import re

import pyarrow as pa
import pyarrow.compute as pc

from kiln.errors import DataError

NUMERIC, CATEGORICAL, BOOLEAN, DATETIME, TEXT, IDENTIFIER = (
    "numeric",
    "categorical",
    "boolean",
    "datetime",
    "text",
    "identifier",
)
SEMANTIC_TYPES = (NUMERIC, CATEGORICAL, BOOLEAN, DATETIME, TEXT, IDENTIFIER)

_BOOLEAN_PAIRS = [{"yes", "no"}, {"true", "false"}, {"y", "n"}, {"t", "f"}]
_ID_NAME = re.compile(r"(^id$|_id$|^id_|(?<=[a-z])Id$|^uuid$|^key$)", re.IGNORECASE)


def normalise_table(table: pa.Table, *, source: str) -> pa.Table:
    """Blank strings become missing; text columns of only numbers or ISO dates are converted."""
    if table.num_columns == 0:
        raise DataError(
            f"{source} has no columns. Check the file and its delimiter.", code="data.empty"
        )
    names = table.column_names
    blanks = [i + 1 for i, n in enumerate(names) if not str(n).strip()]
    if blanks:
        raise DataError(
            f"{source} has a column with no name (column {blanks[0]} of the header). "
            "Give every column a name in the header row.",
            code="data.unnamed-column",
        )
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise DataError(
                f"{source} has the column name {name!r} twice. Rename one of them.",
                code="data.duplicate-column",
            )
        seen.add(name)
    columns = []
    for name in names:
        column = table.column(name)
        if pa.types.is_null(column.type):
            column = column.cast(pa.string())
        if pa.types.is_large_string(column.type):
            column = column.cast(pa.string())
        if pa.types.is_dictionary(column.type):
            column = column.cast(column.type.value_type)
        if pa.types.is_string(column.type):
            column = _clean_strings(column)
        columns.append(column)
    return pa.table(dict(zip(names, columns, strict=True)))


def _clean_strings(column: pa.ChunkedArray) -> pa.ChunkedArray:
    stripped = pc.utf8_trim_whitespace(column)
    column = pc.if_else(pc.equal(stripped, ""), pa.scalar(None, pa.string()), column)
    values = pc.drop_null(stripped)
    if len(values) == 0:
        return column
    try:
        return pc.cast(pc.if_else(pc.is_null(column), None, stripped), pa.int64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    try:
        return pc.cast(pc.if_else(pc.is_null(column), None, stripped), pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    sample = values[0].as_py()
    if sample and re.match(r"^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?$", sample):
        try:
            return pc.cast(pc.if_else(pc.is_null(column), None, stripped), pa.timestamp("us"))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            pass
    return column


def infer_semantic_type(name: str, column: pa.ChunkedArray, row_count: int) -> str:
    kind = column.type
    if pa.types.is_boolean(kind):
        return BOOLEAN
    if pa.types.is_temporal(kind):
        return DATETIME
    non_null = row_count - column.null_count
    if pa.types.is_integer(kind):
        if (
            non_null >= 20
            and _ID_NAME.search(name)
            and pc.count_distinct(column).as_py() == non_null
        ):
            return IDENTIFIER
        return NUMERIC
    if pa.types.is_floating(kind) or pa.types.is_decimal(kind):
        return NUMERIC
    if not (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
        return CATEGORICAL
    if non_null == 0:
        return CATEGORICAL
    distinct = pc.count_distinct(column).as_py()
    if distinct <= 2:
        lowered = {str(v).lower() for v in pc.unique(column).to_pylist() if v is not None}
        if any(lowered and lowered <= pair for pair in _BOOLEAN_PAIRS):
            return BOOLEAN
    lengths = pc.utf8_length(column)
    mean_length = pc.mean(lengths).as_py() or 0.0
    unique_ratio = distinct / non_null
    if non_null >= 20 and unique_ratio == 1.0 and (_ID_NAME.search(name) or mean_length <= 40):
        spaces = pc.mean(pc.count_substring(column, " ")).as_py() or 0.0
        if _ID_NAME.search(name) or spaces < 1:
            return IDENTIFIER
    if unique_ratio > 0.3 and non_null >= 20 and (mean_length > 30 or _mean_words(column) >= 4):
        return TEXT
    return CATEGORICAL


def _mean_words(column: pa.ChunkedArray) -> float:
    return (pc.mean(pc.count_substring(column, " ")).as_py() or 0.0) + 1


def infer_schema(table: pa.Table) -> dict:
    """``{"columns": [{"name", "type", "dtype", "missing"}...]}`` in table order."""
    rows = table.num_rows
    columns = []
    for name in table.column_names:
        column = table.column(name)
        columns.append(
            {
                "name": name,
                "type": infer_semantic_type(name, column, rows),
                "dtype": str(column.type),
                "missing": column.null_count,
            }
        )
    return {"columns": columns}
