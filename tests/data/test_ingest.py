import json
import sqlite3

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from kiln.errors import ConfigError, DataError, NotFound


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


def test_tampered_snapshot_is_refused(ws):
    version = ws.data.ingest(pd.DataFrame({"a": [1, 2, 3]}), name="t")
    path = ws.data.path(version)
    pq.write_table(pa.table({"a": [9, 9, 9]}), path)
    from kiln.errors import IntegrityError

    with pytest.raises(IntegrityError, match="data set t:1"):
        ws.data.load("t")
