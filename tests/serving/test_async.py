"""Asynchronous invocations through the server: accepted with 202, processed by the workers in
the app's lifespan, retried after a server died, refused or failed with the reason, and told to
webhooks."""

from __future__ import annotations

import http.server
import math
import threading
import time
from datetime import timedelta

import orjson
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from helpers import wait_for, workspace_with_settings
from kiln.errors import NotFound
from kiln.serving import create_app
from kiln.store import AsyncInvocationRow, ScalingEventRow, now

ASYNC = "/endpoints/churn/async-invocations"


@pytest.fixture(scope="module")
def rows(trained):
    ws, result = trained
    test = ws.data.load(result.job.result["splits"]["test"]).head(5).drop(columns=["churn"])
    return test.astype(object).where(test.notna(), None).to_dict("records")


@pytest.fixture
def ws(trained_copy):
    return trained_copy[0]


def _app(ws, **workers):
    app = create_app(ws)
    for name, value in workers.items():  # webhook_timeout, webhook_backoff, ...
        setattr(app.state.async_workers, name, value)
    return app


def _done(client, inference_id: str) -> dict:
    def finished():
        body = client.get(f"/async-invocations/{inference_id}").json()
        return body if body["status"] in ("Completed", "Failed") else None

    return wait_for(finished, timeout=60, what=f"invocation {inference_id} to finish")


def _lines(data: bytes) -> list:
    return [orjson.loads(line) for line in data.splitlines()]


def test_json_and_csv_payloads_complete_with_the_real_time_predictions(trained_copy, rows):
    ws, trained = trained_copy
    test_split = trained.job.result["splits"]["test"]  # a data set version with the target
    with TestClient(_app(ws), base_url="http://localhost") as client:
        accepted = client.post(ASYNC, json=rows)
        assert accepted.status_code == 202
        body = accepted.json()
        assert body["status"] == "Pending"
        assert body["output_location"].endswith(f"/async/churn/{body['id']}/output.jsonl")
        assert accepted.headers["location"] == f"/async-invocations/{body['id']}"
        csv = pd.DataFrame(rows).to_csv(index=False).encode()
        as_csv = client.post(ASYNC, content=csv, headers={"content-type": "text/csv"}).json()
        realtime = client.post("/endpoints/churn/invocations", json=rows).json()["predictions"]
        for inference_id in (body["id"], as_csv["id"]):
            status = _done(client, inference_id)
            assert status["status"] == "Completed", status
            assert status["rows"] == len(rows) and status["attempts"] == 1
            assert status["processing_seconds"] >= 0
            result = client.get(f"/async-invocations/{inference_id}/result")
            assert result.status_code == 200
            assert _lines(result.content) == realtime
        by_version = client.post(ASYNC, json={"input_location": test_split}).json()
        assert by_version["content_type"] == "dataset"
        status = _done(client, by_version["id"])
        assert status["status"] == "Completed", status
        assert status["rows"] == len(ws.data.load(test_split))  # its target column left out
        metrics = client.get("/metrics").text
        assert 'kiln_async_queue_depth{endpoint="churn"} 0.0' in metrics
        assert 'kiln_async_oldest_pending_age_seconds{endpoint="churn"}' in metrics

        def scaled_to_zero():
            with ws.store.read() as session:
                events = session.scalars(
                    select(ScalingEventRow).where(ScalingEventRow.action == "async-workers")
                ).all()
                return [(e.before, e.after) for e in events] if events[-1].after == 0 else None

        events = wait_for(scaled_to_zero, timeout=30, what="the workers to scale to zero")
    assert events[0][0] == 0 and events[0][1] >= 1  # up from none with the backlog
    assert max(after for _, after in events) <= 2  # the default max_concurrency


def test_an_invocation_whose_server_died_is_retried_and_its_output_written_once(ws, rows):
    queue = ws.endpoints.async_queue
    invocation = ws.endpoints.async_invoke("churn", orjson.dumps(rows))
    taken = queue.claim(["churn"], "dead-server:1", lease_seconds=60)
    assert taken.id == invocation.id and taken.status == "InProgress"
    # The dead server wrote part of an output before it died, and its lease ran out.
    partial = ws.home / "partial.jsonl"
    partial.write_bytes(b'{"label": "half"}\n')
    queue.write_output(taken, partial)
    with ws.store.write() as session:
        session.execute(
            update(AsyncInvocationRow).values(lease_expires_at=now() - timedelta(seconds=1))
        )
    with TestClient(_app(ws), base_url="http://localhost") as client:
        status = _done(client, invocation.id)
        result = client.get(f"/async-invocations/{invocation.id}/result").content
    assert status["status"] == "Completed" and status["attempts"] == 2
    assert len(_lines(result)) == len(rows) and b"half" not in result
    assert ws.artifacts.list_named(f"async/churn/{invocation.id}") == [
        f"async/churn/{invocation.id}/input.json",
        f"async/churn/{invocation.id}/output.jsonl",
    ]


