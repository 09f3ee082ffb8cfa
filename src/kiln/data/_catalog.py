"""The data lake: immutable, versioned Parquet data set versions, queried with DuckDB."""

from __future__ import annotations

import functools
import os
import re
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import func, select

from kiln.artifacts import sha256_file
from kiln.data._capture import capture_records, capture_rows, parse_since
from kiln.data._read import read_source, read_sql, table_from_frame
from kiln.data._schema import infer_schema, normalise_table
from kiln.data._split import split_frame
from kiln.errors import ConfigError, DataError, KilnError, NotFound
from kiln.refs import NAME_PATTERN, check_name, parse_ref
from kiln.store import (
    DatasetVersionRow,
    EndpointRow,
    GroundTruthRow,
    Page,
    Record,
    check_page,
    latest_versions,
    like_pattern,
    link,
    new_id,
    now,
    paged,
    who,
)

if TYPE_CHECKING:
    import pandas as pd

    from kiln.context import Context

__all__ = ["DataCatalog", "DatasetVersion", "json_rows"]

# What one query of the Studio query box (:meth:`DataCatalog.query_page`, sandboxed) may take:
# any signed-in user can send one, so a cross join must not take the server's memory or a core
# for good.
QUERY_SECONDS = 30.0
QUERY_MEMORY = "2GB"
# The most one page of the query box's rows may hold (as Arrow buffers): a page of long strings
# would otherwise become gigabytes of pandas objects and JSON in the server.
QUERY_PAGE_BYTES = 32 * 2**20


@dataclass(frozen=True)
class DatasetVersion(Record):
    """One immutable version of a data set."""

    id: str
    name: str
    version: int
    digest: str
    row_count: int
    column_count: int
    schema: dict
    size_bytes: int
    source: str
    created_at: datetime
    created_by: str

    @property
    def ref(self) -> str:
        return f"{self.name}:{self.version}"

    @property
    def columns(self) -> list[str]:
        return [c["name"] for c in self.schema["columns"]]

    def column_types(self) -> dict[str, str]:
        return {c["name"]: c["type"] for c in self.schema["columns"]}

    def to_dict(self) -> dict:
        return self._plain() | {"ref": self.ref}


