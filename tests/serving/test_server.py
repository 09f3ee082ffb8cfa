"""The server under uvicorn: slow bodies time out, connections are capped, the loop stays free."""

import json
import logging
import socket
import threading
import time

import httpx
import pytest

from helpers import ServerThread, workspace_with_settings
from kiln.serving import exposure_warning


@pytest.fixture(scope="module")
def rows(trained):
    ws, result = trained
    test = ws.data.load(result.job.result["splits"]["test"]).head(2).drop(columns=["churn"])
    return test.astype(object).where(test.notna(), None).to_dict("records")


def _stalled_upload(port: int) -> socket.socket:
    """A connection that promises 1,000 bytes of body and sends 10."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.sendall(
        b"POST /endpoints/churn/invocations HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b'Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n[{"tenure": '
    )
    return sock


def _read_all(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    answer = b""
    while chunk := sock.recv(65536):
        answer += chunk
    return answer


def test_a_half_sent_body_times_out_with_408_and_the_connection_closes(trained, tmp_path, rows):
    source, _ = trained
    ws = workspace_with_settings(source, tmp_path / "ws", request_timeout_seconds=1.0)
    with ServerThread(ws) as server:
        sock = _stalled_upload(server.port)
        started = time.monotonic()
        answer = _read_all(sock)  # returns only because the server closes the connection
        waited = time.monotonic() - started
        sock.close()
        assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
        assert b"connection: close" in answer.lower()
        body = json.loads(answer.split(b"\r\n\r\n", 1)[1])
        assert body["error"] == "request.timeout" and "request_timeout_seconds" in body["detail"]
        assert 0.5 < waited < 10
        assert httpx.post(f"{server.url}/endpoints/churn/invocations", json=rows).status_code == 200
    ws.close()


def test_requests_past_max_concurrent_requests_get_503_not_a_queue(trained, tmp_path, rows):
    source, _ = trained
    ws = workspace_with_settings(
        source, tmp_path / "ws", max_concurrent_requests=3, request_timeout_seconds=2.0
    )
    with ServerThread(ws) as server:
        stalled = [_stalled_upload(server.port) for _ in range(3)]
        time.sleep(0.3)
        with httpx.Client() as client:
            refused = client.post(f"{server.url}/endpoints/churn/invocations", json=rows)
        assert refused.status_code == 503
        assert refused.json()["error"] == "server.busy" and refused.headers["retry-after"]
        assert httpx.get(f"{server.url}/ping").status_code == 200  # health stays outside the cap
        for sock in stalled:  # the stalled uploads time out and free their places
            assert _read_all(sock).startswith(b"HTTP/1.1 408")
            sock.close()
        deadline = time.monotonic() + 10
        while True:
            response = httpx.post(f"{server.url}/endpoints/churn/invocations", json=rows)
            if response.status_code == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert response.status_code == 200
    ws.close()


def test_scoring_runs_off_the_event_loop(trained, tmp_path, rows):
    """/ping answers while a slow scoring call is in progress."""
    source, _ = trained
    ws = workspace_with_settings(source, tmp_path / "ws")
    with ServerThread(ws) as server:
        loaded = server.app.state.cache.loaded["churn"]
        real = loaded.model.score_encoded
        scoring = threading.Event()

        def slow(*args, **kwargs):
            scoring.set()
            time.sleep(3)
            return real(*args, **kwargs)

        loaded.model.score_encoded = slow
        result = {}
        worker = threading.Thread(
            target=lambda: result.update(
                r=httpx.post(f"{server.url}/endpoints/churn/invocations", json=rows, timeout=30)
            )
        )
        worker.start()
        assert scoring.wait(10)
        started = time.monotonic()
        assert httpx.get(f"{server.url}/ping", timeout=30).status_code == 200
        assert time.monotonic() - started < 2.5  # scoring holds 3 s; a blocked ping waits it out
        worker.join()
        assert result["r"].status_code == 200
    ws.close()


def test_binding_beyond_loopback_warns(trained):
    ws, _ = trained
    assert exposure_warning(ws, "127.0.0.1") is None
    assert "allowed_hosts" in exposure_warning(ws, "0.0.0.0")
    assert "no authentication" in exposure_warning(ws, "192.168.1.10")
    assert exposure_warning(ws, "127.0.0.2") is None  # all of 127/8 is loopback


def test_a_client_leaving_mid_body_is_not_logged_as_an_internal_error(
    trained, tmp_path, rows, caplog
):
    source, _ = trained
    ws = workspace_with_settings(source, tmp_path / "ws")
    with ServerThread(ws) as server, caplog.at_level(logging.DEBUG, logger="kiln.serving"):
        sock = _stalled_upload(server.port)
        time.sleep(0.3)
        sock.close()
        time.sleep(0.5)
        assert httpx.post(f"{server.url}/endpoints/churn/invocations", json=rows).status_code == 200
    assert "Internal error" not in caplog.text
    assert "Client disconnected" in caplog.text
    ws.close()


def test_a_request_without_a_host_header_is_answered(trained, tmp_path):
    """HTTP/1.0 health checkers send no Host; a browser always does, so this opens no rebinding."""
    source, _ = trained
    ws = workspace_with_settings(source, tmp_path / "ws")
    with ServerThread(ws) as server:
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            sock.sendall(b"GET /ping HTTP/1.0\r\n\r\n")
            answer = _read_all(sock)
        assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
    ws.close()


def test_each_request_gets_one_access_log_line_naming_endpoint_variant_status_and_latency(
    trained, rows, caplog
):
    import re

    from fastapi.testclient import TestClient

    from kiln.serving import create_app

    ws, result = trained
    with (
        TestClient(create_app(ws), base_url="http://localhost") as client,
        caplog.at_level(logging.INFO, logger="kiln.serving.access"),
    ):
        assert client.post("/endpoints/churn/invocations", json=rows).status_code == 200
        assert client.post("/endpoints/churn/invocations", json=[{}]).status_code == 422
        assert client.get("/ping").status_code == 200
    lines = [r.getMessage() for r in caplog.records if r.name == "kiln.serving.access"]
    assert len(lines) == 3, lines
    pattern = r'"POST /endpoints/churn/invocations" endpoint=churn variant=primary {} [\d.]+ ms'
    assert re.search(pattern.format(200), lines[0]) and re.search(pattern.format(422), lines[1])
    assert re.search(r'"GET /ping" endpoint=- variant=- 200 [\d.]+ ms', lines[2])


@pytest.mark.parametrize("level", ["info", "warning"])
def test_kiln_serve_writes_the_access_log_at_info_only(trained, tmp_path, rows, level):
    from conftest import copy_workspace
    from helpers import free_port, start_kiln, wait_for

    home = tmp_path / "ws"
    copy_workspace(trained[0], home).close()
    port, log = free_port(), tmp_path / "serve.log"
    process = start_kiln("serve", "--port", str(port), "--log-level", level, home=home, log=log)
    try:
        url = f"http://127.0.0.1:{port}"

        def answered():
            try:
                return httpx.post(f"{url}/endpoints/churn/invocations", json=rows, timeout=5)
            except httpx.TransportError:
                return None

        assert wait_for(answered, what="the server").status_code == 200
    finally:
        process.terminate()
        process.wait(timeout=30)
    written = log.read_text()
    logged = '"POST /endpoints/churn/invocations" endpoint=churn variant=primary 200' in written
    assert logged == (level == "info"), written