def test_a_payload_over_the_endpoints_limit_is_413_and_nothing_is_queued(ws, rows):
    ws.endpoints.async_config("churn", max_payload_mb=0.001)  # 1048 bytes
    big = orjson.dumps(rows * 20)
    assert len(big) > 1048
    with TestClient(_app(ws), base_url="http://localhost") as client:
        response = client.post(ASYNC, content=big, headers={"content-type": "application/json"})
        # Streamed without a declared length: counted as it arrives.
        streamed = client.post(
            ASYNC,
            content=iter([big[:1000], big[1000:]]),
            headers={"content-type": "application/json"},
        )
    for refused in (response, streamed):
        assert refused.status_code == 413
        assert refused.json()["error"] == "async.payload-too-large"
        assert "1048 bytes" in refused.json()["detail"]
    assert ws.endpoints.async_list("churn") == []


def test_a_missing_input_location_is_refused_or_fails_with_the_reason(ws, tmp_path):
    (tmp_path / "rows.csv").write_text("tenure\n1\n")
    with TestClient(_app(ws), base_url="http://localhost") as client:
        # An HTTP client may not have the server read its files, unless the workspace says so.
        for local in (tmp_path / "rows.csv", f"file://{tmp_path / 'rows.csv'}"):
            refused = client.post(ASYNC, json={"input_location": str(local)})
            assert refused.status_code == 400, refused.text
            assert refused.json()["error"] == "async.local-input-refused"
            assert "async_local_inputs" in refused.json()["detail"]
        assert ws.endpoints.async_list("churn") == []
        with pytest.raises(NotFound, match="nope.csv") as caught:
            ws.endpoints.async_invoke("churn", input_location=str(tmp_path / "nope.csv"))
        assert caught.value.code == "async.input-not-found"
        # A URL is not checked when accepted (it may be slow to reach): it fails when processed.
        remote = client.post(ASYNC, json={"input_location": "memory://kiln/absent.csv"})
        assert remote.status_code == 202
        # A file that was there when accepted and is gone when processed fails the same way.
        gone = tmp_path / "gone.csv"
        gone.write_text("tenure\n1\n")
        vanished = ws.endpoints.async_invoke("churn", input_location=str(gone))
        gone.unlink()
        for inference_id in (remote.json()["id"], vanished.id):
            status = _done(client, inference_id)
            assert status["status"] == "Failed"
            assert status["error_code"] == "async.input-unreadable"
            result = client.get(f"/async-invocations/{inference_id}/result")
            assert result.status_code == 409 and result.json()["error"] == "async.no-result"
        assert "memory://kiln/absent.csv" in _done(client, remote.json()["id"])["error"]
        assert client.get("/ping").json()["status"] == "ok"  # the server is fine


def test_processing_past_the_timeout_fails_with_the_reason(ws, rows):
    ws.endpoints.async_config("churn", timeout=1e-6)
    with TestClient(_app(ws), base_url="http://localhost") as client:
        inference_id = client.post(ASYNC, json=rows).json()["id"]
        status = _done(client, inference_id)
    assert status["status"] == "Failed" and status["error_code"] == "async.timeout"
    assert "timeout" in status["error"]


class _Hooks(http.server.ThreadingHTTPServer):
    """A webhook receiver on loopback: records what it is sent; /slow answers too late."""

    daemon_threads = True

    def __init__(self):
        self.received: list[tuple[str, dict]] = []
        self.release = threading.Event()
        hooks = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = orjson.loads(self.rfile.read(int(self.headers["content-length"])))
                hooks.received.append((self.path, body))
                if self.path == "/slow":
                    hooks.release.wait(5)  # past the worker's webhook timeout
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}{path}"


