"""The feature store against adversarial input (the review of issue 17's feature store): times
with offsets, epoch numbers and nanoseconds, ids that are not what the group holds, ids with odd
characters over HTTP, and a Redis server that stops answering mid-session."""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
from datetime import date

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from helpers import free_port
from kiln.errors import ConfigError, DataError, StateError

SCHEMA = {"cid": "int64", "ts": "timestamp", "x": "float64"}


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """Group 'c' (integer ids, online) with cid 1 at 2024-01-01 00:00 (x=1) and cid 2 at
    2024-01-02 (x=2); group 's' (text ids, online) with ids that need escaping in a URL."""
    import kiln

    ws = kiln.Workspace.init(tmp_path_factory.mktemp("edge") / "ws")
    ws.features.create("c", record_id="cid", event_time="ts", schema=SCHEMA, online=True)
    ws.features.ingest(
        "c",
        pd.DataFrame(
            {"cid": [1, 2], "ts": pd.to_datetime(["2024-01-01", "2024-01-02"]), "x": [1.0, 2.0]}
        ),
    )
    ws.features.create(
        "s",
        record_id="sid",
        event_time="ts",
        schema={"sid": "string", "ts": "timestamp", "x": "float64"},
        online=True,
    )
    ws.features.ingest(
        "s",
        pd.DataFrame(
            {"sid": ["a/b", "100%", "é✓ z"], "ts": pd.Timestamp("2024-01-01"), "x": [1.0, 2, 3]}
        ),
    )
    yield ws
    ws.close()


def test_entity_times_written_with_an_offset_are_read_in_utc(store):
    # 00:30+01:00 is 23:30 UTC the day before cid 1's first record: nothing is known yet.
    entity = pd.DataFrame(
        {"cid": [1, 1], "ts": ["2024-01-01T00:30:00+01:00", "2024-01-01T01:00:00+01:00"]}
    )
    got = store.features.training_set(entity, ["c:x"])
    assert got["x"].isna().tolist() == [True, False]


def test_entity_ids_are_matched_exactly_never_rounded(store):
    entity = pd.DataFrame({"cid": [1.0, float("nan")], "ts": pd.to_datetime(["2024-02-01"] * 2)})
    assert store.features.training_set(entity, ["c:x"])["x"].tolist()[0] == 1.0
    for ids in ([1.5], ["1.5"]):
        entity = pd.DataFrame({"cid": ids, "ts": pd.to_datetime(["2024-02-01"])})
        with pytest.raises(DataError, match="1.5") as caught:
            store.features.training_set(entity, ["c:x"])
        assert caught.value.code == "feature.bad-entity"


def test_float_ids_for_a_group_of_text_ids_are_refused_not_left_unmatched(store):
    entity = pd.DataFrame({"sid": [7.0, float("nan")], "ts": pd.to_datetime(["2024-02-01"] * 2)})
    with pytest.raises(DataError, match="floats") as caught:
        store.features.training_set(entity, ["s:x"])
    assert caught.value.code == "feature.bad-entity"


def test_entity_frames_may_have_columns_of_any_name_but_each_once(store):
    entity = pd.DataFrame({"cid": [2], "ts": pd.to_datetime(["2024-02-01"]), 3: ["extra"]})
    got = store.features.training_set(entity, ["c:x"])
    assert got.to_dict("records") == [
        {"cid": 2, "ts": pd.Timestamp("2024-02-01"), "3": "extra", "x": 2.0}
    ]
    twice = pd.DataFrame([[1, pd.Timestamp("2024-02-01"), 2]], columns=["cid", "ts", "cid"])
    with pytest.raises(DataError, match="'cid' twice") as caught:
        store.features.training_set(twice, ["c:x"])
    assert caught.value.code == "feature.bad-entity"
    epochs = pd.DataFrame({"cid": [1], "ts": [1704067200]})
    with pytest.raises(DataError, match="unit='s'") as caught:
        store.features.training_set(epochs, ["c:x"])
    assert caught.value.code == "feature.bad-entity"


@pytest.mark.parametrize(
    ("record", "column"),
    [
        ({"cid": 9, "ts": 1704067200, "x": 1.0}, "ts"),  # epoch seconds: not a time
        ({"cid": 9.5, "ts": "2024-01-01", "x": 1.0}, "cid"),  # not an integer
    ],
)
def test_a_record_value_that_would_be_silently_altered_is_refused(store, record, column):
    before = len(store.features.ingests("c"))
    with pytest.raises(DataError, match=column) as caught:
        store.features.put_record("c", record)
    assert caught.value.code == "feature.schema-changed" and caught.value.field == column
    assert len(store.features.ingests("c")) == before


