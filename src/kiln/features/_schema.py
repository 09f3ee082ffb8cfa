"""A feature group's schema: kiln's five column types, and the checks an ingest passes before
anything is written (columns, types, record ids and event times)."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from kiln.errors import ConfigError, DataError

__all__ = ["ARROW_TYPES", "check_frame", "kiln_type", "parse_times", "schema_of"]

# The types a feature may have, and how each is stored in the offline store's Parquet files.
ARROW_TYPES: dict[str, pa.DataType] = {
    "int64": pa.int64(),
    "float64": pa.float64(),
    "string": pa.string(),
    "bool": pa.bool_(),
    "timestamp": pa.timestamp("us"),
}
# Columns every offline file carries besides the group's own.
WRITE_TIME = "write_time"
RESERVED = (WRITE_TIME,)


def kiln_type(arrow_type: pa.DataType, column: str) -> str:
    """The kiln type of an Arrow column type (``feature.unsupported-type`` for lists, structs,
    binary...)."""
    if pa.types.is_dictionary(arrow_type):
        arrow_type = arrow_type.value_type
    if pa.types.is_integer(arrow_type):
        return "int64"
    if pa.types.is_floating(arrow_type) or pa.types.is_decimal(arrow_type):
        return "float64"
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return "string"
    if pa.types.is_boolean(arrow_type):
        return "bool"
    if pa.types.is_timestamp(arrow_type) or pa.types.is_date(arrow_type):
        return "timestamp"
    if pa.types.is_null(arrow_type):
        raise DataError(
            f"Column {column!r} holds only missing values, so its type cannot be told. Give it "
            "values, or create the group with --schema naming its type.",
            code="feature.unsupported-type",
            field=column,
        )
    raise DataError(
        f"Column {column!r} has type {arrow_type}, which a feature cannot have. Features are "
        f"{', '.join(ARROW_TYPES)}; convert or drop the column.",
        code="feature.unsupported-type",
        field=column,
    )


def schema_of(table: pa.Table) -> dict[str, str]:
    """``{column: kiln type}`` of a table, in its column order."""
    return {field.name: kiln_type(field.type, field.name) for field in table.schema}


def check_schema(
    schema: dict[str, str], *, record_id: str, event_time: str, group: str
) -> dict[str, str]:
    """A group's schema as given at creation: known types, the two key columns present, with
    an id that is an integer or a string and an event time that is a timestamp."""
    if not isinstance(schema, dict) or not schema:
        raise ConfigError(
            f"The schema of feature group {group!r} must map column names to types, e.g. "
            '{"customer_id": "int64", "ts": "timestamp", "tenure": "float64"}.',
            code="feature.bad-schema",
        )
    for column, type_name in schema.items():
        if type_name not in ARROW_TYPES:
            raise ConfigError(
                f"Column {column!r} of feature group {group!r} has type {type_name!r}; a feature "
                f"is one of {', '.join(ARROW_TYPES)}.",
                code="feature.bad-schema",
                field=str(column),
            )
        if column in RESERVED:
            raise ConfigError(
                f"Column {column!r} is kept for the offline store's own use (the time each row "
                "was written); rename it.",
                code="feature.bad-schema",
                field=column,
            )
    seen: dict[str, str] = {}
    for column in map(str, schema):
        # SQL (DuckDB) reads names without case: 'X' and 'x' would be one column.
        if column.lower() in seen:
            raise ConfigError(
                f"Columns {seen[column.lower()]!r} and {column!r} of feature group {group!r} "
                "differ only in case, which SQL does not tell apart; rename one.",
                code="feature.bad-schema",
                field=column,
            )
        seen[column.lower()] = column
    for role, column, allowed in (
        ("record id", record_id, ("int64", "string")),
        ("event time", event_time, ("timestamp",)),
    ):
        if column not in schema:
            raise ConfigError(
                f"The {role} column {column!r} is not in feature group {group!r}'s columns "
                f"({', '.join(schema)}). Name one of them.",
                code="feature.missing-column",
                field=column,
            )
        if schema[column] not in allowed:
            raise ConfigError(
                f"The {role} column {column!r} of feature group {group!r} is {schema[column]}; "
                f"it must be {' or '.join(allowed)}"
                + (
                    " (ISO 8601 text is read as times; convert epoch numbers first, e.g. "
                    "pd.to_datetime(column, unit='s'))."
                    if role == "event time"
                    else "."
                ),
                code="feature.bad-schema",
                field=column,
            )
    if len(schema) < 3:
        raise ConfigError(
            f"Feature group {group!r} has no feature besides its record id and event time.",
            code="feature.bad-schema",
        )
    return dict(schema)


def check_frame(
    table: pa.Table, *, schema: dict[str, str], record_id: str, event_time: str, group: str
) -> pa.Table:
    """``table`` checked against the group: the same columns of the same types, record ids and
    event times present and never missing, no (id, event time) pair twice. Returns it cast to the
    stored types, in the schema's column order. Raises DataError naming the column or id."""
    for role, column in (("record id", record_id), ("event time", event_time)):
        if column not in table.column_names:
            raise DataError(
                f"The rows for feature group {group!r} have no {role} column {column!r}; their "
                f"columns are {', '.join(table.column_names)}.",
                code="feature.missing-column",
                field=column,
            )
    extra = [c for c in table.column_names if c not in schema]
    if extra:
        raise DataError(
            f"Column {extra[0]!r} is not in feature group {group!r}'s schema "
            f"({', '.join(schema)}). A group's schema does not change: drop the column, or "
            "create a new group.",
            code="feature.schema-changed",
            field=extra[0],
        )
    missing = [c for c in schema if c not in table.column_names]
    if missing:
        raise DataError(
            f"Column {missing[0]!r} of feature group {group!r} is missing from the rows. Every "
            "ingest carries every column (missing values are allowed in features).",
            code="feature.schema-changed",
            field=missing[0],
        )
    for column, expected in schema.items():
        if (
            expected == "timestamp"
            and kiln_type(table.schema.field(column).type, column) == "string"
        ):
            index = table.column_names.index(column)
            table = table.set_column(index, column, parse_times(table.column(column), column))
    for role, column in (("record id", record_id), ("event time", event_time)):
        nulls = table.column(column).null_count
        if nulls:
            raise DataError(
                f"{nulls} row(s) have no {role} (column {column!r}); every row of feature group "
                f"{group!r} needs one. Drop or fill them.",
                code="feature.missing-key",
                field=column,
            )
    for column, expected in schema.items():
        actual = kiln_type(table.schema.field(column).type, column)
        if actual != expected:
            raise DataError(
                f"Column {column!r} is {actual} in these rows but {expected} in feature group "
                f"{group!r}. Convert it to {expected} before ingesting.",
                code="feature.schema-changed",
                field=column,
            )
    table = table.select(list(schema))
    table = pa.Table.from_arrays(
        [_cast(table.column(c), t, name=c, group=group) for c, t in schema.items()],
        names=list(schema),
    )
    keys = table.select([record_id, event_time])
    counts = keys.group_by([record_id, event_time]).aggregate([([], "count_all")])
    repeated = counts.filter(pc.greater(counts.column("count_all"), 1))
    if repeated.num_rows:
        example = repeated.slice(0, 1).to_pylist()[0]
        raise DataError(
            f"Record id {example[record_id]!r} has {example['count_all']} rows at event time "
            f"{example[event_time]} ({repeated.num_rows} (id, event time) pair(s) repeat in "
            "all). One ingest holds one row per id and event time: drop the duplicates.",
            code="feature.duplicate-record",
            field=record_id,
        )
    return table