class DataCatalog:
    """``ws.data``: ingest, list, load, query and split data set versions."""

    def __init__(self, workspace: Context):
        self._ws = workspace

    # -- ingest ---------------------------------------------------------------------------------
    def ingest(
        self,
        source: str | os.PathLike | pd.DataFrame | None = None,
        *,
        name: str,
        sql: str | None = None,
        conn: str | None = None,
        format: str | None = None,
        delimiter: str | None = None,
        encoding: str | None = None,
        description: str | None = None,
        lineage: tuple[tuple[str, str, str], ...] = (),
    ) -> DatasetVersion:
        """Ingest a file, a DataFrame or a SQL query as a new version of ``name``.

        Identical content returns the existing version instead of making a new one. On any error
        nothing is written. CSV and JSON-lines files are UTF-8 unless ``encoding`` names another
        (``"cp1252"``, ``"latin-1"``, ``"utf-16"``: any Python codec). ``description`` replaces
        the recorded source of a DataFrame (``"DataFrame"``), e.g. where its rows came from, or a
        file's path, in the record and in errors (a temporary copy's path says nothing: Studio
        names the uploaded file instead);
        ``lineage`` the edges ``(kind, id, relation)`` from the records the rows came from, written
        in the same transaction as a new version.
        """
        check_name(name, what="data set")
        _check_not_keyword(name)
        is_frame = hasattr(source, "to_parquet") and hasattr(source, "columns")
        if encoding is not None and (sql is not None or is_frame):
            raise ConfigError(
                f"The encoding ({encoding!r}) is for CSV and JSON-lines files; a DataFrame or a "
                "SQL query is already text. Leave it out.",
                code="data.unknown-encoding",
            )
        if sql is not None:
            if not conn:
                raise ConfigError(
                    "--sql needs --conn, the SQLAlchemy URL of the database "
                    "(e.g. sqlite:///shop.db).",
                    code="data.missing-connection",
                )
            table, description = read_sql(sql, conn), f"sql: {sql} @ {_hide_password(conn)}"
        elif source is None:
            raise ConfigError("Give a file, a DataFrame or --sql to ingest.", code="data.no-source")
        elif is_frame:
            table = table_from_frame(source)
            description = f"DataFrame: {description}" if description else "DataFrame"
        else:
            path = Path(source)
            table = read_source(
                path, format=format, delimiter=delimiter, encoding=encoding, display=description
            )
            description = f"file: {description or path.resolve()}"
        return self._store_table(table, name=name, source=description, lineage=lineage)

    def _store_table(
        self,
        table: pa.Table,
        *,
        name: str,
        source: str,
        parents: tuple[str, ...] = (),
        lineage: tuple[tuple[str, str, str], ...] = (),
    ) -> DatasetVersion:
        table = normalise_table(table, source=source.split(": ", 1)[-1])
        schema = infer_schema(table)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "data.parquet"
            # Fixed writer settings and no wall-clock metadata, so equal content gives equal bytes.
            pq.write_table(table, path, compression="zstd", row_group_size=128 * 1024)
            digest = sha256_file(path)
            with self._ws.store.write() as session:
                existing = session.scalars(
                    select(DatasetVersionRow).where(
                        DatasetVersionRow.name == name, DatasetVersionRow.digest == digest
                    )
                ).first()
                if existing is not None:
                    return DatasetVersion._from_row(existing)
                self._ws.artifacts.put_file(path)
                latest = session.scalar(
                    select(func.max(DatasetVersionRow.version)).where(
                        DatasetVersionRow.name == name
                    )
                )
                row = DatasetVersionRow(
                    id=new_id("ds"),
                    name=name,
                    version=(latest or 0) + 1,
                    digest=digest,
                    row_count=table.num_rows,
                    column_count=table.num_columns,
                    schema=schema,
                    size_bytes=path.stat().st_size,
                    source=source,
                    created_at=now(),
                    created_by=who(),
                )
                session.add(row)
                session.flush()
                for parent in parents:
                    link(session, ("dataset_version", parent), ("dataset_version", row.id), "split")
                for kind, record_id, relation in lineage:
                    link(session, (kind, record_id), ("dataset_version", row.id), relation)
                return DatasetVersion._from_row(row)

    # -- read -----------------------------------------------------------------------------------
    def get(self, ref: str) -> DatasetVersion:
        """The version named by ``name`` (latest), ``name:3`` or ``name@3``."""
        name, version = parse_ref(ref, what="data set")
        with self._ws.store.read() as session:
            query = select(DatasetVersionRow).where(DatasetVersionRow.name == name)
            if version is None:
                query = query.order_by(DatasetVersionRow.version.desc())
            else:
                query = query.where(DatasetVersionRow.version == version)
            row = session.scalars(query.limit(1)).first()
            if row is None:
                known = session.scalars(
                    select(DatasetVersionRow.version).where(DatasetVersionRow.name == name)
                ).all()
                if known:
                    raise NotFound(
                        f"Data set {name!r} has no version {version}; it has versions "
                        f"{', '.join(map(str, sorted(known)))}.",
                        code="data.unknown-version",
                    )
                raise NotFound(
                    f"No data set named {name!r}. See 'kiln data list', or ingest one with "
                    f"'kiln data ingest FILE --name {name}'.",
                    code="data.unknown-dataset",
                )
            return DatasetVersion._from_row(row)

    def get_by_id(self, dataset_id: str) -> DatasetVersion:
        with self._ws.store.read() as session:
            row = session.get(DatasetVersionRow, dataset_id)
            if row is None:
                raise NotFound(
                    f"No data set version with id {dataset_id!r}.", code="data.unknown-id"
                )
            return DatasetVersion._from_row(row)

    def list(self, name: str | None = None) -> list[DatasetVersion]:
        """The latest version of every data set, or every version of ``name``."""
        with self._ws.store.read() as session:
            if name is not None:
                rows = session.scalars(
                    select(DatasetVersionRow)
                    .where(DatasetVersionRow.name == name)
                    .order_by(DatasetVersionRow.version)
                ).all()
                if not rows:
                    self.get(name)  # raises the helpful NotFound
            else:
                rows = latest_versions(session, DatasetVersionRow)
            return [DatasetVersion._from_row(r) for r in rows]

    def _names(self) -> list[str]:
        with self._ws.store.read() as session:
            return list(session.scalars(select(DatasetVersionRow.name).distinct()))

    def page(
        self,
        *,
        q: str | None = None,
        sort: str | None = None,
        limit: int | None = None,
        offset: int | None = None,
    ) -> Page[DatasetVersion]:
        """A page of data sets, the latest version of each: ``q`` finds text in the name;
        ``sort`` by ``name`` (default), ``created_at`` (the latest version's) or ``rows``
        (``-`` first for descending)."""
        latest = (
            select(DatasetVersionRow.name, func.max(DatasetVersionRow.version).label("version"))
            .group_by(DatasetVersionRow.name)
            .subquery()
        )
        query = select(DatasetVersionRow).join(
            latest,
            (DatasetVersionRow.name == latest.c.name)
            & (DatasetVersionRow.version == latest.c.version),
        )
        if q:
            query = query.where(DatasetVersionRow.name.like(like_pattern(q), escape="\\"))
        columns = {
            "name": DatasetVersionRow.name,
            "created_at": DatasetVersionRow.created_at,
            "rows": DatasetVersionRow.row_count,
        }
        return self._page(query, sort=sort, limit=limit, offset=offset, columns=columns)

    def versions(
        self,
        name: str,
        *,
        sort: str | None = None,
        limit: int | None = None,
        offset: int | None = None,
    ) -> Page[DatasetVersion]:
        """A page of the versions of data set ``name``, newest first by default; ``sort`` by
        ``version``, ``created_at`` or ``rows``. An unknown name raises ``data.unknown-dataset``."""
        query = select(DatasetVersionRow).where(DatasetVersionRow.name == name)
        columns = {
            "version": DatasetVersionRow.version,
            "created_at": DatasetVersionRow.created_at,
            "rows": DatasetVersionRow.row_count,
        }
        page = self._page(
            query, sort=sort or "-version", limit=limit, offset=offset, columns=columns
        )
        if page.total == 0:
            self.get(name)  # raises the helpful NotFound
        return page

    def _page(self, query, *, sort, limit, offset, columns) -> Page[DatasetVersion]:
        with self._ws.store.read() as session:
            page = paged(
                session,
                query,
                limit=limit,
                offset=offset,
                sort=sort,
                columns=columns,
                default_sort=next(iter(columns)),
            )
            return page.with_items([DatasetVersion._from_row(r) for r in page.items])

    def path(self, ref: str | DatasetVersion) -> Path:
        """A local path to the verified Parquet file of a version."""
        version = ref if isinstance(ref, DatasetVersion) else self.get(ref)
        return self._ws.artifacts.local_path(version.digest, what=f"data set {version.ref}")

    def load(self, ref: str | DatasetVersion, *, columns: list[str] | None = None) -> pd.DataFrame:
        """The version as a pandas DataFrame."""
        version = ref if isinstance(ref, DatasetVersion) else self.get(ref)
        if columns:
            unknown = [c for c in columns if c not in version.columns]
            if unknown:
                raise unknown_column(unknown[0], version)
        return pq.read_table(self.path(version), columns=columns).to_pandas()

    def head(self, ref: str, n: int = 10) -> pd.DataFrame:
        version = self.get(ref)
        parquet = pq.ParquetFile(self.path(version))
        batch = next(parquet.iter_batches(batch_size=max(n, 1)), None)
        if batch is None:
            return parquet.schema_arrow.empty_table().to_pandas()
        return pa.Table.from_batches([batch]).slice(0, n).to_pandas()

    def capture(self, endpoint: str, *, since: str | datetime | None = None) -> pd.DataFrame:
        """What endpoint ``endpoint`` captured: one row per predicted row, with its inputs (PII
        columns as tokens), ``predicted_*`` columns, ``inference_id``, ``row``, ``variant``,
        ``model``, ``timestamp``, ``latency_ms`` and the ground-truth ``label`` (missing until
        uploaded). ``since``: an ISO 8601 time or a duration back from now (``24h``).
        """
        records = capture_records(self._ws.artifacts, endpoint, since=parse_since(since))
        if not records:
            with self._ws.store.read() as session:
                known = session.scalars(select(EndpointRow.name)).all()
            if endpoint not in known:
                raise NotFound(
                    f"No endpoint named {endpoint!r} to read the capture of. Endpoints: "
                    f"{', '.join(sorted(known)) or 'none'}.",
                    code="serving.unknown-endpoint",
                )
        return capture_rows(records, self.ground_truth_labels(endpoint))

    def ground_truth_labels(self, endpoint: str) -> dict:
        """``{inference_id: label}`` of the ground truth uploaded for ``endpoint``."""
        with self._ws.store.read() as session:
            rows = session.execute(
                select(GroundTruthRow.inference_id, GroundTruthRow.label).where(
                    GroundTruthRow.endpoint == endpoint
                )
            ).all()
        return {inference_id: (label or {}).get("value") for inference_id, label in rows}

    def query(self, sql: str, *, external_access: bool = False) -> pd.DataFrame:
        """Run SQL through DuckDB; each data set name is a table (its latest version), ``name@3``
        a given version.

        ``capture('churn')`` is what endpoint ``churn`` captured, as :meth:`capture` returns it.

        Parameters
        ----------
        sql
            The query. Only identifiers are rewritten: ``'churn@1'`` in a string stays as written.
        external_access
            Let the query reach past the lake: read any file the process can read
            (``read_csv('/etc/passwd')``), write files (``COPY ... TO``), attach databases and load
            extensions. Off by default, when the query can read only the data sets it names. The
            CLI turns it on for the local user's own queries; keep it off for SQL written by
            anyone else (a web request, a shared notebook service).
        """
        with self._duckdb(sql, external_access=external_access) as (connection, rewritten):
            return connection.execute(rewritten).df()

    def query_page(
        self,
        sql: str,
        *,
        limit: int | None = None,
        offset: int | None = None,
        external_access: bool = False,
        seconds: float | None = None,
    ) -> Page[list]:
        """One page of a query's rows, JSON-ready (``items``: lists of values; ``columns`` in
        ``extra``), and how many rows the whole query has.

        The query runs inside ``SELECT * FROM (sql) LIMIT .. OFFSET ..``, so only the page is
        materialised, and its count is a separate ``SELECT count(*)`` over it: a query over a
        large data set pages without loading it. A failing query is the caller's input, so it
        raises :class:`~kiln.errors.ConfigError` (``data.bad-query``, the database's message),
        which the Studio API answers as a 400. Sandboxed as :meth:`query` is.

        The query box is open to every Studio user, so the query must be one ``SELECT`` (a
        ``SET``, ``COPY``, ``ATTACH`` or a second statement is ``data.not-a-select``), may use at
        most :data:`QUERY_MEMORY` of memory, and is stopped after ``seconds`` (default
        :data:`QUERY_SECONDS`) as ``data.query-timeout``.
        """
        limit, offset = check_page(limit, offset)
        body = sql.strip().rstrip(";").strip()
        if not body:
            raise ConfigError(
                "The query is empty. Write one, e.g. SELECT * FROM churn.", code="data.bad-query"
            )
        import duckdb

        seconds = QUERY_SECONDS if seconds is None else seconds
        with self._duckdb(
            body,
            external_access=external_access,
            bad_query=ConfigError,
            memory_limit=None if external_access else QUERY_MEMORY,
        ) as (connection, rewritten):
            _check_one_select(connection, rewritten)
            # DuckDB has no statement timeout: a timer interrupts the connection instead.
            timer = threading.Timer(seconds, connection.interrupt)
            timer.start()
            try:
                wrapped = f"SELECT * FROM (\n{rewritten}\n) AS query_rows"
                relation = connection.sql(f"{wrapped} LIMIT {limit} OFFSET {offset}")
                columns = list(relation.columns)
                frame = _page_frame(connection, relation)
                total = connection.execute(f"SELECT count(*) FROM (\n{rewritten}\n)").fetchone()
            except duckdb.InterruptException as exc:
                raise ConfigError(
                    f"The query ran for more than {seconds:g} s and was stopped. Narrow it (a "
                    "WHERE, fewer joins, an aggregate over fewer rows) or run it yourself with "
                    "'kiln data query'.",
                    code="data.query-timeout",
                ) from exc
            finally:
                timer.cancel()
            total = total[0]
        return Page(
            items=json_rows(frame),
            total=int(total),
            offset=offset,
            limit=limit,
            extra={"columns": columns},
        )

    @contextmanager
    def _duckdb(
        self,
        sql: str,
        *,
        external_access: bool,
        bad_query: type[KilnError] = DataError,
        memory_limit: str | None = None,
    ) -> Iterator[tuple[Any, str]]:
        """A DuckDB connection with the views ``sql`` names, and ``sql`` rewritten to use them;
        DuckDB's errors raised as kiln's (``bad_query`` for a query that fails)."""
        import duckdb

        names = set(self._names())
        rewritten, views, captures = _rewrite_refs(sql, names)
        connection = duckdb.connect(config={"python_enable_replacements": False})
        try:
            for view, endpoint in captures.items():
                # Registered as a table of rows: the query reads it without touching any file.
                connection.register(view, self.capture(endpoint))
            paths = {view: str(self.path(ref)) for view, ref in views.items()}
            if not external_access:
                # DuckDB's own sandbox: only the files of the named versions stay readable, and
                # the lock keeps the query from turning access back on (SET ...).
                allowed = ", ".join(_sql_string(path) for path in paths.values())
                connection.execute(f"SET allowed_paths = [{allowed}]")
                if memory_limit is not None:
                    connection.execute(f"SET memory_limit = {_sql_string(memory_limit)}")
                connection.execute("SET enable_external_access = false")
                connection.execute("SET lock_configuration = true")
            for view, path in paths.items():
                connection.execute(
                    f'CREATE VIEW "{view}" AS SELECT * FROM read_parquet({_sql_string(path)})'
                )
            yield connection, rewritten
        except duckdb.Error as exc:
            message = str(exc).splitlines()[0]
            if not external_access and (
                isinstance(exc, duckdb.PermissionException)
                or "configuration has been locked" in message
            ):
                raise DataError(
                    f"The query reaches outside the lake, which is turned off for it: {message}. "
                    "It can read the data sets it names (FROM churn, churn@2); reading or writing "
                    "files (read_csv, COPY ... TO), ATTACH, extensions and settings are refused. "
                    "For your own queries, pass external_access=True (kiln data query does).",
                    code="data.external-access",
                ) from exc
            hint = (
                f" Known data sets: {', '.join(sorted(names))}." if names else " No data sets yet."
            )
            raise bad_query(f"The query failed: {message}.{hint}", code="data.bad-query") from exc
        finally:
            connection.close()

    # -- split ----------------------------------------------------------------------------------
    def split(
        self,
        ref: str | DatasetVersion,
        *,
        target: str | None = None,
        ratios: tuple[float, float, float] = (0.7, 0.1, 0.2),
        time_column: str | None = None,
        stratify: bool | None = None,
        seed: int = 42,
    ) -> dict[str, DatasetVersion]:
        """Split into ``{name}_train``, ``{name}_validation`` and ``{name}_test`` versions.

        Stratified on ``target`` for classification (``stratify=None`` decides from the target),
        ordered by ``time_column`` when given (train earliest, test latest), seeded. Splitting the
        same version the same way returns the same versions.
        """

        version = ref if isinstance(ref, DatasetVersion) else self.get(ref)
        for column in (target, time_column):
            if column is not None and column not in version.columns:
                raise unknown_column(column, version)
        frame = self.load(version)
        parts = split_frame(
            frame,
            target=target,
            ratios=ratios,
            time_column=time_column,
            stratify=stratify,
            seed=seed,
        )
        description = (
            f"split of {version.ref}: ratios={list(ratios)} seed={seed} target={target} "
            f"time_column={time_column}"
        )
        return {
            part: self._store_table(
                pa.Table.from_pandas(rows, preserve_index=False),
                name=f"{version.name}_{part}",
                source=f"{description} part={part}",
                parents=(version.id,),
            )
            for part, rows in parts.items()
        }


