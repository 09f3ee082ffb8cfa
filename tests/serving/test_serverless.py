"""Serverless endpoints on a real server: cold until the first request (which says how long it
waited), unloaded after the idle timeout with its memory let go, loaded again by the next
request, and 429 over max concurrency. Idle time runs on a clock the test advances."""

import asyncio
import gc
import socket
import weakref

import httpx
import orjson
from prometheus_client import CollectorRegistry

from helpers import ServerThread, wait_for
from kiln.serving._cache import EndpointCache
from kiln.serving._serverless import Serverless


def _rows(ws, result) -> list[dict]:
    test = ws.data.load(result.job.result["splits"]["test"]).head(2).drop(columns=["churn"])
    return test.astype(object).where(test.notna(), None).to_dict("records")


def test_cold_start_unload_reload_and_429(trained_copy):
    ws, result = trained_copy
    ws.endpoints.set_serverless("churn", max_concurrency=1, idle_timeout="60s")
    rows = _rows(ws, result)
    with ServerThread(ws) as server, httpx.Client(base_url=server.url, timeout=30) as client:
        serverless, cache = server.app.state.serverless, server.app.state.cache
        clock = [1000.0]
        serverless.clock = lambda: clock[0]

        def state() -> dict:
            return client.get("/endpoints/churn").json()["serverless"]

        assert state()["state"] == "cold" and state()["max_concurrency"] == 1
        first = client.post("/endpoints/churn/invocations", json=rows)
        assert first.status_code == 200 and len(first.json()["predictions"]) == 2
        assert int(first.headers["x-kiln-cold-start-ms"]) >= 0
        assert state()["state"] == "warm"
        model = weakref.ref(cache.loaded["churn"].model)
        warm = client.post("/endpoints/churn/invocations", json=rows)
        assert "x-kiln-cold-start-ms" not in warm.headers
        assert warm.json()["predictions"] == first.json()["predictions"]

        # One request in flight (its body half sent): the next is refused, 429 with Retry-After.
        body = orjson.dumps(rows)
        with socket.create_connection(("127.0.0.1", server.port), timeout=30) as slow:
            slow.sendall(
                b"POST /endpoints/churn/invocations HTTP/1.1\r\nhost: 127.0.0.1\r\n"
                b"content-type: application/json\r\ncontent-length: "
                + str(len(body)).encode()
                + b"\r\n\r\n"
                + body[:10]
            )
            wait_for(lambda: serverless.in_flight.get("churn") == 1, timeout=10, what="in flight")
            refused = client.post("/endpoints/churn/invocations", json=rows)
            assert refused.status_code == 429 and refused.headers["retry-after"] == "1"
            assert refused.json()["error"] == "serverless.too-many-requests"
            assert "max-concurrency" in refused.json()["detail"]
            slow.sendall(body[10:])
            assert slow.recv(4096).startswith(b"HTTP/1.1 200")
        wait_for(lambda: serverless.in_flight.get("churn") == 0, timeout=10, what="done")

        clock[0] += 59  # not idle long enough yet
        assert state()["state"] == "warm" and state()["idle_seconds"] >= 59
        clock[0] += 2
        wait_for(lambda: state()["state"] == "cold", timeout=10, what="the unload")
        # Once the unloading thread is done, nothing holds the model any more.
        wait_for(lambda: gc.collect() >= 0 and model() is None, timeout=10, what="no reference")
        again = client.post("/endpoints/churn/invocations", json=rows)
        assert again.status_code == 200 and "x-kiln-cold-start-ms" in again.headers
        assert again.json()["predictions"] == first.json()["predictions"]
        exposition = client.get("/metrics").text
        assert 'kiln_serverless_cold_start_seconds_count{endpoint="churn"} 2.0' in exposition
        assert 'kiln_serverless_throttled_total{endpoint="churn"} 1.0' in exposition

    def actions():
        return [(e.action, e.metric) for e in ws.endpoints.scaling_events("churn")]

    expected = [
        ("cold-start", "cold_start_seconds"),
        ("unload", "idle_seconds"),
        ("cold-start", "cold_start_seconds"),
    ]
    wait_for(lambda: actions() == expected, timeout=10, what="the scaling events")
    assert ws.endpoints.scaling_events("churn")[1].value >= 60


def test_the_loader_keeps_a_serverless_endpoint_cold_until_turned_off(trained_copy):
    ws, _ = trained_copy
    ws.endpoints.set_serverless("churn", idle_timeout="10m")
    cache = EndpointCache(ws)
    cache.refresh()
    assert cache.loaded["churn"].cold
    assert cache.loaded["churn"].config["serverless"]["idle_timeout_seconds"] == 600
    ws.endpoints.set_capture("churn", 0)  # a new revision of a cold endpoint: still cold
    ws.endpoints.set_serverless("churn", max_concurrency=5)
    cache.refresh()
    assert cache.loaded["churn"].cold
    assert cache.warm("churn") and not cache.loaded["churn"].cold
    assert not cache.warm("churn")  # warm already: nothing loaded twice
    assert cache.unload("churn") and cache.loaded["churn"].cold
    ws.endpoints.set_serverless("churn", off=True)
    cache.refresh()
    assert not cache.loaded["churn"].cold  # a plain endpoint loads at once


def test_concurrent_first_requests_share_one_load(trained_copy):
    ws, _ = trained_copy
    ws.endpoints.set_serverless("churn")
    cache = EndpointCache(ws)
    cache.refresh()
    serverless = Serverless(cache, registry=CollectorRegistry())
    loads, load = [], cache.warm
    cache.warm = lambda name: loads.append(name) or load(name)  # counts the loads begun

    async def five_first_requests() -> list[float]:
        waited = await asyncio.gather(*(serverless.cold_start("churn") for _ in range(5)))
        await serverless.stop()  # the cold-start event written
        return waited

    waited = asyncio.run(five_first_requests())
    assert len(waited) == 5 and not cache.loaded["churn"].cold
    assert loads == ["churn"]  # one load, which all five waited for
    samples = serverless.cold_starts.labels("churn").collect()[0].samples
    assert next(s.value for s in samples if s.name.endswith("_count")) == 1
    assert [e.action for e in ws.endpoints.scaling_events("churn")] == ["cold-start"]
