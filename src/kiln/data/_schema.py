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

# The words a boolean text column is written in, (true, false) pairs in any case. The one list:
# ingest infers boolean columns from it, profiles count true words, recipes and the server read
# JSON booleans against it.
_BOOLEAN_WORDS = [("yes", "no"), ("true", "false"), ("y", "n"), ("t", "f")]
_BOOLEAN_PAIRS = [set(pair) for pair in _BOOLEAN_WORDS]
TRUE_WORDS = frozenset(true for true, _ in _BOOLEAN_WORDS)
FALSE_WORDS = frozenset(false for _, false in _BOOLEAN_WORDS)
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
    columns = [_usable(table.column(name)) for name in names]
    unsupported = {
        name: _refused_kind(column.type)
        for name, column in zip(names, columns, strict=True)
        if _refused_kind(column.type)
    }
    if unsupported:
        raise DataError(
            f"{source} has column(s) of a type kiln does not take: "
            f"{', '.join(f'{name!r} ({kind})' for name, kind in unsupported.items())}. "
            "Nothing was ingested. Flatten nested values into plain columns first "
            "(pandas.json_normalize, or in DuckDB SELECT address.city AS address_city ...), "
            "turn bytes into text (hex, base64) or drop those columns.",
            code="data.unsupported-type",
            field=next(iter(unsupported)),
        )
    cleaned = []
    for column in columns:
        if pa.types.is_null(column.type):
            column = column.cast(pa.string())
        if pa.types.is_large_string(column.type):
            column = column.cast(pa.string())
        if pa.types.is_string(column.type):
            column = _clean_strings(column)
        cleaned.append(column)
    return pa.table(dict(zip(names, cleaned, strict=True)))


def _usable(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """Plain arrays for dictionaries and views; text stored as bytes (as some Parquet writers
    do) becomes text."""
    if pa.types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)
    kind = column.type
    if pa.types.is_string_view(kind):
        return column.cast(pa.string())
    if (
        pa.types.is_binary(kind)
        or pa.types.is_large_binary(kind)
        or pa.types.is_binary_view(kind)
        or pa.types.is_fixed_size_binary(kind)
    ):
        try:
            return column.cast(pa.binary()).cast(pa.string())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return column  # bytes that are not UTF-8 text: refused, by name
    return column


def _refused_kind(kind: pa.DataType) -> str | None:
    """How a column type kiln refuses is named to the user, or None for a type kiln takes."""
    if pa.types.is_struct(kind):
        return "struct"
    if pa.types.is_map(kind):
        return "map"
    if pa.types.is_union(kind):
        return "union"
    if pa.types.is_nested(kind):
        return "list"
    if any(
        test(kind)
        for test in (
            pa.types.is_binary,
            pa.types.is_large_binary,
            pa.types.is_binary_view,
            pa.types.is_fixed_size_binary,
        )
    ):
        return "bytes that are not UTF-8 text"
    return None


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
