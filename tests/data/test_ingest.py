import json
import sqlite3

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from helpers import ON_BOTH_ARTIFACT_STORES
from kiln.errors import ConfigError, DataError, NotFound


@ON_BOTH_ARTIFACT_STORES
def test_csv_ingest_makes_a_versioned_parquet_snapshot(ws, churn_csv):
    version = ws.data.ingest(churn_csv, name="churn")
    assert (version.name, version.version, version.row_count, version.column_count) == (
        "churn",
        1,
        7043,
        20,
    )
    types = version.column_types()
    assert types["churn"] == "boolean"
    assert types["contract"] == "categorical"
    assert types["monthly_charges"] == "numeric"
    # 11 blank total_charges are missing values, and the column is still numeric.
    column = next(c for c in version.schema["columns"] if c["name"] == "total_charges")
    assert column["missing"] == 11 and column["dtype"] == "double"
    table = pq.read_table(ws.data.path(version))
    assert table.num_rows == 7043
    assert len(version.digest) == 64


@ON_BOTH_ARTIFACT_STORES
def test_identical_content_returns_the_existing_version(ws, churn_csv, tmp_path):
    first = ws.data.ingest(churn_csv, name="churn")
    again = ws.data.ingest(churn_csv, name="churn")
    assert again.id == first.id and again.version == 1
    changed = tmp_path / "changed.csv"
    changed.write_text(churn_csv.read_text().replace("29.85,29.85", "29.85,30.00", 1))
    second = ws.data.ingest(changed, name="churn")
    assert second.version == 2
    assert [v.version for v in ws.data.list("churn")] == [1, 2]


def test_blank_and_whitespace_strings_are_missing(ws, tmp_path):
    path = tmp_path / "blanks.csv"
    path.write_text("a,b,c\n1, ,x\n2,3,\n,4,  \n")
    version = ws.data.ingest(path, name="blanks")
    frame = ws.data.load(version)
    assert frame["a"].isna().sum() == 1
    assert frame["b"].isna().sum() == 1 and frame["b"].dtype.kind in "if"
    assert frame["c"].isna().sum() == 2


def test_bom_and_semicolon_delimiter(ws, tmp_path):
    path = tmp_path / "excel.csv"
    path.write_bytes("\ufeffname;price;city\nann;1,5;Oslo\nbob;2,5;Rome\n".encode())
    version = ws.data.ingest(path, name="excel")
    assert version.columns == ["name", "price", "city"]
    assert version.row_count == 2


def test_thousands_of_columns(ws, tmp_path):
    frame = pd.DataFrame({f"f{i}": range(30) for i in range(3000)})
    path = tmp_path / "wide.csv"
    frame.to_csv(path, index=False)
    version = ws.data.ingest(path, name="wide")
    assert version.column_count == 3000 and version.row_count == 30


def test_broken_rows_are_reported_by_line_and_nothing_is_written(ws, tmp_path):
    path = tmp_path / "broken.csv"
    path.write_text("a,b,c\n1,2,3\n4,5\n6,7,8\n9,10,11,12\n")
    with pytest.raises(DataError) as info:
        ws.data.ingest(path, name="broken")
    message = info.value.message
    assert "2 broken row(s)" in message and "line 3" in message and "line 5" in message
    assert "Nothing was ingested" in message
    with pytest.raises(NotFound):
        ws.data.get("broken")
    assert not list((ws.home / "artifacts").rglob("*")) or ws.data.list() == []


@pytest.mark.parametrize(
    ("content", "match"),
    [(b"", "empty"), (b"a,b,c\n", "no data rows"), (b"a,a\n1,2\n", "twice")],
)
def test_bad_csv_files_are_refused(ws, tmp_path, content, match):
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    with pytest.raises(DataError, match=match):
        ws.data.ingest(path, name="bad")
    assert ws.data.list() == []


def test_missing_file_and_unknown_format(ws, tmp_path):
    with pytest.raises(DataError, match="No such file"):
        ws.data.ingest(tmp_path / "nope.csv", name="x")
    odd = tmp_path / "data.xyz"
    odd.write_text("a\n1\n")
    with pytest.raises(DataError, match="--format"):
        ws.data.ingest(odd, name="x")


