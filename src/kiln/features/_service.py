"""``ws.features``: feature groups, their append-only offline store (Parquet in the artifact
store), their online store (the latest record per id), SQL over the offline store with time
travel, and point-in-time correct training sets (docs/features.md)."""

from __future__ import annotations

import hashlib
import math
import os
import re
import tempfile
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import func, select

from kiln.endpoints import parse_duration
from kiln.errors import ConfigError, DataError, NotFound, StateError
from kiln.features._join import GroupJoin, point_in_time_join
from kiln.features._online import OnlineStore, open_online_store
from kiln.features._schema import (
    ARROW_TYPES,
    WRITE_TIME,
    check_frame,
    check_schema,
    parse_times,
    schema_of,
)
from kiln.refs import check_name
from kiln.store import FeatureGroupRow, FeatureIngestRow, Record, new_id, now, who

if TYPE_CHECKING:
    from kiln.context import Context

__all__ = ["FeatureGroup", "FeatureIngest", "FeatureService"]

_WHOLE_NUMBER = re.compile(r"[+-]?[0-9]+", re.ASCII)


@dataclass(frozen=True)
class FeatureGroup(Record):
    """A feature group: its key columns, schema (column -> kiln type), and online settings."""

    id: str
    name: str
    record_id: str
    event_time: str
    schema: dict
    online: bool
    ttl_seconds: float | None
    description: str
    created_at: datetime
    created_by: str

    @property
    def features(self) -> list[str]:
        """The columns besides the record id and the event time."""
        return [c for c in self.schema if c not in (self.record_id, self.event_time)]

    def to_dict(self) -> dict:
        return self._plain() | {"features": self.features}


@dataclass(frozen=True)
class FeatureIngest(Record):
    """One ingest into a group's offline store: one Parquet file, all its rows written at
    ``write_time``."""

    id: str
    group_id: str
    digest: str
    row_count: int
    source: str
    write_time: datetime
    created_by: str

    def to_dict(self) -> dict:
        return self._plain()


