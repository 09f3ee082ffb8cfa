"""Data capture: the writer, its hook in the app, settings, PII, and reading the capture back."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

import orjson
import pytest
from fastapi.testclient import TestClient

from helpers import wait_for
from kiln.errors import ConfigError, NotFound
from kiln.serving import create_app
from kiln.serving._capture import CaptureWriter


@pytest.fixture
def capturing(trained_copy):
    """A private trained workspace whose 'churn' endpoint captures everything."""
    ws, result = trained_copy
    ws.endpoints.set_capture("churn", 100)
    return ws, result


@pytest.fixture(scope="module")
def rows(trained):
    ws, result = trained
    test = ws.data.load(result.job.result["splits"]["test"]).head(40).drop(columns=["churn"])
    return test.astype(object).where(test.notna(), None).to_dict("records")


def invoke(client, body, name="churn", **kwargs):
    return client.post(f"/endpoints/{name}/invocations", json=body, **kwargs)


def capture_files(ws, endpoint="churn"):
    return ws.artifacts.list_named(f"capture/{endpoint}")


# -- settings ------------------------------------------------------------------------------------
def test_set_capture_writes_the_setting_and_changes_no_revision(trained_copy):
    ws, _ = trained_copy
    before, history = ws.endpoints.get("churn"), ws.endpoints.history("churn")
    endpoint = ws.endpoints.set_capture("churn", 25, format="parquet")
    assert endpoint.capture == {"percent": 25.0, "format": "parquet"}
    assert endpoint.revision == before.revision
    assert ws.endpoints.history("churn") == history
    assert ws.endpoints.capture_settings() == {"churn": {"percent": 25.0, "format": "parquet"}}
    assert ws.endpoints.set_capture("churn", 0).capture == {}
    assert ws.endpoints.get("churn").to_dict()["capture"] == {}


@pytest.mark.parametrize(
    ("percent", "format", "code"),
    [
        (101, "jsonl", "capture.bad-percent"),
        (-1, "jsonl", "capture.bad-percent"),
        ("lots", "jsonl", "capture.bad-percent"),
        (50, "csv", "capture.bad-format"),
    ],
)
def test_bad_capture_settings_are_refused_naming_the_value(trained_copy, percent, format, code):
    ws, _ = trained_copy
    with pytest.raises(ConfigError) as error:
        ws.endpoints.set_capture("churn", percent, format=format)
    assert error.value.code == code
    assert repr(percent if code == "capture.bad-percent" else format) in error.value.message
    assert ws.endpoints.get("churn").capture == {}


def test_set_capture_of_an_unknown_endpoint_is_not_found(trained_copy):
    ws, _ = trained_copy
    with pytest.raises(NotFound):
        ws.endpoints.set_capture("nope", 100)


def test_a_running_server_follows_a_capture_change(trained_copy, rows):
    ws, _ = trained_copy
    with TestClient(create_app(ws), base_url="http://localhost") as client:
        writer = client.app.state.capture
        assert invoke(client, rows[:1]).status_code == 200
        ws.endpoints.set_capture("churn", 100)
        wait_for(lambda: writer.settings.get("churn"), timeout=30, what="the capture setting")
        captured = invoke(client, rows[:1]).json()["inference_id"]
    assert set(ws.data.capture("churn")["inference_id"]) == {captured}


# -- the writer, through the app ----------------------------------------------------------------
def test_capture_under_concurrent_requests_equals_the_2xx_answers(capturing, rows):
    ws, result = capturing
    bodies = [rows[i % len(rows) : i % len(rows) + 1] for i in range(60)]
    bodies += [[dict(rows[0], tenure="ten")]] * 10  # 422s: not captured
    with TestClient(create_app(ws), base_url="http://localhost") as client:
        with ThreadPoolExecutor(8) as pool:
            responses = list(pool.map(lambda body: invoke(client, body), bodies))
        registry = client.app.state.metrics_registry
    answered = {r.json()["inference_id"] for r in responses if r.status_code == 200}
    assert len(answered) == 60 and sum(r.status_code == 422 for r in responses) == 10
    for response in responses:
        if response.status_code == 200:
            assert response.headers["x-kiln-inference-id"] == response.json()["inference_id"]
    captured = ws.data.capture("churn")
    assert len(captured) == 60 and set(captured["inference_id"]) == answered
    assert registry.get_sample_value("kiln_capture_records_total", {"endpoint": "churn"}) == 60
    assert set(captured["model"]) == {result.model.ref} and set(captured["variant"]) == {"primary"}
    assert {"tenure", "contract", "predicted_label", "predicted_probabilities_Yes"} <= set(
        captured.columns
    )
    assert (captured["latency_ms"] > 0).all()
    [name] = {n.rsplit("/", 1)[0] for n in capture_files(ws)}
    assert name.startswith("capture/churn/date=") and "/hour=" in name


def test_a_multi_row_and_a_csv_request_are_captured_row_by_row(capturing, rows):
    import pandas as pd

    ws, _ = capturing
    with TestClient(create_app(ws), base_url="http://localhost") as client:
        many = invoke(client, {"instances": rows[:3]}).json()
        csv = pd.DataFrame(rows[3:5]).to_csv(index=False).encode()
        answered = client.post(
            "/endpoints/churn/invocations", content=csv, headers={"content-type": "text/csv"}
        ).json()
    captured = ws.data.capture("churn").set_index(["inference_id", "row"])
    assert captured.loc[(many["inference_id"], 2), "tenure"] == rows[2]["tenure"]
    assert captured.loc[(answered["inference_id"], 1), "contract"] == rows[4]["contract"]
    assert (
        captured.loc[(many["inference_id"], 0), "predicted_label"]
        == many["predictions"][0]["label"]
    )


def test_parquet_capture_reads_back_like_json_lines(capturing, rows):
    ws, _ = capturing
    ws.endpoints.set_capture("churn", 100, format="parquet")
    with TestClient(create_app(ws), base_url="http://localhost") as client:
        ids = {invoke(client, rows[i : i + 1]).json()["inference_id"] for i in range(5)}
    assert all(name.endswith(".parquet") for name in capture_files(ws))
    assert set(ws.data.capture("churn")["inference_id"]) == ids


def test_sampling_takes_none_at_0_percent_and_about_half_at_50(trained_copy):
    ws, _ = trained_copy
    response = orjson.dumps({"model": "m:1", "predictions": [{"value": 1.0}]})

    def offered(writer: CaptureWriter) -> int:
        return sum(
            writer.offer(
                endpoint="churn",
                variant="primary",
                model="m:1",
                inference_id=f"{i:032x}",
                body=b'[{"x": 1}]',
                content_type="application/json",
                response=response,
                latency_ms=1.0,
            )
            for i in range(400)
        )

    ws.endpoints.set_capture("churn", 0)
    writer = CaptureWriter(ws, seed=7)
    writer.start()
    assert offered(writer) == 0
    ws.endpoints.set_capture("churn", 50)
    writer.refresh_settings()
    taken = offered(writer)
    writer.stop()
    assert 150 <= taken <= 250  # seeded: the same count every run
    assert len(ws.data.capture("churn")) == taken


@pytest.mark.parametrize("limit", [{"max_queue": 5}, {"max_queue_bytes": 5 * 55}])
def test_a_full_queue_drops_and_counts_without_blocking(trained_copy, limit):
    ws, _ = trained_copy
    ws.endpoints.set_capture("churn", 100)
    writer = CaptureWriter(ws, **limit)
    writer.refresh_settings()  # not started: nothing empties the queue
    response = orjson.dumps({"model": "m:1", "predictions": [{"value": 1.0}]})
    taken = [
        writer.offer(
            endpoint="churn",
            variant="primary",
            model="m:1",
            inference_id=str(i),
            body=b'[{"x": 1}]',
            content_type="application/json",
            response=response,
            latency_ms=1.0,
        )
        for i in range(8)
    ]
    assert taken == [True] * 5 + [False] * 3
    dropped = writer.registry.get_sample_value("kiln_capture_dropped_total", {"endpoint": "churn"})
    assert dropped == 3


def test_an_unwritable_capture_directory_keeps_serving_and_counts(capturing, rows, caplog):
    ws, _ = capturing
    root = ws.artifacts.named_key("capture")
    with open(root, "w") as blocker:  # a file where the capture folder should be
        blocker.write("not a folder")
    caplog.set_level(logging.ERROR, logger="kiln.serving.capture")
    with TestClient(create_app(ws), base_url="http://localhost") as client:
        statuses = []
        for _ in range(3):  # three flushes, each failing
            statuses += [invoke(client, rows[:1]).status_code for _ in range(5)]
            client.app.state.capture.stop()
            client.app.state.capture.start()
        registry = client.app.state.metrics_registry
        ping = client.get("/ping").json()
    assert (
        ping["status"] == "degraded" and "Could not write the capture" in ping["capture"]["error"]
    )
    assert statuses == [200] * 15
    assert registry.get_sample_value("kiln_capture_failures_total", {"endpoint": "churn"}) == 15
    assert registry.get_sample_value("kiln_capture_records_total", {"endpoint": "churn"}) is None
    failures = [r for r in caplog.records if "Could not write the capture" in r.getMessage()]
    assert len(failures) == 1  # logged once per distinct error, not per request or flush


def test_capture_files_are_never_garbage(capturing, rows):
    ws, _ = capturing
    with TestClient(create_app(ws), base_url="http://localhost") as client:
        invoke(client, rows[:2])
    files = capture_files(ws)
    assert files
    ws.collect_garbage(delete=True, min_age_seconds=0)
    assert capture_files(ws) == files
    capture_root = ws.artifacts.named_key("capture")
    assert not any(stored.key.startswith(capture_root) for stored in ws.artifacts.stored())


def test_pii_columns_of_the_recipe_are_tokenised_in_the_capture(trained, tmp_path):
    from helpers import workspace_with_settings
    from kiln.recipe import pii_token
    from kiln.settings import set_pii_key

    source, result = trained
    ws = workspace_with_settings(source, tmp_path / "pii", pii_key="capture-test-key")
    try:
        model = ws.train(
            "churn",
            target="churn",
            algorithm="lightgbm",
            hyperparameters={"n_estimators": 20},
            recipe=[{"step": "hash_pii", "columns": ["payment_method"]}, {"step": "one_hot"}],
        ).model
        ws.endpoints.deploy(model.ref, endpoint="private", allow_unapproved=True)
        ws.endpoints.set_capture("private", 100)
        test = ws.data.load(result.job.result["splits"]["test"]).head(3)
        rows = test.drop(columns=["churn"]).astype(object).to_dict("records")
        with TestClient(create_app(ws), base_url="http://localhost") as client:
            assert invoke(client, rows, name="private").status_code == 200
        captured = ws.data.capture("private")
        expected = [pii_token(row["payment_method"]) for row in rows]
        assert list(captured["payment_method"]) == expected
        assert list(captured["contract"]) == [row["contract"] for row in rows]  # not PII
        raw = b"".join(ws.artifacts.read_named(n) for n in capture_files(ws, "private"))
        assert not any(row["payment_method"].encode() in raw for row in rows)
    finally:
        ws.close()
        set_pii_key(None)


def test_a_killed_server_keeps_what_it_flushed(capturing, rows, tmp_path):
    """SIGKILL: what was flushed (every second, with no stop) stays readable; nothing else
    is lost than what was answered since the last flush."""
    import os
    import signal

    import httpx

    from helpers import free_port, start_kiln

    ws, _ = capturing
    port = free_port()
    server = start_kiln(
        "serve", "--port", str(port), "--log-level", "warning", home=ws.home, log=tmp_path / "log"
    )
    try:
        url = f"http://127.0.0.1:{port}/endpoints/churn/invocations"

        def answered(count: int) -> set[str]:
            return {httpx.post(url, json=rows[:1]).json()["inference_id"] for _ in range(count)}

        wait_for(lambda: _pings(port), timeout=60, what="kiln serve")
        before = answered(20)
        wait_for(
            lambda: before <= set(ws.data.capture("churn")["inference_id"]),
            timeout=60,
            what="the flush of the first invocations, with the server running",
        )
        after = answered(20)
    finally:
        os.kill(server.pid, signal.SIGKILL)
        server.wait(timeout=30)
    captured = set(ws.data.capture("churn")["inference_id"])
    assert before <= captured <= before | after


def _pings(port: int) -> bool:
    import httpx

    try:
        return httpx.get(f"http://127.0.0.1:{port}/ping", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def test_after_a_failed_append_the_next_records_go_to_a_new_file(trained_copy, monkeypatch):
    import errno

    ws, _ = trained_copy
    ws.endpoints.set_capture("churn", 100)
    writer = CaptureWriter(ws)
    response = orjson.dumps({"model": "m:1", "predictions": [{"value": 1.0}]})

    def flush(ids):  # offered to a running writer, written by its stop
        writer.start()
        for i in ids:
            writer.offer(
                endpoint="churn",
                variant="primary",
                model="m:1",
                inference_id=i,
                body=b'[{"x": 1}]',
                content_type="application/json",
                response=response,
                latency_ms=1.0,
            )
        writer.stop()

    flush(["a", "b"])
    append = ws.artifacts.append_named

    def disk_full_halfway(name, data):  # what a full disk does: part of the bytes, then ENOSPC
        append(name, data[: len(data) // 2])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(ws.artifacts, "append_named", disk_full_halfway)
    flush(["c", "d"])
    monkeypatch.setattr(ws.artifacts, "append_named", append)
    flush(["e", "f"])
    captured = set(ws.data.capture("churn")["inference_id"])
    assert {"a", "b", "e", "f"} <= captured <= {"a", "b", "c", "e", "f"}  # c: its line made it
    assert len(capture_files(ws)) == 2
    counted = writer.registry.get_sample_value
    assert counted("kiln_capture_failures_total", {"endpoint": "churn"}) == 2
