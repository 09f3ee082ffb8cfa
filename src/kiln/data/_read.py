"""Read a source (CSV, Parquet, JSON lines, SQL query, DataFrame) into an Arrow table."""

from __future__ import annotations

import codecs
import csv
import io
import json
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv

from kiln.data._csv_check import count_records
from kiln.errors import ConfigError, DataError

_DELIMITERS = ",;\t|"
_MAX_REPORTED = 10
_DECODE_CHUNK = 1 << 24


def read_source(
    path: str | Path,
    *,
    format: str | None = None,
    delimiter: str | None = None,
    encoding: str | None = None,
    display: str | None = None,
) -> pa.Table:
    """Read a file; the format comes from the extension unless given.

    Text files (CSV, JSON lines) are UTF-8 unless ``encoding`` names another Python codec.
    ``display`` names the file in errors instead of its path (an upload's temporary copy).
    """
    path = Path(path)
    display = display or str(path)
    if not path.exists():
        raise DataError(f"No such file: {display}. Check the path.", code="data.file-not-found")
    if path.is_dir():
        raise DataError(f"{display} is a folder; give a file.", code="data.not-a-file")
    if path.stat().st_size == 0:
        raise DataError(f"{display} is empty (0 bytes). Nothing was ingested.", code="data.empty")
    fmt = (format or _format_from_suffix(path, display=display)).lower()
    if fmt == "parquet":
        if encoding is not None:
            raise ConfigError(
                f"{display} is Parquet, whose text is always UTF-8: leave out the encoding "
                f"({encoding!r}), which is for CSV and JSON-lines files.",
                code="data.unknown-encoding",
            )
        return _read_parquet(path, display=display)
    if fmt not in ("csv", "jsonl", "json"):
        raise DataError(
            f"Unknown data format {fmt!r} for {display}. Use csv, parquet or jsonl (--format).",
            code="data.unknown-format",
        )
    with _as_utf8(path, encoding) as utf8:
        _refuse_binary(utf8, display=display)
        if fmt == "csv":
            return read_csv(utf8, delimiter=delimiter, display=display)
        return _read_jsonl(utf8, display=display)


def _refuse_binary(path: Path, *, display: str) -> None:
    """Refuse a file whose start holds NUL bytes: text (UTF-8, or decoded to it) never does,
    while images, archives and spreadsheets do, and a CSV reader may take them for one column."""
    with open(path, "rb") as handle:
        head = handle.read(64 * 1024)
    if b"\x00" in head:
        raise DataError(
            f"{display} is not a text table: it holds binary data (NUL bytes), as an image, an "
            "archive or a spreadsheet does. Nothing was ingested. Export it as CSV, Parquet or "
            "JSON lines; for UTF-16 text, give its encoding (--encoding utf-16).",
            code="data.binary-file",
        )


