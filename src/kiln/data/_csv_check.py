"""An independent count of a CSV file's records, to hold pyarrow's reading of it to account.

pyarrow's CSV reader is fast, and kiln keeps it for the reading (its type inference makes the
stored bytes, so the digests), but it is lenient where a strict parser refuses:

- a quote that is never closed takes the rest of the file into one value (a 1,000-row file whose
  row 11 opens a quote was read as 11 rows, without an error);
- text after a closing quote is glued to the value, so a stray quote "closed" by the quote that
  opens a later value silently merges every line between.

pandas and Python's csv module in strict mode refuse both. No library offers a strict check at
pyarrow's speed, so kiln's own is two-tiered:

1. A vectorised pass over the raw bytes (numpy, in chunks) checks that the file is strictly quoted
   (RFC 4180): every quote opens a value at its start, closes one before a delimiter, a line end
   or the end of the file, or is half of a doubled quote inside a quoted value. Then whether a
   byte is inside quotes is the parity of the quotes before it, and the records are the line ends
   outside quotes, counted without parsing. This is the path of almost every file.
2. A file with any other quote, a literal one inside an unquoted value (``5'10"``, which pyarrow
   and the csv module both read as text) or a mistake, is parsed again by Python's csv module in
   strict mode, which tells the two apart and names the line.

Either way the caller compares the record count with pyarrow's rows, broken rows and header.
Lines are counted as an editor does: ``\\n``, ``\\r\\n`` and a lone ``\\r`` each end one.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kiln.errors import DataError

_CHUNK = 1 << 24  # bytes per vectorised step: bounds the temporary arrays to a few times this
_QUOTE, _LF, _CR = ord('"'), ord("\n"), ord("\r")
_BOM = b"\xef\xbb\xbf"
_NONE = -1  # the "byte" before the start and after the end of the file


class _NotStrict(Exception):
    """A quote the vectorised pass cannot place: the csv module decides."""


@dataclass(frozen=True)
class CsvRecords:
    """The non-empty records of a CSV file (header included), as kiln counted them.

    Only the count is kept (a large file has millions of records); the lines of the few records
    an error names are found by reading the file again.
    """

    count: int
    path: Path
    delimiter: str
    strict: bool  # counted by the vectorised pass, not the csv module

    def lines_of(self, records: Sequence[int]) -> list[int]:
        """The line on which each record (1-based, the header is 1) starts."""
        wanted = set(records)
        if not self.strict:
            found = {}
            for record, line in _csv_module_records(self.path, self.delimiter, str(self.path)):
                if record in wanted:
                    found[record] = line
                    if len(found) == len(wanted):
                        break
            return [found[record] for record in records]
        offsets, seen = {}, 0
        for starts in _strict_records(_mapped(self.path), ord(self.delimiter)):
            for record in [r for r in wanted if seen < r <= seen + len(starts)]:
                offsets[record] = int(starts[record - seen - 1])
            seen += len(starts)
        return lines_at(self.path, [offsets[record] for record in records])


def count_records(
    path: Path,
    *,
    delimiter: str,
    display: str | None = None,
    consequence: str = "Nothing was ingested.",
) -> CsvRecords:
    """Count the records of a UTF-8 CSV file, or raise ``data.broken-rows`` naming the line of a
    quote that is never closed or text glued after a closing quote (``consequence`` says what
    the error left undone)."""
    try:
        count = sum(len(starts) for starts in _strict_records(_mapped(path), ord(delimiter)))
        return CsvRecords(count=count, path=path, delimiter=delimiter, strict=True)
    except _NotStrict:
        pass
    records = _csv_module_records(path, delimiter, display or str(path), consequence)
    return CsvRecords(count=sum(1 for _ in records), path=path, delimiter=delimiter, strict=False)


def count_body_records(data: bytes, *, delimiter: str = ",", display: str = "The CSV body") -> int:
    """The records of a CSV request body, header included, counted as :func:`count_records`
    counts a file's (a ``data.broken-rows`` where a quote merges or splits rows)."""
    try:
        return sum(
            len(starts) for starts in _strict_records(np.frombuffer(data, np.uint8), ord(delimiter))
        )
    except _NotStrict:
        pass
    records = _csv_module_records(data, delimiter, display, "Nothing was scored.")
    return sum(1 for _ in records)


def _mapped(path: Path) -> np.ndarray:
    # Mapped, not read: the file's pages come and go with the OS cache while the chunks are
    # scanned, instead of a second copy of the file in memory.
    if path.stat().st_size == 0:
        return np.zeros(0, np.uint8)
    return np.memmap(path, dtype=np.uint8, mode="r")


