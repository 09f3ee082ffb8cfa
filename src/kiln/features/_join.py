"""The point-in-time join behind ``training_set``: for each entity row, each group's latest
record whose event time is at or before the row's own time (never later), through DuckDB's
ASOF JOIN over the offline store's Parquet files.

Ties: two records of one id with the same event time come from different ingests (one ingest
holds one row per id and event time), and the later write wins. Both orders are folded into one
ASOF key, ``event_us * 10**16 + write_us`` (a HUGEINT: both are below 10**16 microseconds), so
the join needs no deduplicating pass over the records first.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from kiln.errors import DataError

__all__ = ["GroupJoin", "point_in_time_join"]

_SCALE = 10**16  # above any microsecond timestamp up to the year 2286
_ROW = "__kiln_row"
_KEY = "__kiln_key"


@dataclass(frozen=True)
class GroupJoin:
    """One group's part of a join: its files, its key columns, and the features taken from it
    (feature column -> output column)."""

    name: str
    paths: tuple[str, ...]
    record_id: str
    record_id_sql_type: str
    event_time: str
    features: dict[str, str]
    sql_types: dict[str, str]  # feature column -> DuckDB type, for a group with no ingest yet


def _quote(name: object) -> str:
    return '"' + str(name).replace('"', '""') + '"'


def _string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def point_in_time_join(
    entity: pd.DataFrame, event_time: str, groups: list[GroupJoin], *, threads: int | None = None
) -> pd.DataFrame:
    """``entity`` with each group's features as of its ``event_time`` column, in its own row
    order; rows without a record (or without a time) get missing values."""
    import duckdb

    connection = duckdb.connect(config={"python_enable_replacements": False})
    try:
        connection.execute("SET TimeZone = 'UTC'")
        if threads:
            connection.execute(f"SET threads = {int(threads)}")
        frame = entity.reset_index(drop=True)
        frame.columns = [str(c) for c in frame.columns]  # DuckDB's columns are named by text
        # The row number travels with the rows: the output keeps the entity's order.
        connection.register("__kiln_entity_input", frame.assign(**{_ROW: range(len(frame))}))
        # Through TIMESTAMPTZ: a time written with an offset ('...T00:30:00+01:00') or a zoned
        # column is read as its UTC time (a plain TIMESTAMP cast drops the offset), a naive
        # one as UTC (the session's zone).
        entity_key = (
            f"CAST(epoch_us(CAST({_quote(event_time)} AS TIMESTAMPTZ)) AS HUGEINT) * {_SCALE} "
            f"+ {_SCALE - 1}"
        )
        connection.execute(
            f"CREATE TEMP VIEW __kiln_entity AS SELECT *, {entity_key} AS {_KEY} "
            "FROM __kiln_entity_input"
        )
        selected = [f"e.{_quote(c)}" for c in frame.columns]
        joins = []
        for index, group in enumerate(groups):
            alias = f"g{index}"
            columns = ", ".join(_quote(c) for c in group.features)
            if group.paths:
                files = ", ".join(_string(p) for p in group.paths)
                source = (
                    f"SELECT {_quote(group.record_id)} AS __kiln_id, "
                    f"CAST(epoch_us({_quote(group.event_time)}) AS HUGEINT) * {_SCALE} "
                    f"+ epoch_us(write_time) AS {_KEY}, {columns} FROM read_parquet([{files}])"
                )
            else:
                # A group with no ingest yet: no row matches, every feature is missing.
                source = (
                    f"SELECT NULL::{group.record_id_sql_type} AS __kiln_id, "
                    f"NULL::HUGEINT AS {_KEY}, "
                    + ", ".join(
                        f"NULL::{group.sql_types[c]} AS {_quote(c)}" for c in group.features
                    )
                    + " WHERE false"
                )
            joins.append(
                f"ASOF LEFT JOIN ({source}) {alias} ON "
                f"CAST(e.{_quote(group.record_id)} AS {group.record_id_sql_type}) = "
                f"{alias}.__kiln_id AND e.{_KEY} >= {alias}.{_KEY}"
            )
            selected += [
                f"{alias}.{_quote(column)} AS {_quote(output)}"
                for column, output in group.features.items()
            ]
        sql = (
            f"SELECT {', '.join(selected)} FROM __kiln_entity e {' '.join(joins)} ORDER BY e.{_ROW}"
        )
        return connection.execute(sql).df()
    except duckdb.ConversionException as exc:
        # An entity id or time that does not convert to the group's type: the caller's rows.
        raise DataError(
            f"The entity rows do not fit the feature groups: {str(exc).splitlines()[0]}. Give "
            "each group's record id column the group's type (integer or text) and the event "
            "time column timestamps (epoch numbers: pd.to_datetime(column, unit='s')).",
            code="feature.bad-entity",
        ) from exc
    finally:
        connection.close()