def _format_from_suffix(path: Path, *, display: str | None = None) -> str:
    suffixes = [s.lower() for s in path.suffixes]
    if ".parquet" in suffixes or ".pq" in suffixes:
        return "parquet"
    if ".jsonl" in suffixes or ".ndjson" in suffixes or ".json" in suffixes:
        return "jsonl"
    if ".csv" in suffixes or ".tsv" in suffixes or ".txt" in suffixes:
        return "csv"
    raise DataError(
        f"Cannot tell the format of {display or path} from its name. Pass --format "
        "csv|parquet|jsonl.",
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


def read_csv(path: Path, *, delimiter: str | None = None, display: str | None = None) -> pa.Table:
    """Read a UTF-8 CSV whole, or raise naming every broken row (by line number); write nothing.

    ``display`` names the file in errors when ``path`` is a decoded copy of it.
    """
    display = display or str(path)
    # A tab typed in a shell arrives as the two characters \t.
    delimiter = {"\\t": "\t", "tab": "\t"}.get(delimiter, delimiter) or sniff_delimiter(path)
    if len(delimiter) != 1 or not delimiter.isascii() or delimiter in '"\r\n':
        raise ConfigError(
            f"The delimiter must be one character such as , ; | or a tab, not a quote or a line "
            f"break. Got {delimiter!r}.",
            code="data.bad-delimiter",
        )
    bad_rows: list = []
    try:
        table = pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(use_threads=False, block_size=16 << 20),
            parse_options=csv_parse_options(delimiter, bad_rows),
            convert_options=pacsv.ConvertOptions(strings_can_be_null=True),
        )
    except UnicodeDecodeError:  # a header that is not UTF-8
        raise _not_utf8(path, display) from None
    except pa.ArrowInvalid as exc:
        raise DataError(
            f"Cannot read {display} as CSV (delimiter {delimiter!r}): {exc}", code="data.bad-csv"
        ) from exc
    # pyarrow reads a column with bytes that are not UTF-8 as binary instead of failing.
    if any(pa.types.is_binary(field.type) for field in table.schema):
        raise _not_utf8(path, display)
    records = count_records(path, delimiter=delimiter, display=display)
    if bad_rows:
        first = bad_rows[:_MAX_REPORTED]
        shown = "; ".join(
            f"line {line}: expected {row.expected_columns} fields, found "
            f"{row.actual_columns} ({row.text[:60]!r})"
            for line, row in zip(records.lines_of([r.number for r in first]), first, strict=True)
        )
        more = f" and {len(bad_rows) - _MAX_REPORTED} more" if len(bad_rows) > _MAX_REPORTED else ""
        raise DataError(
            f"{display} has {len(bad_rows)} broken row(s) — {shown}{more}. Nothing was ingested. "
            "Fix or remove those lines (quote values that contain the delimiter).",
            code="data.broken-rows",
        )
    if records.count != table.num_rows + 1:
        # Both parsers agree on every file kiln knows of; if they ever differ, refuse.
        raise DataError(
            f"{display}: kiln counted {records.count - 1} data rows, but the CSV reader read "
            f"{table.num_rows}. Nothing was ingested. Check the file's quoting, or convert it "
            "to Parquet (pandas.read_csv(...).to_parquet(...)) and ingest that.",
            code="data.broken-rows",
        )
    if table.num_rows == 0:
        raise DataError(
            f"{display} has a header but no data rows. Nothing was ingested.", code="data.empty"
        )
    return table


def _read_parquet(path: Path, *, display: str) -> pa.Table:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as exc:
        why = str(exc).replace(str(path), display)
        raise DataError(
            f"Cannot read {display} as Parquet: {why}", code="data.bad-parquet"
        ) from exc
    if table.num_rows == 0:
        raise DataError(f"{display} has no rows. Nothing was ingested.", code="data.empty")
    return table


def _read_jsonl(path: Path, *, display: str) -> pa.Table:
    import pyarrow.json as pajson

    try:
        table = pajson.read_json(path)
    except pa.ArrowInvalid as exc:
        raise DataError(
            f"{display} is not valid JSON lines: {_first_bad_json_line(path) or exc}. "
            "Nothing was ingested. Each line must be one JSON object.",
            code="data.bad-json",
        ) from exc
    try:
        table.validate(full=True)  # pyarrow keeps bytes that are not UTF-8 in string values
    except pa.ArrowInvalid:
        raise _not_utf8(path, display) from None
    if table.num_rows == 0:
        raise DataError(f"{display} has no rows. Nothing was ingested.", code="data.empty")
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


# -- encodings ---------------------------------------------------------------------------------


@contextmanager
def _as_utf8(path: Path, encoding: str | None) -> Iterator[Path]:
    """``path`` itself when it is UTF-8 (checked by the reader), else a UTF-8 copy of it."""
    if encoding is None:
        yield path
        return
    try:
        codec = codecs.lookup(encoding)
    except LookupError:
        raise ConfigError(
            f"{encoding!r} is not an encoding Python knows. Give one such as utf-8, cp1252 "
            "(Windows, Excel), latin-1 (ISO-8859-1) or utf-16.",
            code="data.unknown-encoding",
        ) from None
    if codec.name in ("utf-8", "utf-8-sig"):
        yield path
        return
    # pyarrow could decode the CSV itself (ReadOptions.encoding), but the record check reads raw
    # bytes, which must be UTF-8 for its delimiters and quotes to be the file's (UTF-16 has NULs
    # between them, Shift-JIS can hide a | in a character): so decode once, to a copy.
    with tempfile.TemporaryDirectory(prefix="kiln-decode-") as tmp:
        copy = Path(tmp) / path.name
        with open(copy, "w", encoding="utf-8", newline="") as out:
            for text in _decoded(path, codec, display=str(path)):
                out.write(text)
        yield copy