def test_webhooks_are_told_of_success_and_a_timing_out_one_is_retried_then_recorded(ws, rows):
    hooks = _Hooks()
    try:
        ws.endpoints.async_config(
            "churn", on_success=hooks.url("/done"), on_failure=hooks.url("/slow")
        )
        app = _app(ws, webhook_timeout=0.2, webhook_backoff=0.01)
        with TestClient(app, base_url="http://localhost") as client:
            good = client.post(ASYNC, json=rows).json()["id"]
            bad = client.post(ASYNC, json={"input_location": "memory://kiln/x.csv"}).json()["id"]

            def notified(inference_id, count):
                def check():
                    body = client.get(f"/async-invocations/{inference_id}").json()
                    return body if len(body["notifications"]) >= count else None

                return check

            success = wait_for(notified(good, 1), timeout=60, what="the success webhook")
            failure = wait_for(notified(bad, 3), timeout=60, what="the failure webhook")
    finally:
        hooks.release.set()
        hooks.shutdown()
    assert ("/done", good) in [(path, body["inference_id"]) for path, body in hooks.received]
    delivered = success["notifications"]
    assert [(n["event"], n["delivered"], n["status_code"]) for n in delivered] == [
        ("success", True, 204)
    ]
    sent = [body for path, body in hooks.received if path == "/done"][0]
    assert sent["status"] == "Completed" and sent["output_location"] == success["output_location"]
    attempts = failure["notifications"]
    assert [n["attempt"] for n in attempts] == [1, 2, 3]
    assert all(not n["delivered"] and "timed out" in n["error"] for n in attempts)
    assert [path for path, _ in hooks.received].count("/slow") == 3


def test_a_key_for_one_endpoint_follows_only_that_endpoints_invocations(trained, tmp_path, rows):
    source, _ = trained
    secured = workspace_with_settings(source, tmp_path / "ws", require_auth=True)
    own = {"x-api-key": secured.keys.create(endpoint="churn").key}
    other = {"x-api-key": secured.keys.create(endpoint="other").key}
    with TestClient(_app(secured), base_url="http://localhost") as client:
        assert client.post(ASYNC, json=rows, headers=other).status_code == 403
        inference_id = client.post(ASYNC, json=rows, headers=own).json()["id"]
        assert client.get(f"/async-invocations/{inference_id}", headers=own).status_code == 200
        refused = client.get(f"/async-invocations/{inference_id}", headers=other)
        assert refused.status_code == 403 and refused.json()["error"] == "auth.wrong-endpoint"
        assert client.get(f"/async-invocations/{inference_id}").status_code == 401
        while client.get(f"/async-invocations/{inference_id}", headers=own).json()["status"] in (
            "Pending",
            "InProgress",
        ):
            time.sleep(0.05)  # let it finish before the app stops
    secured.close()


def test_an_idle_serverless_endpoint_is_warmed_by_its_async_worker(ws, rows):
    ws.endpoints.set_serverless("churn", max_concurrency=2, idle_timeout="10m")
    with TestClient(_app(ws), base_url="http://localhost") as client:
        state = client.get("/endpoints/churn").json()["serverless"]
        assert state["state"] == "cold"
        assert math.copysign(1.0, state["idle_seconds"]) == 1.0  # never called: 0, not -0.0
        accepted = client.post(ASYNC, json=rows).json()
        status = _done(client, accepted["id"])
        assert status["status"] == "Completed", status
        assert len(_lines(client.get(f"/async-invocations/{accepted['id']}/result").content)) == 5


def test_a_multi_model_endpoint_refuses_async_invocations(ws, rows):
    ws.endpoints.deploy(None, endpoint="many", multi_model=True)
    with pytest.raises(Exception, match="multi-model endpoint") as caught:
        ws.endpoints.async_invoke("many", orjson.dumps(rows), content_type="application/json")
    assert caught.value.code == "multimodel.not-supported"
    assert ws.endpoints.async_list("many") == []


def test_a_workspace_that_allows_local_inputs_takes_a_file_over_http(trained, tmp_path, rows):
    source, _result = trained
    trusting = workspace_with_settings(source, tmp_path / "ws", async_local_inputs=True)
    (tmp_path / "rows.csv").write_text(pd.DataFrame(rows).to_csv(index=False))
    with TestClient(_app(trusting), base_url="http://localhost") as client:
        missing = client.post(ASYNC, json={"input_location": str(tmp_path / "nope.csv")})
        assert missing.status_code == 404 and missing.json()["error"] == "async.input-not-found"
        accepted = client.post(ASYNC, json={"input_location": str(tmp_path / "rows.csv")})
        assert accepted.status_code == 202, accepted.text
        assert _done(client, accepted.json()["id"])["status"] == "Completed"
    trusting.close()