def _utc(value: str | date | datetime, *, what: str) -> datetime:
    """A time as naive UTC (how the store keeps them); naive input is taken as UTC."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError as exc:
            raise ConfigError(
                f"Cannot read the {what} {value!r}: write an ISO 8601 time, e.g. "
                "2026-01-31T12:00:00.",
                code="feature.bad-time",
            ) from exc
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    elif isinstance(value, date) and not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day)
    if not isinstance(value, datetime):
        raise ConfigError(
            f"The {what} {value!r} is not a time: give a datetime or an ISO 8601 text, e.g. "
            "2026-01-31T12:00:00.",
            code="feature.bad-time",
        )
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value


def _refuse_altered(value: Any, expected: str | None, *, column: str, group: str) -> None:
    """Refuse a JSON value that Arrow would store altered rather than refuse: a number for a
    timestamp (read as microseconds since 1970, so epoch seconds land in January 1970), and a
    fraction for an integer (truncated: id 9.5 would be stored as 9)."""
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if expected == "timestamp" and number:
        raise DataError(
            f"Column {column!r} of feature group {group!r} is a timestamp; the record gives the "
            f"number {value!r}. Write an ISO 8601 time, e.g. 2026-01-31T12:00:00Z (epoch "
            "seconds: datetime.fromtimestamp(seconds, UTC).isoformat()).",
            code="feature.schema-changed",
            field=column,
        )
    if expected == "int64" and isinstance(value, float) and not value.is_integer():
        raise DataError(
            f"Column {column!r} of feature group {group!r} is int64; the record gives "
            f"{value!r}, which is not a whole number.",
            code="feature.schema-changed",
            field=column,
        )


def _micros(value: datetime) -> int:
    return int((value - datetime(1970, 1, 1)) // timedelta(microseconds=1))


class FeatureService:
    """``ws.features``: create feature groups, ingest into them, read them online and offline,
    and build point-in-time correct training sets."""

    def __init__(self, workspace: Context):
        self._ws = workspace
        # Groups found so far, by name. A group never changes once created (its schema is fixed
        # and groups are not deleted), so an online read needs no metadata-store query.
        self._groups: dict[str, FeatureGroup] = {}

    @cached_property
    def online_store(self) -> OnlineStore:
        """The online store the settings name (``online_store``/``KILN_ONLINE_STORE``)."""
        namespace = hashlib.sha256(self._ws.settings.store_url.encode()).hexdigest()[:12]
        return open_online_store(self._ws.settings.online_store, self._ws.home, namespace=namespace)

    # -- groups ---------------------------------------------------------------------------------
    def create(
        self,
        group: str,
        *,
        record_id: str,
        event_time: str,
        source: str | pd.DataFrame | None = None,
        schema: dict[str, str] | str | os.PathLike | None = None,
        online: bool = False,
        ttl: str | float | None = None,
        description: str = "",
    ) -> FeatureGroup:
        """Create feature group ``group``; its schema is ``schema`` (``{column: type}``, or a
        JSON/YAML file of one) or inferred from ``source`` (a data set or DataFrame; nothing is
        ingested). ``ttl`` (``"30d"`` or seconds) ends an online record that long after its
        event time."""
        check_name(group, what="feature group")
        if (source is None) == (schema is None):
            raise ConfigError(
                f"Give feature group {group!r} a schema or a source to infer it from (one of "
                "the two: --schema FILE or --from DATASET).",
                code="feature.no-schema",
            )
        if schema is not None:
            schema = _load_schema(schema)
        else:
            table = self._table(source)[0]
            schema = schema_of(table)
            if schema.get(event_time) == "string":
                # Times as text (a CSV's): the event time when they read as ISO 8601 times.
                parse_times(table.column(event_time), event_time)
                schema[event_time] = "timestamp"
        schema = check_schema(schema, record_id=record_id, event_time=event_time, group=group)
        ttl_seconds = None
        if ttl is not None:
            ttl_seconds = parse_duration(str(ttl), what="TTL") if isinstance(ttl, str) else ttl
            number = isinstance(ttl_seconds, int | float) and not isinstance(ttl_seconds, bool)
            if not number or not math.isfinite(ttl_seconds) or ttl_seconds <= 0:
                raise ConfigError(
                    f"The TTL of feature group {group!r} must be a finite time above 0 (30d, "
                    f"12h, or seconds). Got {ttl!r}.",
                    code="feature.bad-ttl",
                )
        with self._ws.store.write() as session:
            # Case-insensitively: each group is a table in SQL, where 'Cust' is 'cust'.
            taken = session.scalar(
                select(FeatureGroupRow.name).where(
                    func.lower(FeatureGroupRow.name) == group.lower()
                )
            )
            if taken:
                raise StateError(
                    f"Feature group {taken!r} exists already"
                    + ("" if taken == group else f" (SQL reads {group!r} as {taken!r})")
                    + ". A group's schema does not change: ingest into it, or create one under "
                    "another name.",
                    code="feature.group-exists",
                )
            row = FeatureGroupRow(
                id=new_id("fg"),
                name=group,
                record_id=record_id,
                event_time=event_time,
                schema=schema,
                online=bool(online),
                ttl_seconds=float(ttl_seconds) if ttl_seconds is not None else None,
                description=description,
                created_at=now(),
                created_by=who(),
            )
            session.add(row)
            session.flush()
            return FeatureGroup._from_row(row)

    def describe(self, group: str) -> FeatureGroup:
        """The group's record (``feature.unknown-group`` when there is none)."""
        if group in self._groups:
            return self._groups[group]
        with self._ws.store.read() as session:
            row = session.scalars(
                select(FeatureGroupRow).where(FeatureGroupRow.name == group)
            ).first()
            if row is None:
                known = session.scalars(select(FeatureGroupRow.name)).all()
                raise NotFound(
                    f"No feature group named {group!r}. Groups: "
                    f"{', '.join(sorted(known)) or 'none'}; create one with "
                    f"'kiln features create {group} --record-id ID "
                    "--event-time TS --from DATASET'.",
                    code="feature.unknown-group",
                )
            self._groups[group] = FeatureGroup._from_row(row)
            return self._groups[group]

    def list(self) -> list[FeatureGroup]:
        """Every feature group, by name."""
        with self._ws.store.read() as session:
            rows = session.scalars(select(FeatureGroupRow).order_by(FeatureGroupRow.name)).all()
            return [FeatureGroup._from_row(r) for r in rows]

    def ingests(self, group: str, *, as_of: str | datetime | None = None) -> list[FeatureIngest]:
        """The group's ingests in write order (those written by ``as_of``, when given)."""
        record = self.describe(group)
        query = select(FeatureIngestRow).where(FeatureIngestRow.group_id == record.id)
        if as_of is not None:
            query = query.where(FeatureIngestRow.write_time <= _utc(as_of, what="as-of time"))
        with self._ws.store.read() as session:
            rows = session.scalars(query.order_by(FeatureIngestRow.write_time)).all()
            return [FeatureIngest._from_row(r) for r in rows]

    def summary(self, group: str) -> dict:
        """The group with its offline store's size: ingests, rows, and the last write time."""
        record = self.describe(group)
        ingests = self.ingests(group)
        return record.to_dict() | {
            "ingests": len(ingests),
            "rows": sum(i.row_count for i in ingests),
            "last_write_time": ingests[-1].to_dict()["write_time"] if ingests else None,
            "online_store": self.online_store.url if record.online else None,
        }

    # -- ingest ---------------------------------------------------------------------------------
    def ingest(
        self,
        group: str,
        source: str | pd.DataFrame,
        *,
        recipe: Any = None,
    ) -> FeatureIngest:
        """Append ``source`` (a data set reference, a DataFrame) to the group's offline store,
        as one Parquet file recorded once it is stored; online groups then keep each id's latest
        record online. ``recipe`` (a recipe's steps or YAML file) is first fitted on the rows and
        applied to them, the key columns passed through. Bad rows raise DataError and write
        nothing."""
        record = self.describe(group)
        table, description = self._table(source)
        if recipe is not None:
            table, description = (
                self._apply_recipe(record, table, recipe),
                f"{description} + recipe",
            )
        return self._append(record, table, description)

    def put_record(self, group: str, record: dict) -> FeatureIngest:
        """Append one record (a dict of every column) as its own ingest; see :meth:`ingest`."""
        target = self.describe(group)
        if not isinstance(record, dict) or not record:
            raise DataError(
                f"A record for feature group {group!r} is an object of column values, e.g. "
                f'{{"{target.record_id}": 7, "{target.event_time}": "2026-01-31T12:00:00Z", ...}}; '
                f"got {type(record).__name__} {str(record)[:80]}.",
                code="feature.bad-record",
            )
        arrays = {}
        for column, value in record.items():
            expected = target.schema.get(column)
            if expected == "timestamp" and isinstance(value, str | datetime):
                value = _utc(value, what=f"time in column {column!r}")
            _refuse_altered(value, expected, column=column, group=group)
            try:
                # JSON has one number type: 3 is a float64 feature's 3.0, so values are read as
                # the group's types; a value that does not convert is refused, naming the column.
                arrays[column] = pa.array([value], ARROW_TYPES[expected] if expected else None)
            except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError) as exc:
                raise DataError(
                    f"Column {column!r} of feature group {group!r} is {expected}; the record "
                    f"gives {value!r}, which is not.",
                    code="feature.schema-changed",
                    field=column,
                ) from exc
        table = pa.table(arrays)
        return self._append(target, table, "record")

    def _table(self, source: str | pd.DataFrame) -> tuple[pa.Table, str]:
        if isinstance(source, pd.DataFrame):
            if source.empty:
                raise DataError(
                    "The DataFrame has no rows; nothing to ingest.", code="feature.empty"
                )
            return _from_pandas(source), "DataFrame"
        if isinstance(source, str):
            version = self._ws.data.get(source)
            return pq.read_table(self._ws.data.path(version)), f"data set {version.ref}"
        raise ConfigError(
            f"A feature source is a data set name (churn, churn:2) or a DataFrame; got "
            f"{type(source).__name__}.",
            code="feature.bad-source",
        )

    def _apply_recipe(self, group: FeatureGroup, table: pa.Table, recipe: Any) -> pa.Table:
        from kiln.data import infer_schema
        from kiln.recipe import Recipe, compile_recipe

        parsed = Recipe.parse(str(recipe) if isinstance(recipe, Path) else recipe)
        keys = [group.record_id, group.event_time]
        inputs = [c for c in table.column_names if c not in keys]
        # The semantic types (numeric, categorical, text...) the recipe's steps select by, read
        # as the data catalog reads them.
        types = {c["name"]: c["type"] for c in infer_schema(table.select(inputs))["columns"]}
        frame = table.to_pandas()
        transformer = compile_recipe(parsed, types, problem_type=None, scale_numeric=False, seed=0)
        transformer.fit(frame[inputs])
        after = transformer.transform_frame(frame[inputs])
        if after.blocks:
            raise ConfigError(
                f"The recipe makes sparse blocks ({', '.join(after.blocks)}), which a feature "
                "group cannot store; drop the text or hash steps.",
                code="feature.sparse-recipe",
            )
        out = after.dense.reset_index(drop=True)
        for key in reversed(keys):
            if key in frame:
                out.insert(0, key, frame[key].reset_index(drop=True))
        return _from_pandas(out)

    def _append(self, group: FeatureGroup, table: pa.Table, description: str) -> FeatureIngest:
        table = check_frame(
            table,
            schema=group.schema,
            record_id=group.record_id,
            event_time=group.event_time,
            group=group.name,
        )
        # The online store is reached before anything is written: one that does not answer
        # fails the ingest whole. (Opening it checks once; it may have stopped since.)
        online = self.online_store if group.online else None
        if online is not None:
            online.check()
        with self._ws.store.read() as session:
            last = session.scalar(
                select(func.max(FeatureIngestRow.write_time)).where(
                    FeatureIngestRow.group_id == group.id
                )
            )
        # Write times increase strictly within a group: they order ingests, and break ties in
        # event time in the point-in-time join.
        write_time = now()
        if last is not None and write_time <= last:
            write_time = last + timedelta(microseconds=1)
        stamped = table.append_column(
            pa.field(WRITE_TIME, pa.timestamp("us")),
            pa.array([write_time] * table.num_rows, pa.timestamp("us")),
        )
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "features.parquet"
            pq.write_table(stamped, path, compression="zstd", row_group_size=256 * 1024)
            digest = self._ws.artifacts.put_file(path)
        with self._ws.store.write() as session:
            latest = session.scalar(
                select(func.max(FeatureIngestRow.write_time)).where(
                    FeatureIngestRow.group_id == group.id
                )
            )
            if latest is not None and latest >= write_time:
                raise StateError(
                    f"Another ingest into feature group {group.name!r} was recorded while this "
                    "one was written; nothing of this one was recorded. Run it again.",
                    code="feature.concurrent-ingest",
                )
            row = FeatureIngestRow(
                id=new_id("fi"),
                group_id=group.id,
                digest=digest,
                row_count=table.num_rows,
                source=description,
                write_time=write_time,
                created_by=who(),
            )
            session.add(row)
            session.flush()
            ingest = FeatureIngest._from_row(row)
        if online is not None:
            try:
                self._write_online(online, group, table, _micros(write_time))
            except BaseException:
                # The store stopped answering mid-write: the ingest is taken back, so the
                # offline store does not hold what the online one may not. Records already
                # sent online are those the retry sends again.
                with self._ws.store.write() as session:
                    session.delete(session.get(FeatureIngestRow, ingest.id))
                raise
        return ingest

    @staticmethod
    def _write_online(
        online: OnlineStore, group: FeatureGroup, table: pa.Table, write_us: int
    ) -> None:
        # Only each id's latest record of this ingest can be kept online: the older ones are
        # not sent (the store would refuse them anyway).
        keys = table.select([group.record_id, group.event_time]).to_pandas()
        latest = keys.sort_values(group.event_time).drop_duplicates(group.record_id, keep="last")
        if len(latest) < table.num_rows:
            table = table.take(pa.array(latest.index.to_numpy()))
        events = table.column(group.event_time).cast(pa.int64()).to_pylist()
        ids = table.column(group.record_id).to_pylist()
        ttl = None if group.ttl_seconds is None else int(group.ttl_seconds * 1_000_000)
        entries = [
            (
                str(record_id),
                event,
                write_us,
                orjson.dumps(row, option=orjson.OPT_NAIVE_UTC | orjson.OPT_SERIALIZE_NUMPY),
                None if ttl is None else event + ttl,
            )
            for record_id, event, row in zip(ids, events, table.to_pylist(), strict=True)
        ]
        online.write(group.name, entries)

    # -- online ---------------------------------------------------------------------------------
    def get(self, group: str, record_id: Any) -> dict:
        """The latest record of ``record_id`` in an online group (``feature.unknown-record``, a
        404, when it has none or its TTL has passed)."""
        found = self.get_many(group, [record_id])[0]
        if found is None:
            raise NotFound(
                f"Feature group {group!r} has no online record with id {record_id!r} (never "
                "ingested, or past its TTL).",
                code="feature.unknown-record",
                field=self.describe(group).record_id,
            )
        return found

    def get_many(self, group: str, record_ids: list[Any]) -> list[dict | None]:
        """The latest online record of each id (None for an unknown or expired one)."""
        record = self.describe(group)
        if not record.online:
            raise StateError(
                f"Feature group {group!r} has no online store; read it with 'kiln features "
                "query', or create an online group (--online).",
                code="feature.not-online",
            )
        keys = [self._key(record, record_id) for record_id in record_ids]
        found = self.online_store.read_many(group, keys)
        clock = _micros(now())
        ttl = None if record.ttl_seconds is None else record.ttl_seconds * 1_000_000
        return [
            None
            if entry is None or (ttl is not None and entry[0] + ttl < clock)
            else orjson.loads(entry[1])
            for entry in found
        ]

    @staticmethod
    def _key(group: FeatureGroup, record_id: Any) -> str:
        """The id as the online store keys it. Integer ids are read strictly: int('1_0') is 10
        and int('١') is 1 in Python, which would read another id's record."""
        if isinstance(record_id, list | dict | tuple | set) or record_id is None:
            raise DataError(
                f"A record id of feature group {group.name!r} is one value; got {record_id!r}.",
                code="feature.bad-record-id",
                field=group.record_id,
            )
        if group.schema[group.record_id] != "int64":
            return str(record_id)
        if isinstance(record_id, float) and record_id.is_integer():
            record_id = int(record_id)
        text = record_id.strip() if isinstance(record_id, str) else record_id
        if isinstance(record_id, int) and not isinstance(record_id, bool):
            return str(record_id)
        if isinstance(text, str) and _WHOLE_NUMBER.fullmatch(text):
            return str(int(text))
        raise DataError(
            f"Record ids of feature group {group.name!r} are integers (digits 0-9, an optional "
            f"sign); got {record_id!r}.",
            code="feature.bad-record-id",
            field=group.record_id,
        )

    # -- offline --------------------------------------------------------------------------------
    def _paths(self, group: str, as_of: str | datetime | None = None) -> tuple[str, ...]:
        return tuple(
            str(self._ws.artifacts.local_path(i.digest, what=f"feature group {group} ingest"))
            for i in self.ingests(group, as_of=as_of)
        )

    def query(self, sql: str, *, as_of: str | datetime | None = None) -> pd.DataFrame:
        """Run SQL (DuckDB) over the offline store: each group is a table of every row ingested
        (with ``write_time``); ``as_of`` sees only what was written by then (time travel). The
        query can read no other file."""
        import duckdb

        groups = self.list()
        connection = duckdb.connect(config={"python_enable_replacements": False})
        try:
            paths = {g.name: self._paths(g.name, as_of) for g in groups}
            allowed = ", ".join(f"'{p}'" for files in paths.values() for p in files)
            connection.execute(f"SET allowed_paths = [{allowed}]")
            connection.execute("SET enable_external_access = false")
            for g in groups:
                if paths[g.name]:
                    files = ", ".join(f"'{p}'" for p in paths[g.name])
                    body = f"SELECT * FROM read_parquet([{files}])"
                else:
                    body = (
                        "SELECT "
                        + ", ".join(f'NULL::{_duck_type(t)} AS "{c}"' for c, t in g.schema.items())
                        + f', NULL::TIMESTAMP AS "{WRITE_TIME}" WHERE false'
                    )
                connection.execute(f'CREATE VIEW "{g.name}" AS {body}')
            connection.execute("SET lock_configuration = true")
            return connection.execute(sql).df()
        except duckdb.Error as exc:
            names = ", ".join(g.name for g in groups) or "none yet"
            raise ConfigError(
                f"The query failed: {str(exc).splitlines()[0]}. Feature groups (tables): {names}.",
                code="feature.bad-query",
            ) from exc
        finally:
            connection.close()

    # -- training sets --------------------------------------------------------------------------
    def training_set(
        self,
        entity_df: pd.DataFrame,
        features: list[str],
        *,
        event_time: str | None = None,
        as_of: str | datetime | None = None,
    ) -> pd.DataFrame:
        """``entity_df`` with the named features (``"GROUP:f1"``, ``"GROUP:*"``) as of each
        row's own time (its ``event_time`` column, by default the first group's event time
        column): the latest record at or before it, never a later one; ties in event time go
        to the later write. Ids without such a record get missing values. ``as_of`` uses only
        what the offline store held then. A feature named twice, or named like an entity
        column, is output as ``GROUP__feature``."""
        if not features:
            raise ConfigError(
                "Name at least one feature, e.g. ['customers:tenure'].",
                code="feature.no-features",
            )
        wanted: dict[str, list[str]] = {}
        records: dict[str, FeatureGroup] = {}
        for spec in features:
            name, sep, column = str(spec).partition(":")
            if not sep or not column:
                raise ConfigError(
                    f"Cannot read the feature {spec!r}: write GROUP:FEATURE (or GROUP:*), e.g. "
                    "'customers:tenure'.",
                    code="feature.bad-feature",
                )
            if name not in records:
                records[name] = self.describe(name)
            group = records[name]
            columns = group.features if column == "*" else [column]
            for c in columns:
                if c not in group.schema or c == group.record_id:
                    raise ConfigError(
                        f"Feature group {name!r} has no feature {c!r}; its features are "
                        f"{', '.join(group.features)}.",
                        code="feature.unknown-feature",
                        field=c,
                    )
                wanted.setdefault(name, [])
                if c not in wanted[name]:
                    wanted[name].append(c)
        if event_time is None:
            event_time = next(iter(records.values())).event_time
        for column, role in [(event_time, "event time")] + [
            (g.record_id, f"record id of group {g.name!r}") for g in records.values()
        ]:
            if column not in entity_df.columns:
                raise ConfigError(
                    f"The entity rows have no {role} column {column!r}; their columns are "
                    f"{', '.join(map(str, entity_df.columns))}.",
                    code="feature.missing-column",
                    field=column,
                )
        repeated = entity_df.columns[entity_df.columns.duplicated()]
        if len(repeated):
            raise DataError(
                f"The entity rows have column {repeated[0]!r} twice; give each column one name.",
                code="feature.bad-entity",
                field=str(repeated[0]),
            )
        for group in records.values():
            _check_entity_ids(entity_df[group.record_id], group)
        # Compared without case: DuckDB reads 'X' and 'x' as one column.
        names = [c.lower() for cs in wanted.values() for c in cs]
        taken = {str(c).lower() for c in entity_df.columns}
        joins = []
        for name, columns in wanted.items():
            group = records[name]
            outputs = {
                c: (f"{name}__{c}" if names.count(c.lower()) > 1 or c.lower() in taken else c)
                for c in columns
            }
            joins.append(
                GroupJoin(
                    name=name,
                    paths=self._paths(name, as_of),
                    record_id=group.record_id,
                    record_id_sql_type=_duck_type(group.schema[group.record_id]),
                    event_time=group.event_time,
                    features=outputs,
                    sql_types={c: _duck_type(group.schema[c]) for c in columns},
                )
            )
        return point_in_time_join(entity_df, event_time, joins)


