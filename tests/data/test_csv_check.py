"""Property tests of the CSV and JSON-lines readers: what Python's csv and json modules write is
read back row for row and value for value; a broken file is refused, never read as other rows."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import kiln.data._csv_check as csv_check
from kiln.errors import DataError

SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# Every value holds a "q" (or is blank): no number, date, boolean or null marker ("NA") can come
# out of it, so the values read back are exactly the values written, or missing when blank.
PIECES = st.lists(st.sampled_from(list("ab \"',;|\t\n\r\\é中😀") + ["\r\n", '""']), max_size=6).map(
    "".join
)
VALUES = st.one_of(
    st.builds(lambda a, b: f"{a}q{b}", PIECES, PIECES),
    st.sampled_from(["", " ", "\t", "\r\n "]),
)
PLAIN = st.text(alphabet=list("abqéø中 "), min_size=1, max_size=5).map(lambda t: f"q{t}")
DELIMITERS = st.sampled_from([",", ";", "\t", "|"])
DIALECTS = st.sampled_from(
    [
        ("\r\n", csv.QUOTE_MINIMAL),
        ("\r\n", csv.QUOTE_ALL),
        ("\n", csv.QUOTE_ALL),
        ("\r", csv.QUOTE_ALL),
    ]
)


@st.composite
def tables(draw, min_columns: int = 1) -> tuple[list[str], list[list[str]]]:
    width = draw(st.integers(min_columns, 4))
    header = draw(st.lists(PLAIN, min_size=width, max_size=width, unique=True))
    rows = draw(st.lists(st.lists(VALUES, min_size=width, max_size=width), min_size=1, max_size=8))
    return header, rows


def _write(header, rows, *, delimiter, dialect, bom=False, final_newline=True) -> str:
    terminator, quoting = dialect
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator=terminator, quoting=quoting)
    writer.writerow(header)
    writer.writerows(rows)
    text = out.getvalue()
    if not final_newline:
        text = text[: -len(terminator)]
    return ("\ufeff" if bom else "") + text


def _expected(value: str) -> str | None:
    return None if not value.strip() else value


def _stored(ws, version) -> list[list]:
    table = pq.read_table(ws.data.path(version))
    return [list(row.values()) for row in table.to_pylist()]


def _file(tmp_path: Path, text: str, suffix: str = ".csv") -> Path:
    path = tmp_path / f"t{len(list(tmp_path.iterdir()))}{suffix}"
    path.write_bytes(text.encode("utf-8"))
    return path


@SETTINGS
@given(
    table=tables(),
    delimiter=DELIMITERS,
    dialect=DIALECTS,
    bom=st.booleans(),
    final_newline=st.booleans(),
)
def test_what_the_csv_module_writes_is_read_back(
    ws, tmp_path, table, delimiter, dialect, bom, final_newline
):
    header, rows = table
    text = _write(
        header, rows, delimiter=delimiter, dialect=dialect, bom=bom, final_newline=final_newline
    )
    version = ws.data.ingest(_file(tmp_path, text), name="t", delimiter=delimiter)
    assert version.columns == header
    assert version.row_count == len(rows)
    assert _stored(ws, version) == [[_expected(v) for v in row] for row in rows]


def _strict_rows(text: str, delimiter: str) -> list[list[str]] | None:
    """What Python's csv module reads in strict mode (blank lines dropped), None if it refuses."""
    try:
        rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True))
    except csv.Error:
        return None
    return [row for row in rows if row]


@st.composite
def broken_files(draw) -> tuple[str, str]:
    """A well-written table with one row spoiled: a stray opening quote, a field too many or too
    few, or the file cut short."""
    header, rows = draw(tables())
    delimiter, dialect = draw(DELIMITERS), draw(DIALECTS)
    at = draw(st.integers(0, len(rows) - 1))
    how = draw(st.sampled_from(["stray-quote", "extra-field", "missing-field", "cut"]))
    head = _write(header, rows[:at], delimiter=delimiter, dialect=dialect)
    tail = _write(header, rows[at:], delimiter=delimiter, dialect=dialect)
    tail = tail.split(dialect[0], 1)[1]  # without its header
    if how == "cut":
        text = head + tail
        return text[: draw(st.integers(len(head), len(text) - 1))], delimiter
    row = [v.replace('"', "").replace(delimiter, "") for v in rows[at]]
    row = [" ".join(v.split()) or "q" for v in row]  # one line, no quote: the spoiling is ours
    if how == "stray-quote":
        column = draw(st.integers(0, len(row) - 1))
        row[column] = '"' + row[column]
    elif how == "extra-field":
        row.append("q")
    else:
        assume(len(row) > 1)
        row.pop()
    rest = tail.split(dialect[0], 1)[1] if dialect[0] in tail else ""
    return head + delimiter.join(row) + dialect[0] + rest, delimiter


