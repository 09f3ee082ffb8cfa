"""Read a source (CSV, Parquet, JSON lines, SQL query, DataFrame) into an Arrow table."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv

from kiln.errors import DataError

_DELIMITERS = ",;\t|"
_MAX_REPORTED = 10


def read_source(
    path: str | Path, *, format: str | None = None, delimiter: str | None = None
) -> pa.Table:
    """Read a file; the format comes from the extension unless given."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"No such file: {path}. Check the path.", code="data.file-not-found")
    if path.is_dir():
        raise DataError(f"{path} is a folder; give a file.", code="data.not-a-file")
    if path.stat().st_size == 0:
        raise DataError(f"{path} is empty (0 bytes). Nothing was ingested.", code="data.empty")
    fmt = (format or _format_from_suffix(path)).lower()
    if fmt == "csv":
        return read_csv(path, delimiter=delimiter)
    if fmt == "parquet":
        return _read_parquet(path)
    if fmt in ("jsonl", "json"):
        return _read_jsonl(path)
    raise DataError(
        f"Unknown data format {fmt!r} for {path}. Use csv, parquet or jsonl (--format).",
        code="data.unknown-format",
    )


def _format_from_suffix(path: Path) -> str:
    suffixes = [s.lower() for s in path.suffixes]
    if ".parquet" in suffixes or ".pq" in suffixes:
        return "parquet"
    if ".jsonl" in suffixes or ".ndjson" in suffixes or ".json" in suffixes:
        return "jsonl"
    if ".csv" in suffixes or ".tsv" in suffixes or ".txt" in suffixes:
        return "csv"
    raise DataError(
        f"Cannot tell the format of {path} from its name. Pass --format csv|parquet|jsonl.",
        code="data.unknown-format",
    )


def sniff_delimiter(path: Path) -> str:
    with open(path, encoding="utf-8-sig", errors="replace", newline="") as handle:
        head = handle.read(64 * 1024)
    first_line = head.splitlines()[0] if head else ""
    try:
        return csv.Sniffer().sniff(head, delimiters=_DELIMITERS).delimiter
    except csv.Error:
        # One-column files and ragged samples: the most frequent candidate in the header wins.
        counts = {d: first_line.count(d) for d in _DELIMITERS}
        best = max(counts, key=counts.get)
        return best if counts[best] else ","


def csv_parse_options(delimiter: str, bad_rows: list | None = None) -> pacsv.ParseOptions:
    def on_invalid(row) -> str:
        bad_rows.append(row)
        return "skip"

    return pacsv.ParseOptions(
        delimiter=delimiter,
        newlines_in_values=True,
        invalid_row_handler=on_invalid if bad_rows is not None else None,
    )


def read_csv(path: Path, *, delimiter: str | None = None) -> pa.Table:
    """Read a CSV whole, or raise naming every broken row (by line number) and write nothing."""
    delimiter = delimiter or sniff_delimiter(path)
    bad_rows: list = []
    try:
        table = pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(use_threads=False, block_size=16 << 20),
            parse_options=csv_parse_options(delimiter, bad_rows),
            convert_options=pacsv.ConvertOptions(strings_can_be_null=True),
        )
    except pa.ArrowInvalid as exc:
        raise DataError(
            f"Cannot read {path} as CSV (delimiter {delimiter!r}): {exc}", code="data.bad-csv"
        ) from exc
    if bad_rows:
        shown = "; ".join(
            f"line {row.number}: expected {row.expected_columns} fields, found "
            f"{row.actual_columns} ({row.text[:60]!r})"
            for row in bad_rows[:_MAX_REPORTED]
        )
        more = f" and {len(bad_rows) - _MAX_REPORTED} more" if len(bad_rows) > _MAX_REPORTED else ""
        raise DataError(
            f"{path} has {len(bad_rows)} broken row(s) — {shown}{more}. Nothing was ingested. "
            "Fix or remove those lines (quote values that contain the delimiter).",
            code="data.broken-rows",
        )
    if table.num_rows == 0:
        raise DataError(
            f"{path} has a header but no data rows. Nothing was ingested.", code="data.empty"
        )
    return table


def _read_parquet(path: Path) -> pa.Table:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise DataError(f"Cannot read {path} as Parquet: {exc}", code="data.bad-parquet") from exc
    if table.num_rows == 0:
        raise DataError(f"{path} has no rows. Nothing was ingested.", code="data.empty")
    return table


def _read_jsonl(path: Path) -> pa.Table:
    import pyarrow.json as pajson

    try:
        table = pajson.read_json(path)
    except pa.ArrowInvalid as exc:
        raise DataError(
            f"{path} is not valid JSON lines: {_first_bad_json_line(path) or exc}. "
            "Nothing was ingested. Each line must be one JSON object.",
            code="data.bad-json",
        ) from exc
    if table.num_rows == 0:
        raise DataError(f"{path} has no rows. Nothing was ingested.", code="data.empty")
    return table


def _first_bad_json_line(path: Path) -> str | None:
    with open(path, encoding="utf-8", errors="replace") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except json.JSONDecodeError as exc:
                return f"line {number}: {exc.msg} ({line.strip()[:60]!r})"
            if not isinstance(value, dict):
                return f"line {number}: expected an object, found {type(value).__name__}"
    return None


def read_sql(query: str, conn: str) -> pa.Table:
    import pandas as pd
    from sqlalchemy import create_engine
    from sqlalchemy.exc import SQLAlchemyError

    try:
        engine = create_engine(conn)
    except Exception as exc:
        raise DataError(
            f"Cannot open the database {conn!r}: {exc}. Give a SQLAlchemy URL such as "
            "sqlite:///path/to.db or postgresql://user@host/db.",
            code="data.bad-connection",
        ) from exc
    try:
        with engine.connect() as connection:
            frame = pd.read_sql_query(query, connection)
    except (SQLAlchemyError, pd.errors.DatabaseError) as exc:
        cause = exc.__cause__ if isinstance(exc, pd.errors.DatabaseError) and exc.__cause__ else exc
        raise DataError(
            f"The SQL query failed on {engine.url.render_as_string(hide_password=True)}: "
            f"{getattr(cause, 'orig', cause)}. Check the query.",
            code="data.bad-query",
        ) from exc
    finally:
        engine.dispose()
    if frame.empty:
        raise DataError("The SQL query returned no rows. Nothing was ingested.", code="data.empty")
    return pa.Table.from_pandas(frame, preserve_index=False)


def table_from_frame(frame) -> pa.Table:
    if len(frame) == 0:
        raise DataError("The DataFrame has no rows. Nothing was ingested.", code="data.empty")
    frame = frame.reset_index(drop=True)
    frame.columns = [str(c) for c in frame.columns]
    return pa.Table.from_pandas(frame, preserve_index=False)


def csv_bytes_to_table(data: bytes) -> pa.Table:
    """Parse a CSV request body (header row required)."""
    return pacsv.read_csv(
        io.BytesIO(data),
        parse_options=pacsv.ParseOptions(delimiter=","),
        convert_options=pacsv.ConvertOptions(strings_can_be_null=True),
    )