def _decoded(path: Path, codec: codecs.CodecInfo, *, display: str) -> Iterator[str]:
    """The text of ``path`` in chunks, or a ``data.bad-encoding`` naming the line and byte."""
    decoder = codec.incrementaldecoder("strict")
    lines = _Lines()
    with open(path, "rb") as handle:
        while True:
            chunk = handle.read(_DECODE_CHUNK)
            state = decoder.getstate()
            try:
                text = decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as exc:
                # exc.start counts from the bytes held back from the previous chunk.
                decoder.setstate(state)
                lines.add(decoder.decode(chunk[: max(exc.start - len(state[0]), 0)]))
                byte = exc.object[exc.start]
                raise _bad_byte(display, codec, byte, lines.count + 1, lines.current) from None
            lines.add(text)
            if text:
                yield text
            if not chunk:
                return


class _Lines:
    """Counts line ends (\n, \r\n, a lone \r) across chunks of text; keeps the current line."""

    def __init__(self) -> None:
        self.count, self.current, self._after_cr = 0, "", False

    def add(self, text: str) -> None:
        if not text:
            return
        ends = text.count("\n") + text.count("\r") - text.count("\r\n")
        if self._after_cr and text.startswith("\n"):
            ends -= 1  # the \r\n split between chunks was counted at its \r
        self.count += ends
        last = max(text.rfind("\n"), text.rfind("\r"))
        self.current = (text[last + 1 :] if last >= 0 else self.current + text)[-40:]
        self._after_cr = text.endswith("\r")


def _not_utf8(path: Path, display: str) -> DataError:
    try:
        for _ in _decoded(path, codecs.lookup("utf-8"), display=display):
            pass
    except DataError as exc:
        return exc
    return DataError(f"{display} is not valid UTF-8.", code="data.bad-encoding")


def _bad_byte(
    display: str, codec: codecs.CodecInfo, byte: int, line: int, before: str
) -> DataError:
    where = f"line {line} has the byte 0x{byte:02X}" + (f" after {before!r}" if before else "")
    if codec.name == "utf-8":
        return DataError(
            f"{display} is not valid UTF-8: {where}. Nothing was ingested. Give the file's "
            "encoding: --encoding cp1252 for files from Windows and Excel, --encoding latin-1 "
            "for ISO-8859-1 (in Python: ws.data.ingest(..., encoding='cp1252')).",
            code="data.bad-encoding",
        )
    return DataError(
        f"{display} is not valid {codec.name}: {where}, which {codec.name} does not allow. "
        "Nothing was ingested. Check the file's encoding (--encoding, encoding=).",
        code="data.bad-encoding",
    )


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
    try:
        return pa.Table.from_pandas(frame, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        # pyarrow's arguments: the reason, then "Conversion failed for column a with type object".
        reason, where = str(exc.args[0]), str(exc.args[-1])
        prefix = "Conversion failed for column "
        name = where[len(prefix) :].rsplit(" with type", 1)[0] if where.startswith(prefix) else "?"
        raise DataError(
            f"The DataFrame's column {name!r} mixes values of different types ({reason}), which "
            "one column cannot hold. Nothing was ingested. Convert it to one type first, e.g. "
            f"frame[{name!r}] = frame[{name!r}].astype(str).",
            code="data.wrong-type",
            field=name,
        ) from exc


def csv_bytes_to_table(data: bytes) -> pa.Table:
    """Parse a CSV request body (header row required)."""
    return pacsv.read_csv(
        io.BytesIO(data),
        parse_options=pacsv.ParseOptions(delimiter=","),
        convert_options=pacsv.ConvertOptions(strings_can_be_null=True),
    )