def test_nanosecond_times_are_kept_to_the_microsecond_and_out_of_range_ints_refused(store):
    store.features.create("ns", record_id="cid", event_time="ts", schema=SCHEMA)
    late = pd.Timestamp("2024-01-01 00:00:00.000001999")
    store.features.ingest("ns", pd.DataFrame({"cid": [1], "ts": [late], "x": [1.0]}))
    assert store.features.query("SELECT ts FROM ns")["ts"].tolist() == [
        pd.Timestamp("2024-01-01 00:00:00.000001")
    ]
    huge = pd.Series([2**63 + 5], dtype="uint64")
    with pytest.raises(DataError, match="'cid'") as caught:
        store.features.ingest("ns", pd.DataFrame({"cid": huge, "ts": [late], "x": [1.0]}))
    assert caught.value.code == "feature.schema-changed"
    assert len(store.features.ingests("ns")) == 1


def test_integer_ids_are_read_strictly(store):
    assert store.features.get("c", 1.0)["x"] == 1.0
    assert store.features.get("c", " 2 ")["x"] == 2.0
    for odd in ("1_0", "١", "1.5", True):
        with pytest.raises(DataError) as caught:
            store.features.get("c", odd)
        assert caught.value.code == "feature.bad-record-id"


def test_ids_with_slashes_percent_signs_and_unicode_are_read_over_http(store):
    from urllib.parse import quote

    from kiln.serving import create_app

    with TestClient(create_app(store), base_url="http://localhost") as client:
        for record_id, x in [("a/b", 1.0), ("100%", 2.0), ("é✓ z", 3.0)]:
            got = client.get(f"/features/s/records/{quote(record_id, safe='')}")
            assert got.status_code == 200, got.text
            assert got.json()["x"] == x
        missing = client.get("/features/s/records/a%2Fc")
        assert missing.status_code == 404 and missing.json()["error"] == "feature.unknown-record"
        assert missing.json()["field"] == "sid"  # the column, as every other error's field