def _check_entity_ids(ids: pd.Series, group: FeatureGroup) -> None:
    """Refuse entity ids the join would match wrongly rather than fail on: numbers that are not
    whole (1.5, '1.5'), which the cast to a group's integer ids rounds to another id's record,
    and floats for a group of text ids, which read as '7.0' and match no '7'. Missing ids are
    allowed (they join nothing); text that is no number is left to the join's own error."""
    if group.schema[group.record_id] == "string":
        if ids.dtype.kind == "f":
            raise DataError(
                f"The entity rows' {group.record_id!r} ids are floats (e.g. "
                f"{ids.dropna().iloc[0] if ids.notna().any() else 'NaN'}), and feature group "
                f"{group.name!r} has text ids, which 7.0 would never match. Convert them, e.g. "
                f"column.astype('Int64').astype('string').",
                code="feature.bad-entity",
                field=group.record_id,
            )
        return
    if ids.dtype.kind in "iub":
        return
    try:
        numbers = ids if ids.dtype.kind == "f" else pd.to_numeric(ids, errors="coerce")
    except (TypeError, ValueError):
        return
    fractional = ids[numbers.notna() & (numbers % 1 != 0)]
    if len(fractional):
        raise DataError(
            f"Entity row {fractional.index[0]} has record id {fractional.iloc[0]}, which is "
            f"not a whole number, and feature group {group.name!r} has integer ids "
            f"({len(fractional)} such row(s)). Fix or drop those rows; ids are matched exactly.",
            code="feature.bad-entity",
            field=group.record_id,
        )


def _duck_type(kiln_type: str) -> str:
    return {
        "int64": "BIGINT",
        "float64": "DOUBLE",
        "string": "VARCHAR",
        "bool": "BOOLEAN",
        "timestamp": "TIMESTAMP",
    }[kiln_type]


def _from_pandas(frame: pd.DataFrame) -> pa.Table:
    frame = frame.reset_index(drop=True)
    frame.columns = [str(c) for c in frame.columns]
    try:
        return pa.Table.from_pandas(frame, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise DataError(
            f"The rows cannot be read as a table: {exc}. Give each column one type.",
            code="feature.bad-record",
        ) from exc


def _load_schema(schema: dict | str | os.PathLike) -> dict:
    if isinstance(schema, dict):
        return schema
    import yaml

    path = Path(schema)
    try:
        loaded = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ConfigError(
            f"Cannot read the schema file {path}: {exc.strerror}.", code="feature.bad-schema"
        ) from exc
    except yaml.YAMLError as exc:
        raise ConfigError(
            f"The schema file {path} is not valid JSON or YAML: {exc}.", code="feature.bad-schema"
        ) from exc
    return loaded
