"""The online store, on SQLite and on a real Redis server: the latest record per id (an older
event time goes offline only), TTL from event time, unknown ids, and a Redis URL that does not
answer."""

from __future__ import annotations

import pandas as pd
import pytest

from helpers import free_port
from kiln.errors import ConfigError, NotFound, StateError


@pytest.fixture(params=["sqlite", "redis"])
def online_ws(request, tmp_path):
    import kiln

    settings = {}
    if request.param == "redis":
        settings["online_store"] = request.getfixturevalue("redis_url")
    ws = kiln.Workspace.init(tmp_path / "ws", **settings)
    ws.features.create(
        "customers",
        record_id="customer_id",
        event_time="ts",
        schema={"customer_id": "int64", "ts": "timestamp", "spend": "float64", "plan": "string"},
        online=True,
    )
    yield ws
    ws.close()


def records(ids, days, spend) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": ids,
            "ts": pd.Timestamp("2024-01-01") + pd.to_timedelta(days, unit="D"),
            "spend": [float(s) for s in spend],
            "plan": [f"p{s}" for s in spend],
        }
    )


def test_the_latest_event_time_wins_and_an_older_record_goes_offline_only(online_ws):
    ws = online_ws
    ws.features.ingest("customers", records([1, 1, 2], [0, 5, 3], [10, 15, 20]))
    assert ws.features.get("customers", 1)["spend"] == 15.0
    ws.features.ingest("customers", records([1, 2], [2, 3], [99, 21]))  # late; a tie
    assert ws.features.get("customers", "1")["spend"] == 15.0
    assert ws.features.get("customers", 2) == {
        "customer_id": 2,
        "ts": "2024-01-04T00:00:00+00:00",
        "spend": 21.0,
        "plan": "p21",
    }
    ws.features.put_record(
        "customers", {"customer_id": 1, "ts": "2024-02-01T00:00:00Z", "spend": 3, "plan": "x"}
    )
    assert ws.features.get("customers", 1)["spend"] == 3.0
    assert ws.features.get_many("customers", [2, 7]) == [ws.features.get("customers", 2), None]
    assert ws.features.query("SELECT count(*) AS n FROM customers")["n"].item() == 6


def test_an_unknown_id_is_a_404_naming_it(online_ws):
    with pytest.raises(NotFound, match="id 404") as caught:
        online_ws.features.get("customers", 404)
    assert caught.value.code == "feature.unknown-record" and caught.value.http_status == 404


def test_a_record_past_its_ttl_is_gone(online_ws):
    ws = online_ws
    ws.features.create(
        "recent",
        record_id="customer_id",
        event_time="ts",
        schema={"customer_id": "int64", "ts": "timestamp", "spend": "float64", "plan": "string"},
        online=True,
        ttl="30d",
    )
    now = pd.Timestamp.now(tz="UTC").tz_localize(None)
    fresh = records([1], [0], [1]).assign(ts=[now - pd.Timedelta(days=29)])
    stale = records([2], [0], [2]).assign(ts=[now - pd.Timedelta(days=31)])
    ws.features.ingest("recent", pd.concat([fresh, stale]))
    assert ws.features.get("recent", 1)["spend"] == 1.0
    with pytest.raises(NotFound):
        ws.features.get("recent", 2)


def test_an_offline_group_has_no_online_reads(tmp_path):
    import kiln

    ws = kiln.Workspace.init(tmp_path / "ws")
    ws.features.create(
        "offline", record_id="customer_id", event_time="ts", source=records([1], [0], [1])
    )
    with pytest.raises(StateError) as caught:
        ws.features.get("offline", 1)
    assert caught.value.code == "feature.not-online"


def test_a_redis_url_that_does_not_answer_is_named(tmp_path):
    import kiln

    url = f"redis://127.0.0.1:{free_port()}/0"
    ws = kiln.Workspace.init(tmp_path / "ws", online_store=url)
    ws.features.create(
        "customers",
        record_id="customer_id",
        event_time="ts",
        source=records([1], [0], [1]),
        online=True,
    )
    with pytest.raises(ConfigError, match=url) as caught:
        ws.features.ingest("customers", records([1], [0], [1]))
    assert caught.value.code == "feature.online-unavailable"
    assert ws.features.ingests("customers") == []  # nothing written offline either
    other = kiln.Workspace.init(tmp_path / "ws2", online_store="memcached://x")
    with pytest.raises(ConfigError, match="neither a redis") as caught:
        other.features.create(
            "g",
            record_id="customer_id",
            event_time="ts",
            source=records([1], [0], [1]),
            online=True,
        )
        other.features.ingest("g", records([1], [0], [1]))
    assert caught.value.code == "feature.bad-online-store"
