"""The data lake: immutable, versioned Parquet data set versions, queried with DuckDB."""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import func, select

from kiln.artifacts import sha256_file
from kiln.data._read import read_source, read_sql, table_from_frame
from kiln.data._schema import infer_schema, normalise_table
from kiln.data._split import split_frame
from kiln.errors import ConfigError, DataError, NotFound
from kiln.refs import check_name, parse_ref
from kiln.store import DatasetVersionRow, Record, link, new_id, now, who

if TYPE_CHECKING:
    import pandas as pd

    from kiln.context import Context

__all__ = ["DataCatalog", "DatasetVersion"]


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
    ) -> DatasetVersion:
        """Ingest a file, a DataFrame or a SQL query as a new version of ``name``.

        Identical content returns the existing version instead of making a new one. On any error
        nothing is written.
        """
        check_name(name, what="data set")
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
        elif hasattr(source, "to_parquet") and hasattr(source, "columns"):
            table, description = table_from_frame(source), "DataFrame"
        else:
            path = Path(source)
            table = read_source(path, format=format, delimiter=delimiter)
            description = f"file: {path.resolve()}"
        return self._store_table(table, name=name, source=description)

    def _store_table(
        self, table: pa.Table, *, name: str, source: str, parents: tuple[str, ...] = ()
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
                latest = (
                    select(DatasetVersionRow.name, func.max(DatasetVersionRow.version).label("v"))
                    .group_by(DatasetVersionRow.name)
                    .subquery()
                )
                rows = session.scalars(
                    select(DatasetVersionRow)
                    .join(
                        latest,
                        (DatasetVersionRow.name == latest.c.name)
                        & (DatasetVersionRow.version == latest.c.v),
                    )
                    .order_by(DatasetVersionRow.name)
                ).all()
            return [DatasetVersion._from_row(r) for r in rows]

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

    def query(self, sql: str) -> pd.DataFrame:
        """Run SQL through DuckDB; each data set name is a table (its latest version), ``name@3``
        a given version."""
        import duckdb

        names = {v.name for v in self.list()}
        rewritten = sql
        views: dict[str, str] = {}
        for match in set(re.findall(r"\b([A-Za-z_][A-Za-z0-9_]*)@(\d+)\b", sql)):
            ref = f"{match[0]}@{match[1]}"
            view = f"{match[0]}__v{match[1]}"
            views[view] = ref
            rewritten = re.sub(rf"\b{re.escape(ref)}\b", view, rewritten)
        words = set(re.findall(r"\b[A-Za-z_][A-Za-z0-9_]*\b", rewritten))
        for name in names & words:
            views.setdefault(name, name)
        connection = duckdb.connect()
        try:
            for view, ref in views.items():
                path = str(self.path(ref)).replace("'", "''")
                connection.execute(
                    f"CREATE VIEW \"{view}\" AS SELECT * FROM read_parquet('{path}')"
                )
            return connection.execute(rewritten).df()
        except duckdb.Error as exc:
            message = str(exc).splitlines()[0]
            hint = (
                f" Known data sets: {', '.join(sorted(names))}." if names else " No data sets yet."
            )
            raise DataError(f"The query failed: {message}.{hint}", code="data.bad-query") from exc
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


def _hide_password(url: str) -> str:
    return re.sub(r"(://[^:/@]+):[^@]+@", r"\1:***@", url)