def json_rows(frame: pd.DataFrame) -> list[list]:
    """A frame's rows as lists of JSON-ready values: missing values as None, times in ISO 8601,
    decimals and numpy scalars as plain numbers."""
    import json

    return json.loads(frame.to_json(orient="values", date_format="iso", default_handler=str))


def unknown_column(column: str, version: DatasetVersion) -> DataError:
    """The error for a column ``version`` does not have, with the closest name suggested."""
    import difflib

    close = difflib.get_close_matches(column, version.columns, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return DataError(
        f"Data set {version.ref} has no column {column!r}.{hint} Its columns: "
        f"{', '.join(version.columns[:30])}{' …' if len(version.columns) > 30 else ''}.",
        code="data.unknown-column",
        field=column,
    )


def _rewrite_refs(sql: str, names: set[str]) -> tuple[str, dict[str, str], dict[str, str]]:
    """``sql`` with each ``name@N`` and ``capture('E')`` replaced by a view name, the views it
    needs (view → ref) and the captures (view → endpoint).

    DuckDB's tokenizer finds the identifiers, so strings and comments stay as written.
    """
    import duckdb

    try:
        tokens = duckdb.tokenize(sql)
    except duckdb.Error:
        return sql, {}, {}  # DuckDB reports the syntax error when the query runs
    spans = []
    for index, (start, kind) in enumerate(tokens):
        end = tokens[index + 1][0] if index + 1 < len(tokens) else len(sql)
        spans.append((start, start + len(sql[start:end].rstrip()), kind))
    words = (duckdb.token_type.identifier, duckdb.token_type.keyword)
    views: dict[str, str] = {}
    captures: dict[str, str] = {}
    pieces, done, index = [], 0, 0
    while index < len(spans):
        start, end, kind = spans[index]
        text = sql[start:end]
        if kind in words and text.lower() == "capture" and index + 3 < len(spans):
            following = [sql[a:b] for a, b, _ in spans[index + 1 : index + 4]]
            if (
                following[0] == "("
                and following[2] == ")"
                and spans[index + 2][2] == duckdb.token_type.string_const
            ):
                endpoint = following[1][1:-1].replace("''", "'")
                view = f"capture__{len(captures)}"
                captures[view] = endpoint
                pieces += [sql[done:start], view]
                done, index = spans[index + 3][1], index + 4
                continue
        if kind in words and index + 2 < len(spans):
            (at, at_end, _), (number, number_end, number_kind) = spans[index + 1 : index + 3]
            version = sql[number:number_end]
            if (
                at == end
                and sql[at:at_end] == "@"
                and number == at_end
                and number_kind == duckdb.token_type.numeric_const
                and version.isdigit()
                and NAME_PATTERN.match(text)
            ):
                view = f"{text}__v{version}"
                views[view] = f"{text}@{version}"
                pieces += [sql[done:start], view]
                done, index = number_end, index + 3
                continue
        if kind in words:
            name = text[1:-1].replace('""', '"') if text.startswith('"') else text
            if name in names:
                views.setdefault(name, name)
        index += 1
    return "".join(pieces) + sql[done:], views, captures


def _page_frame(connection: Any, relation: Any) -> pd.DataFrame:
    """A page of a query's result as DuckDB's DataFrame, read in batches and refused
    (``data.page-too-large``) once it passes :data:`QUERY_PAGE_BYTES`."""
    batches, size = [], 0
    reader = relation.to_arrow_reader(100)
    for batch in reader:
        size += batch.nbytes
        if size > QUERY_PAGE_BYTES:
            raise ConfigError(
                f"A page of this query holds more than {QUERY_PAGE_BYTES // 2**20} MB. Ask for "
                "fewer rows (limit) or fewer, shorter columns (left(text, 200), no blobs).",
                code="data.page-too-large",
            )
        batches.append(batch)
    table = pa.Table.from_batches(batches, schema=reader.schema)
    # Back through DuckDB, so the values convert exactly as a query's .df() converts them.
    return connection.from_arrow(table).df()


def _check_one_select(connection: Any, sql: str) -> None:
    """Refuse anything but one SELECT (WITH, VALUES and FROM-first queries are SELECTs)."""
    import duckdb

    statements = connection.extract_statements(sql)
    if len(statements) != 1 or statements[0].type != duckdb.StatementType.SELECT:
        kinds = ", ".join(statement.type.name for statement in statements)
        raise ConfigError(
            f"The query box runs one SELECT; this is {kinds or 'no statement'}. Write one query "
            "(SELECT ..., WITH ... SELECT ..., FROM churn) without ';' between statements.",
            code="data.not-a-select",
        )


def _sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


@functools.cache
def _sql_keywords() -> frozenset[str]:
    """The keywords DuckDB cannot take as a table name unquoted (its reserved keywords and, but
    for a few, those it keeps for type and function names: ``left``, ``join``)."""
    import duckdb

    with duckdb.connect() as connection:
        rows = connection.execute(
            "SELECT keyword_name FROM duckdb_keywords() "
            "WHERE keyword_category IN ('reserved', 'type_function')"
        ).fetchall()
    return frozenset(row[0].lower() for row in rows)


def _check_not_keyword(name: str) -> None:
    if name.lower() in _sql_keywords():
        raise ConfigError(
            f"Invalid data set name {name!r}: it is an SQL keyword, so a query could not name it "
            f"unquoted (SELECT * FROM {name}). Use another name, e.g. {name + '_data'!r}.",
            code="name.sql-keyword",
        )


def _hide_password(url: str) -> str:
    return re.sub(r"(://[^:/@]+):[^@]+@", r"\1:***@", url)