@SETTINGS
@given(broken=broken_files())
def test_a_spoiled_file_is_refused_or_read_as_a_strict_parser_reads_it(ws, tmp_path, broken):
    text, delimiter = broken
    strict = _strict_rows(text.lstrip("\ufeff"), delimiter)
    try:
        version = ws.data.ingest(_file(tmp_path, text), name="t", delimiter=delimiter)
    except DataError as exc:
        assert exc.code in ("data.broken-rows", "data.empty"), exc.message
        assert "Nothing was ingested" in exc.message
        # The strict parser refuses it too, or finds rows of different lengths or none.
        assert strict is None or len(strict) < 2 or len({len(r) for r in strict}) > 1
        return
    assert strict is not None, "kiln read a file that Python's csv module refuses in strict mode"
    assert version.row_count == len(strict) - 1
    assert _stored(ws, version) == [[_expected(v) for v in row] for row in strict[1:]]


@SETTINGS
@given(table=tables(), tail=st.lists(st.lists(PLAIN, min_size=4, max_size=4), max_size=5))
def test_a_quote_never_closed_is_refused_naming_its_line(ws, tmp_path, table, tail):
    header, rows = table
    head = _write(header, rows, delimiter=",", dialect=("\n", csv.QUOTE_MINIMAL))
    # The quote opens the first value of the next row; no quote follows it in the file.
    broken = ",".join(['"q'] + ["q"] * (len(header) - 1))
    plain = [",".join(r[: len(header)]) for r in tail]
    text = head + "\n".join([broken, *plain]) + "\n"
    line = head.count("\n") + head.count("\r") - head.count("\r\n") + 1  # as an editor counts
    with pytest.raises(DataError) as info:
        ws.data.ingest(_file(tmp_path, text), name="t", delimiter=",")
    assert info.value.code == "data.broken-rows"
    assert f"line {line}" in info.value.message
    assert ws.data.list() == []


@settings(max_examples=40, deadline=None)
@given(
    table=tables(),
    delimiter=DELIMITERS,
    dialect=DIALECTS,
    chunk=st.integers(1, 64),
    spoil=st.booleans(),
)
def test_the_record_count_does_not_depend_on_the_chunk_size(
    tmp_path_factory, table, delimiter, dialect, chunk, spoil
):
    header, rows = table
    text = _write(header, rows, delimiter=delimiter, dialect=dialect)
    if spoil:
        text = text.replace(delimiter, delimiter + '"', 1)
    path = tmp_path_factory.mktemp("chunks") / "t.csv"
    path.write_bytes(text.encode("utf-8"))

    def count() -> tuple:
        try:
            records = csv_check.count_records(path, delimiter=delimiter)
        except DataError as exc:
            return ("refused", exc.message)
        return records.count, records.lines_of(range(1, records.count + 1))

    whole = count()
    default, csv_check._CHUNK = csv_check._CHUNK, chunk
    try:
        assert count() == whole
    finally:
        csv_check._CHUNK = default
    strict = _strict_rows(text, delimiter)
    if whole[0] != "refused":
        assert strict is not None and whole[0] == len(strict)


JSON_TEXT = st.builds(
    lambda a, b: f"{a}q{b}",
    *[st.text(alphabet=list('ab "\\/\n\r\t{}[],:é中😀\x00'), max_size=5)] * 2,
)
JSON_COLUMNS = st.sampled_from(
    [
        st.one_of(st.none(), JSON_TEXT),
        st.one_of(st.none(), st.integers(-(2**53), 2**53)),
        st.one_of(st.none(), st.floats(allow_nan=False, allow_infinity=False, width=64)),
        st.booleans(),
    ]
)


@SETTINGS
@given(data=st.data(), width=st.integers(1, 4), ascii_only=st.booleans())
def test_what_the_json_module_writes_is_read_back(ws, tmp_path, data, width, ascii_only):
    kinds = [data.draw(JSON_COLUMNS) for _ in range(width)]
    rows = data.draw(st.lists(st.tuples(*kinds).map(list), min_size=1, max_size=8), label="rows")
    names = [f"c{i}" for i in range(width)]
    text = "\n".join(
        json.dumps(dict(zip(names, row, strict=True)), ensure_ascii=ascii_only) for row in rows
    )
    version = ws.data.ingest(_file(tmp_path, text + "\n", ".jsonl"), name="j")
    assert version.row_count == len(rows)
    stored = _stored(ws, version)
    for got, row in zip(stored, rows, strict=True):
        want = [_expected(v) if isinstance(v, str) else v for v in row]
        assert got == pytest.approx(want) if any(isinstance(v, float) for v in row) else got == want