def test_parquet_and_json_lines(ws, tmp_path):
    frame = pd.DataFrame({"x": [1.5, 2.5, None], "label": ["a", "b", "a"]})
    parquet = tmp_path / "d.parquet"
    frame.to_parquet(parquet)
    from_parquet = ws.data.ingest(parquet, name="pq")
    jsonl = tmp_path / "d.jsonl"
    jsonl.write_text(
        "\n".join(
            json.dumps(r)
            for r in [{"x": 1.5, "label": "a"}, {"x": 2.5, "label": "b"}, {"x": None, "label": "a"}]
        )
    )
    from_json = ws.data.ingest(jsonl, name="js")
    assert from_parquet.row_count == from_json.row_count == 3
    assert from_json.column_types() == {"x": "numeric", "label": "categorical"}


def test_broken_json_line_is_named(ws, tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text('{"x": 1}\n{"x": 2\n')
    with pytest.raises(DataError, match="line 2"):
        ws.data.ingest(path, name="js")


def test_sql_query_against_sqlite(ws, tmp_path):
    db = tmp_path / "shop.db"
    with sqlite3.connect(db) as connection:
        connection.execute("CREATE TABLE orders (id INTEGER, amount REAL, country TEXT)")
        connection.executemany(
            "INSERT INTO orders VALUES (?, ?, ?)",
            [(i, i * 1.5, "NO" if i % 2 else "SE") for i in range(50)],
        )
    version = ws.data.ingest(
        name="orders", sql="SELECT * FROM orders WHERE amount > 3", conn=f"sqlite:///{db}"
    )
    assert version.row_count == 47
    assert version.source.startswith("sql: SELECT")
    with pytest.raises(DataError, match="no such table"):
        ws.data.ingest(name="orders", sql="SELECT * FROM nope", conn=f"sqlite:///{db}")
    with pytest.raises(ConfigError, match="--conn"):
        ws.data.ingest(name="orders", sql="SELECT 1")


def test_dataframe_ingest_and_invalid_names(ws):
    version = ws.data.ingest(pd.DataFrame({"a": [1, 2]}), name="frame_1")
    assert version.source == "DataFrame"
    with pytest.raises(ConfigError, match="telco_churn"):
        ws.data.ingest(pd.DataFrame({"a": [1]}), name="telco-churn")


def test_semantic_types(ws):
    n = 60
    frame = pd.DataFrame(
        {
            "customer_id": [f"C{i:05d}" for i in range(n)],
            "row_id": range(n),
            "when": pd.date_range("2024-01-01", periods=n, freq="D").strftime("%Y-%m-%d"),
            "note": [
                f"customer number {i} wrote a long complaint about the service" for i in range(n)
            ],
            "flag": ["yes", "no"] * (n // 2),
            "real_bool": [True, False] * (n // 2),
            "plan": ["a", "b", "c"] * (n // 3),
            "amount": [i * 1.25 for i in range(n)],
        }
    )
    types = ws.data.ingest(frame, name="typed").column_types()
    assert types == {
        "customer_id": "identifier",
        "row_id": "identifier",
        "when": "datetime",
        "note": "text",
        "flag": "boolean",
        "real_bool": "boolean",
        "plan": "categorical",
        "amount": "numeric",
    }


def test_unknown_data_set_and_version(ws, churn_csv):
    with pytest.raises(NotFound, match="kiln data ingest"):
        ws.data.get("nope")
    ws.data.ingest(churn_csv, name="churn")
    with pytest.raises(NotFound, match="versions 1"):
        ws.data.get("churn:7")
    with pytest.raises(ConfigError, match="whole number"):
        ws.data.get("churn:x")


@ON_BOTH_ARTIFACT_STORES
def test_tampered_snapshot_is_refused(ws):
    version = ws.data.ingest(pd.DataFrame({"a": [1, 2, 3]}), name="t")
    path = ws.data.path(version)
    pq.write_table(pa.table({"a": [9, 9, 9]}), path)
    if not ws.artifacts.is_local:
        # Changed in the bucket; this machine's verified copy is gone (as on another machine).
        ws.artifacts.fs.put_file(str(path), ws.artifacts._key(version.digest))
        path.unlink()
    from kiln.errors import IntegrityError

    with pytest.raises(IntegrityError, match="data set t:1"):
        ws.data.load("t")


# -- issue 19: the CSV reader never merges or splits rows silently -------------------------------


def _rows_csv(path, rows: int, bad_row: int, bad_note: str):
    lines = ["id,name,note"]
    for i in range(1, rows + 1):
        lines.append(f"{i},n{i},{bad_note if i == bad_row else f'note {i}'}")
    path.write_text("\n".join(lines) + "\n")
    return path


def test_unterminated_quote_is_a_broken_row_not_a_lost_tail(ws, tmp_path):
    # Row 11 (file line 12) opens a quote in its last column and never closes it: pyarrow alone
    # read the other 989 rows into that one value and reported 11 rows.
    path = _rows_csv(tmp_path / "quote.csv", 1000, 11, '"unterminated')
    with pytest.raises(DataError) as info:
        ws.data.ingest(path, name="quote")
    assert info.value.code == "data.broken-rows"
    assert "line 12" in info.value.message and "never closed" in info.value.message
    assert "Nothing was ingested" in info.value.message
    assert ws.data.list() == []
    assert not [p for p in (ws.home / "artifacts").rglob("*") if p.is_file()]


def test_text_after_a_closing_quote_is_a_broken_row(ws, tmp_path):
    # A stray quote on line 12 is "closed" by the quote that opens a value on line 22; pyarrow glued
    # the lines between into one value (with the text after that quote), ten rows silently fewer.
    lines = ["id,name,note"] + [f"{i},n{i},note {i}" for i in range(1, 31)]
    lines[11] = '11,n11,"oops'
    lines[21] = '21,n21,"note 21"'
    path = tmp_path / "glued.csv"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError) as info:
        ws.data.ingest(path, name="glued")
    assert info.value.code == "data.broken-rows"
    assert "line 12" in info.value.message and "line 22" in info.value.message
    assert ws.data.list() == []


def test_literal_quotes_inside_unquoted_values_are_text(ws, tmp_path):
    path = tmp_path / "heights.csv"
    path.write_text('name,height,note\nann,5\'10",ok\nbob,6\'1",a "b" c\ncid,5\'2","x, y"\n')
    frame = ws.data.load(ws.data.ingest(path, name="heights"))
    assert frame["height"].tolist() == ["5'10\"", "6'1\"", "5'2\""]
    assert frame["note"].tolist() == ["ok", 'a "b" c', "x, y"]


def test_quoted_newlines_blank_lines_and_broken_rows_are_named_by_file_line(ws, tmp_path):
    path = tmp_path / "multiline.csv"
    path.write_text('a,b,c\n\n1,"two\nlines",3\n4,5\n\n6,"x\r\ny",7\r\n8,9,10,11\n')
    with pytest.raises(DataError) as info:
        ws.data.ingest(path, name="multiline")
    message = info.value.message
    # Lines as an editor counts them, not records: "4,5" is line 5, "8,9,10,11" is line 9.
    assert "2 broken row(s)" in message and "line 5:" in message and "line 9:" in message
    ok = tmp_path / "ok.csv"
    ok.write_text('a,b,c\n\n1,"two\nlines",3\r\n\r\n6,"x\r\ny",7\r\n8,9,10')
    frame = ws.data.load(ws.data.ingest(ok, name="multiline"))
    assert frame["b"].tolist() == ["two\nlines", "x\r\ny", "9"]


# -- issue 19: encodings, binary and nested columns, names that are SQL keywords -----------------


def test_invalid_utf8_is_refused_naming_the_line_and_the_byte(ws, tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes("name,city\nAnn,Oslo\nJosé,Málaga\n".encode("latin-1"))
    with pytest.raises(DataError) as info:
        ws.data.ingest(path, name="people")
    assert info.value.code == "data.bad-encoding"
    message = info.value.message
    assert "line 3" in message and "0xE9" in message and "encoding='cp1252'" in message
    assert ws.data.list() == []


@pytest.mark.parametrize("encoding", ["latin-1", "cp1252", "utf-16", "utf-8"])
def test_a_declared_encoding_is_decoded(ws, tmp_path, encoding):
    path = tmp_path / "people.csv"
    path.write_bytes("name;city\nJosé;Málaga\nZoë;Köln\n".encode(encoding))
    frame = ws.data.load(ws.data.ingest(path, name="people", encoding=encoding))
    assert frame.to_dict("list") == {"name": ["José", "Zoë"], "city": ["Málaga", "Köln"]}


def test_bytes_the_declared_encoding_lacks_are_refused(ws, tmp_path):
    path = tmp_path / "cp.csv"
    path.write_bytes(b"a,b\nx,1\ny\x81,2\n")
    with pytest.raises(DataError, match=r"line 3.*0x81") as info:
        ws.data.ingest(path, name="cp", encoding="cp1252")
    assert info.value.code == "data.bad-encoding"
    with pytest.raises(ConfigError, match="not an encoding") as unknown:
        ws.data.ingest(path, name="cp", encoding="klingon")
    assert unknown.value.code == "data.unknown-encoding"


def test_invalid_utf8_in_json_lines_is_refused(ws, tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_bytes('{"a": "ok"}\n{"a": "Jos\xe9"}\n'.encode("latin-1"))
    with pytest.raises(DataError, match="line 2") as info:
        ws.data.ingest(path, name="js")
    assert info.value.code == "data.bad-encoding"
    assert ws.data.ingest(path, name="js", encoding="latin-1").row_count == 2


def test_parquet_binary_columns(ws, tmp_path):
    path = tmp_path / "bin.parquet"
    pq.write_table(pa.table({"text": [b"abc", b"Jos\xc3\xa9"], "x": [1, 2]}), path)
    version = ws.data.ingest(path, name="text_bytes")
    assert version.column_types()["text"] == "categorical"
    assert ws.data.load(version)["text"].tolist() == ["abc", "José"]
    raw = tmp_path / "raw.parquet"
    pq.write_table(pa.table({"blob": [b"\x00\xff", b"\x89PNG"], "x": [1, 2]}), raw)
    with pytest.raises(DataError, match="'blob'") as info:
        ws.data.ingest(raw, name="blobs")
    assert info.value.code == "data.unsupported-type" and "bytes" in info.value.message


def test_nested_parquet_columns_are_refused_by_name(ws, tmp_path):
    path = tmp_path / "nested.parquet"
    table = pa.table(
        {
            "id": [1, 2],
            "address": [{"city": "Oslo", "zip": "0150"}, {"city": "Rome", "zip": "00100"}],
            "tags": [["a", "b"], []],
            "attrs": pa.array([[("k", 1)], [("j", 2)]], pa.map_(pa.string(), pa.int64())),
        }
    )
    pq.write_table(table, path)
    with pytest.raises(DataError) as info:
        ws.data.ingest(path, name="nested")
    assert info.value.code == "data.unsupported-type"
    message = info.value.message
    assert "'address' (struct)" in message and "'tags' (list)" in message
    assert "'attrs' (map)" in message and "'id'" not in message
    assert ws.data.list() == []


def test_nested_json_lines_are_refused_by_name(ws, tmp_path):
    path = tmp_path / "nested.jsonl"
    path.write_text('{"id": 1, "user": {"name": "a"}, "tags": ["x"]}\n{"id": 2, "user": null}\n')
    with pytest.raises(DataError, match=r"'user' \(struct\).*'tags' \(list\)") as info:
        ws.data.ingest(path, name="nested")
    assert info.value.code == "data.unsupported-type"


@pytest.mark.parametrize("name", ["select", "Order", "from", "join", "left"])
def test_sql_keywords_are_refused_as_data_set_names(ws, name):
    with pytest.raises(ConfigError, match=f"'{name}_data'") as info:
        ws.data.ingest(pd.DataFrame({"a": [1]}), name=name)
    assert info.value.code == "name.sql-keyword"
    # Keywords DuckDB accepts as table names stay valid names.
    assert ws.data.ingest(pd.DataFrame({"a": [1]}), name="data").ref == "data:1"


@pytest.mark.parametrize("chunk", [1, 2, 3, 5, 1 << 24])
def test_the_bad_byte_is_placed_on_its_line_whatever_the_chunks(ws, tmp_path, monkeypatch, chunk):
    import kiln.data._read as read

    monkeypatch.setattr(read, "_DECODE_CHUNK", chunk)
    path = tmp_path / "crlf.csv"
    path.write_bytes(b"a,b\r\nx,1\r\ny,2\rz,3\r\n\r\nJos\xe9,4\r\n")
    with pytest.raises(DataError, match=r"line 6 has the byte 0xE9 after 'Jos'"):
        ws.data.ingest(path, name="crlf")
    path.write_bytes(path.read_bytes().replace(b"\xe9", b"\x81"))  # a byte cp1252 lacks
    with pytest.raises(DataError, match=r"line 6 has the byte 0x81 after 'Jos'"):
        ws.data.ingest(path, name="crlf", encoding="cp1252")


def test_delimiter_option(ws, tmp_path):
    path = tmp_path / "tabs.txt"
    path.write_text("a\tb\n1\tx,y\n")
    assert ws.data.ingest(path, name="tabs", delimiter="\\t").columns == ["a", "b"]
    for bad in (";;", '"', "\n"):
        with pytest.raises(ConfigError, match="one character") as info:
            ws.data.ingest(path, name="tabs", delimiter=bad)
        assert info.value.code == "data.bad-delimiter"


def test_encoding_is_for_text_files_only(ws, tmp_path):
    parquet = tmp_path / "d.parquet"
    pd.DataFrame({"a": [1]}).to_parquet(parquet)
    for source in (parquet, pd.DataFrame({"a": [1]})):
        with pytest.raises(ConfigError, match="leave|Leave") as info:
            ws.data.ingest(source, name="d", encoding="latin-1")
        assert info.value.code == "data.unknown-encoding"


def test_a_dataframe_column_of_mixed_types_is_named(ws):
    with pytest.raises(DataError, match=r"column 'a b' mixes values.*astype\(str\)") as info:
        ws.data.ingest(pd.DataFrame({"a b": [1, "x"], "c": [1, 2]}), name="mixed")
    assert info.value.code == "data.wrong-type" and info.value.field == "a b"
    assert ws.data.list() == []


@pytest.mark.parametrize("name", ["photo.csv", "export.jsonl"])
def test_a_binary_file_is_not_read_as_a_table(ws, tmp_path, name):
    path = tmp_path / name
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64) + b"IHDR")
    with pytest.raises(DataError) as caught:
        ws.data.ingest(path, name="photo")
    assert caught.value.code == "data.binary-file"
    assert str(path) in caught.value.message
    assert ws.data.page().total == 0


def test_utf16_text_with_its_encoding_is_not_mistaken_for_binary(ws, tmp_path):
    path = tmp_path / "wide.csv"
    path.write_text("a,b\n1,x\n2,y\n", encoding="utf-16")
    assert ws.data.ingest(path, name="wide", encoding="utf-16").row_count == 2


def test_a_files_description_replaces_its_path_in_the_record_and_in_errors(ws, tmp_path):
    path = tmp_path / "copy-of-upload.csv"
    path.write_text("a,b\n1,x\n2,y\n")
    version = ws.data.ingest(path, name="named", description="sales.csv")
    assert version.source == "file: sales.csv"
    assert ws.data.ingest(path, name="plain").source == f"file: {path.resolve()}"
    empty = tmp_path / "tmp-copy.csv"
    empty.write_bytes(b"")
    with pytest.raises(DataError) as caught:
        ws.data.ingest(empty, name="named", description="sales.csv")
    assert caught.value.message == "sales.csv is empty (0 bytes). Nothing was ingested."