def _strict_records(data: np.ndarray, delimiter: int) -> Iterator[np.ndarray]:
    """The start offsets of the non-empty records, a chunk at a time; raises ``_NotStrict``
    unless every quote is strict."""
    size = len(data)
    first = len(_BOM) if bytes(data[: len(_BOM)]) == _BOM else 0
    boundary = np.array([delimiter, _LF, _CR, _QUOTE, _NONE])
    quotes_before = 0  # quotes in the chunks already scanned
    record_start = first  # where the record being read began
    for low in range(first, size, _CHUNK):
        high = min(low + _CHUNK, size)
        chunk = data[low:high]
        edges = (
            int(data[low - 1]) if low > first else _NONE,
            int(data[high]) if high < size else _NONE,
        )
        quotes = np.flatnonzero(chunk == _QUOTE)
        # Quotes alternate opening and closing; a doubled quote inside a value is a close and an
        # open back to back, so the rule holds for it too.
        opening = (quotes_before + np.arange(len(quotes))) % 2 == 0
        context = np.where(opening, _before(chunk, quotes, edges), _after(chunk, quotes, edges))
        if not np.isin(context, boundary).all():
            raise _NotStrict
        ends = np.flatnonzero(chunk == _LF)
        carriage = np.flatnonzero(chunk == _CR)
        if len(carriage):  # a \r is a line end of its own unless a \n follows
            ends = np.sort(np.concatenate((ends, carriage[_after(chunk, carriage, edges) != _LF])))
        ends = ends[(quotes_before + np.searchsorted(quotes, ends)) % 2 == 0]  # outside quotes
        quotes_before += len(quotes)
        if len(ends) == 0:
            continue
        record_starts = np.concatenate(([record_start], low + ends[:-1] + 1))
        # A record's text stops before its line end, and before the \r of a \r\n.
        text_ends = low + ends - ((chunk[ends] == _LF) & (_before(chunk, ends, edges) == _CR))
        yield record_starts[text_ends > record_starts]
        record_start = low + int(ends[-1]) + 1
    if quotes_before % 2:
        raise _NotStrict  # a quote never closed: the csv module names its line
    if record_start < size:
        yield np.array([record_start])


def _before(chunk: np.ndarray, positions: np.ndarray, edges: tuple[int, int]) -> np.ndarray:
    """The byte before each position; ``edges[0]`` (the previous chunk's last) before the first.

    Gathered for quotes and line ends only, which are few beside the bytes of the chunk.
    """
    previous = chunk[np.maximum(positions - 1, 0)].astype(np.int16)  # room for _NONE
    return np.where(positions > 0, previous, edges[0])


def _after(chunk: np.ndarray, positions: np.ndarray, edges: tuple[int, int]) -> np.ndarray:
    """The byte after each position; ``edges[1]`` (the next chunk's first) after the last."""
    following = chunk[np.minimum(positions + 1, len(chunk) - 1)].astype(np.int16)
    return np.where(positions + 1 < len(chunk), following, edges[1])


@contextmanager
def _large_fields() -> Iterator[None]:
    # The csv module refuses values over 128 KiB by default; a long text value is legitimate, and
    # the limit is module-wide, so it is raised for this read only.
    old = csv.field_size_limit()
    csv.field_size_limit(2**31 - 1)
    try:
        yield
    finally:
        csv.field_size_limit(old)


def _csv_module_records(
    source: Path | bytes, delimiter: str, display: str, consequence: str = "Nothing was ingested."
) -> Iterator[tuple[int, int]]:
    """``(record, first line)`` of each non-empty record of a file or a body, read by Python's
    csv module in strict mode; a ``data.broken-rows`` where it refuses."""
    record, last_line = 0, 0
    if isinstance(source, bytes):
        opened = io.StringIO(source.decode("utf-8-sig", errors="surrogateescape"), newline="")
    else:
        opened = open(source, encoding="utf-8-sig", errors="surrogateescape", newline="")  # noqa: SIM115 (closed by the with below)
    with _large_fields(), opened as handle:
        reader = csv.reader(handle, delimiter=delimiter, strict=True)
        try:
            for row in reader:
                if row:
                    record += 1
                    yield record, last_line + 1
                last_line = reader.line_num
        except csv.Error as exc:
            raise _quote_error(
                display, str(exc), start=last_line + 1, at=reader.line_num, consequence=consequence
            ) from None


def _quote_error(
    display: str, reason: str, *, start: int, at: int, consequence: str = "Nothing was ingested."
) -> DataError:
    if "unexpected end of data" in reason:
        problem = (
            f"line {start}: a quoted value is never closed, so it would take in the rest of the "
            f"file (to line {at}) as one value"
        )
    elif "expected after" in reason and at == start:
        problem = f"line {at}: text follows a closing quote instead of the delimiter or line end"
    elif "expected after" in reason:
        problem = (
            f"line {start} opens a quoted value that runs on to line {at}, where text follows its "
            f"closing quote; most likely the quote on line {start} is never closed"
        )
    else:
        problem = f"line {start}: {reason}"
    return DataError(
        f"{display} has a broken row — {problem}. {consequence} Quote values that contain "
        'quotes, the delimiter or line breaks, and double the quotes inside them ("a ""b"" c").',
        code="data.broken-rows",
    )


def lines_at(path: Path, offsets: Sequence[int]) -> list[int]:
    """The line (1-based) of each byte offset in ``path``, in one pass."""
    data = _mapped(path)
    wanted = np.asarray(offsets, dtype=np.int64)
    lines = np.ones(len(wanted), dtype=np.int64)
    for low in range(0, len(data), _CHUNK):
        high = min(low + _CHUNK, len(data))
        chunk = data[low:high]
        following = np.concatenate((chunk[1:], [data[high] if high < len(data) else 0]))
        ends = low + np.flatnonzero((chunk == _LF) | ((chunk == _CR) & (following != _LF)))
        lines += np.searchsorted(ends, wanted)
    return lines.tolist()