@pytest.fixture
def private_redis(tmp_path):
    """A redis-server of this test's own, which the test may stop."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("no Redis server: redis-server is not installed")
    import redis

    port = free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        cwd=tmp_path,
    )
    url = f"redis://127.0.0.1:{port}/0"
    for _ in range(100):
        try:
            redis.Redis.from_url(url, socket_connect_timeout=1).ping()
            break
        except redis.ConnectionError:
            time.sleep(0.05)
    yield url, process
    process.kill()
    process.wait()


def test_a_redis_that_stops_answering_is_named_and_an_ingest_records_nothing(
    tmp_path, private_redis
):
    import kiln

    url, process = private_redis
    ws = kiln.Workspace.init(tmp_path / "ws", online_store=url)
    ws.features.create("c", record_id="cid", event_time="ts", schema=SCHEMA, online=True)
    rows = pd.DataFrame({"cid": [1], "ts": pd.to_datetime(["2024-01-01"]), "x": [1.0]})
    ws.features.ingest("c", rows)
    process.kill()
    process.wait()
    for attempt in (lambda: ws.features.get("c", 1), lambda: ws.features.ingest("c", rows)):
        with pytest.raises(ConfigError, match=url) as caught:
            attempt()
        assert caught.value.code == "feature.online-unavailable"
    assert len(ws.features.ingests("c")) == 1
    ws.close()


def test_an_ingest_whose_online_write_fails_is_taken_back(store, monkeypatch):
    store.features.create("taken", record_id="cid", event_time="ts", schema=SCHEMA, online=True)
    rows = pd.DataFrame({"cid": [1], "ts": pd.to_datetime(["2024-01-01"]), "x": [1.0]})

    def stopped(group, entries):
        raise ConfigError("The online store does not answer.", code="feature.online-unavailable")

    monkeypatch.setattr(store.features.online_store, "write", stopped)
    with pytest.raises(ConfigError):
        store.features.ingest("taken", rows)
    assert store.features.ingests("taken") == []


def test_names_that_differ_only_in_case_are_refused_or_kept_apart(store):
    # DuckDB reads 'C' as 'c': a second group 'C' would break every query.
    with pytest.raises(StateError, match="'c'") as caught:
        store.features.create("C", record_id="cid", event_time="ts", schema=SCHEMA)
    assert caught.value.code == "feature.group-exists"
    assert store.features.query("SELECT count(*) AS n FROM c")["n"].item() >= 2
    with pytest.raises(ConfigError, match="'x' and 'X'") as caught:
        store.features.create(
            "cased", record_id="cid", event_time="ts", schema=SCHEMA | {"X": "float64"}
        )
    assert caught.value.code == "feature.bad-schema"
    entity = pd.DataFrame({"cid": [2], "ts": pd.to_datetime(["2024-02-01"]), "X": ["own"]})
    got = store.features.training_set(entity, ["c:x"])
    assert got.to_dict("records")[0] | {"ts": None} == {
        "cid": 2,
        "ts": None,
        "X": "own",
        "c__x": 2.0,
    }


@pytest.mark.parametrize("ttl", [float("nan"), float("inf"), True])
def test_a_ttl_that_is_no_finite_time_is_refused(store, ttl):
    with pytest.raises(ConfigError) as caught:
        store.features.create("ttl", record_id="cid", event_time="ts", schema=SCHEMA, ttl=ttl)
    assert caught.value.code == "feature.bad-ttl"


@pytest.mark.parametrize("as_of", [date(2000, 1, 1), 1700000000])
def test_as_of_takes_dates_and_refuses_numbers(store, as_of):
    entity = pd.DataFrame({"cid": [1], "ts": pd.to_datetime(["2024-02-01"])})
    if isinstance(as_of, date):
        assert store.features.training_set(entity, ["c:x"], as_of=as_of)["x"].isna().all()
        return
    with pytest.raises(ConfigError) as caught:
        store.features.training_set(entity, ["c:x"], as_of=as_of)
    assert caught.value.code == "feature.bad-time"


def test_an_id_that_is_no_single_value_and_a_record_that_is_no_object_are_named(store):
    for odd in (["a/b"], {"sid": "a/b"}, None):
        with pytest.raises(DataError, match="one value") as caught:
            store.features.get("s", odd)
        assert caught.value.code == "feature.bad-record-id"
    with pytest.raises(DataError, match=r"got list \[1\]") as caught:
        store.features.put_record("s", [1])
    assert caught.value.code == "feature.bad-record"


@pytest.mark.parametrize("backend", ["sqlite", "redis"])
def test_at_equal_event_times_the_later_write_stays_online_whatever_order_they_land(
    tmp_path, request, backend
):
    """Ingest A is recorded first, B second (same id and event time); A's online write lands
    last. Online, as in training sets, B (the later write) must win."""
    import kiln

    settings = {"online_store": request.getfixturevalue("redis_url")} if backend == "redis" else {}
    ws = kiln.Workspace.init(tmp_path / "ws", **settings)
    ws.features.create("c", record_id="cid", event_time="ts", schema=SCHEMA, online=True)
    online = ws.features.online_store
    original = online.write
    b_landed = threading.Event()

    def write(group, entries):
        payloads = [part for entry in entries for part in entry if isinstance(part, bytes)]
        if any(b'"x":1.0' in payload for payload in payloads):  # A's
            assert b_landed.wait(10)
            original(group, entries)
        else:
            original(group, entries)
            b_landed.set()

    online.write = write
    rows = pd.DataFrame({"cid": [1], "ts": pd.to_datetime(["2024-01-01"]), "x": [1.0]})
    first = threading.Thread(target=ws.features.ingest, args=("c", rows))
    first.start()
    while not ws.features.ingests("c"):
        time.sleep(0.01)
    ws.features.ingest("c", rows.assign(x=2.0))
    first.join()
    entity = pd.DataFrame({"cid": [1], "ts": pd.to_datetime(["2024-02-01"])})
    assert ws.features.training_set(entity, ["c:x"])["x"].item() == 2.0
    assert ws.features.get("c", 1)["x"] == 2.0
    ws.close()


def test_an_online_store_written_before_write_times_were_kept_is_upgraded(tmp_path):
    import sqlite3

    import kiln

    ws = kiln.Workspace.init(tmp_path / "ws")
    with sqlite3.connect(ws.home / "online.db") as old:
        old.execute(
            "CREATE TABLE records (grp TEXT NOT NULL, id TEXT NOT NULL, event_us INTEGER NOT "
            "NULL, expires_us INTEGER, payload BLOB NOT NULL, PRIMARY KEY (grp, id)) WITHOUT ROWID"
        )
    old.close()
    ws.features.create("c", record_id="cid", event_time="ts", schema=SCHEMA, online=True)
    rows = pd.DataFrame({"cid": [1], "ts": pd.to_datetime(["2024-01-01"]), "x": [1.0]})
    ws.features.ingest("c", rows)
    ws.features.ingest("c", rows.assign(x=2.0))
    assert ws.features.get("c", 1)["x"] == 2.0
    ws.close()


def test_a_data_set_with_times_as_text_is_a_group_and_a_bad_text_is_named(tmp_path):
    import kiln

    ws = kiln.Workspace.init(tmp_path / "ws")
    csv = tmp_path / "times.csv"
    csv.write_text("cid,ts,x\n1,2024-01-01T00:30:00+01:00,1.5\n2,2024-01-02 10:00:00,2.5\n")
    ws.data.ingest(csv, name="times")  # mixed formats: the column stays text
    ws.features.create("t", record_id="cid", event_time="ts", source="times")
    assert ws.features.describe("t").schema["ts"] == "timestamp"
    ws.features.ingest("t", "times")
    assert ws.features.query("SELECT ts FROM t ORDER BY cid")["ts"].tolist() == [
        pd.Timestamp("2023-12-31 23:30"),
        pd.Timestamp("2024-01-02 10:00"),
    ]
    bad = pd.DataFrame({"cid": [3, 4], "ts": ["2024-01-03", "soon"], "x": [1.0, 2.0]})
    with pytest.raises(DataError, match="'soon'") as caught:
        ws.features.ingest("t", bad)
    assert caught.value.code == "feature.schema-changed" and caught.value.field == "ts"
    assert len(ws.features.ingests("t")) == 1
    ws.close()