def parse_times(column: pa.ChunkedArray, name: str) -> pa.ChunkedArray:
    """ISO 8601 texts (a CSV's times) as UTC timestamps: an offset or ``Z`` converted, none read
    as UTC, as a JSON record's times are. Raises DataError naming the first text that is not a
    time."""
    import pandas as pd

    texts = column.to_pandas()
    times = pd.to_datetime(texts, utc=True, format="ISO8601", errors="coerce")
    unread = texts[times.isna() & texts.notna()]
    if len(unread):
        raise DataError(
            f"Column {name!r} holds times, and its text {unread.iloc[0]!r} (row {unread.index[0]}) "
            f"is not an ISO 8601 time ({len(unread)} such row(s)). Write times like "
            "2026-01-31T12:00:00Z, or convert the column to timestamps before ingesting.",
            code="feature.schema-changed",
            field=name,
        )
    return pa.chunked_array([pa.array(times.dt.tz_convert(None), pa.timestamp("us"))])


def _cast(column: pa.ChunkedArray, type_name: str, *, name: str, group: str) -> pa.ChunkedArray:
    target = ARROW_TYPES[type_name]
    if pa.types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)
    if pa.types.is_timestamp(column.type) and pa.types.is_timestamp(target):
        # A zoned timestamp casts to its UTC time: times are kept in UTC without a zone, to
        # the microsecond (pandas' nanoseconds are dropped, not refused).
        return column.cast(target, safe=False)
    try:
        return column.cast(target)
    except pa.ArrowInvalid as exc:
        raise DataError(
            f"Column {name!r} does not fit feature group {group!r}'s {type_name} type: "
            f"{str(exc).splitlines()[0]}. Convert or drop the offending values.",
            code="feature.schema-changed",
            field=name,
        ) from exc
