"""kiln serve --workers N: several processes on one port, metrics added up across them, every
worker following deployments, and a SIGTERM that drains the requests in flight."""

from __future__ import annotations

import json
import os
import signal
import socket
import time

import httpx
import pytest

from conftest import copy_workspace
from helpers import free_port, read_response, start_kiln, wait_for
from kiln.errors import ConfigError
from kiln.serving import server_config


@pytest.fixture(scope="module")
def rows(trained):
    ws, result = trained
    test = ws.data.load(result.job.result["splits"]["test"]).head(2).drop(columns=["churn"])
    return test.astype(object).where(test.notna(), None).to_dict("records")


class Workers:
    """A real 'kiln serve --workers N' in its own process group, on a free port."""

    def __init__(self, ws, log, *options: str, workers: int = 2):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        self.process = start_kiln(
            "serve", "--port", str(self.port), "--workers", str(workers), "--log-level", "warning",
            *options, home=ws.home, log=log, new_session=True,
        )  # fmt: skip
        wait_for(self._up, timeout=120, what=f"the server to start ({log})")

    def _up(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"kiln serve exited:\n{self.log.read_text()}")
        try:
            return httpx.get(f"{self.url}/ping", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    def stop(self) -> int:
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
        try:
            return self.process.wait(timeout=60)
        except Exception:
            os.killpg(self.process.pid, signal.SIGKILL)
            raise

    def answered_by(self, path: str = "/ping", **request) -> tuple[int, httpx.Response]:
        """One fresh connection (the kernel hands it to either worker): the pid of the worker
        that took it, and its answer to ``path``."""
        with httpx.Client(base_url=self.url, timeout=30) as client:
            pid = client.get("/ping").json()["pid"]
            method = "POST" if "json" in request else "GET"
            return pid, client.request(method, path, **request)


@pytest.fixture(scope="module")
def secured_workers(two_models, tmp_path_factory):
    """Two workers requiring a key, serving a copy of ``two_models`` ('churn' serving churn:1;
    churn:2 there to deploy)."""
    import kiln

    folder = tmp_path_factory.mktemp("workers")
    source = kiln.Workspace(two_models[0])
    ws = copy_workspace(source, folder / "ws")
    source.close()
    key = ws.keys.create().key
    server = Workers(ws, folder / "serve.log", "--require-auth")
    yield server, ws, key
    server.stop()
    ws.close()


def test_workers_must_be_at_least_one(trained, capsys):
    from kiln.cli import main

    ws, _ = trained
    for workers in (0, -2):
        with pytest.raises(ConfigError) as caught:
            server_config(ws, workers=workers)
        assert caught.value.code == "serve.bad-workers" and str(workers) in caught.value.message
    assert main(["--home", str(ws.home), "serve", "--workers", "0"]) == 2
    err = capsys.readouterr().err
    assert "serve.bad-workers" in err and "Serving on" not in err


def test_metrics_add_up_the_workers_and_require_auth_reaches_each(secured_workers):
    server, _, key = secured_workers
    pids = set()
    refused = 0
    while len(pids) < 2 or refused < 10:  # until both workers refused some requests
        pid, response = server.answered_by("/endpoints")
        assert response.status_code == 401 and response.json()["error"] == "auth.missing-key"
        pids.add(pid)
        refused += 1
        assert refused < 200, "the kernel never handed a connection to the second worker"
    for _ in range(4):  # whichever worker answers /metrics counts both workers' refusals
        _, metrics = server.answered_by("/metrics", headers={"x-api-key": key})
        assert metrics.status_code == 200
        assert f'kiln_requests_refused_total{{code="auth.missing-key"}} {refused:.1f}' in (
            metrics.text
        )


def test_a_deployment_reaches_every_worker(secured_workers, two_models, rows):
    server, ws, key = secured_workers
    _, old, new = two_models
    assert ws.endpoints.get("churn").model == old
    headers = {"x-api-key": key}
    ws.endpoints.deploy(new, endpoint="churn", allow_unapproved=True)
    latest: dict[int, str] = {}

    def every_worker_serves_the_new_model() -> bool:
        pid, response = server.answered_by(
            "/endpoints/churn/invocations", json=rows, headers=headers
        )
        assert response.status_code == 200, response.text  # never a failed request meanwhile
        latest[pid] = response.json()["model"]
        return len(latest) == 2 and set(latest.values()) == {new}

    wait_for(every_worker_serves_the_new_model, timeout=120, what="both workers to switch")


@pytest.mark.parametrize("workers", [2, 1])
def test_sigterm_drains_the_requests_in_flight(trained, tmp_path, rows, workers):
    source, _ = trained
    ws = copy_workspace(source, tmp_path / "ws")
    log = tmp_path / "serve.log"
    server = Workers(ws, log, "--log-level", "info", workers=workers)  # the later level wins
    body = json.dumps(rows).encode()
    head = (
        b"POST /endpoints/churn/invocations HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body)
    )
    connections = []
    try:
        for _ in range(6):
            sock = socket.create_connection(("127.0.0.1", server.port), timeout=60)
            stream = sock.makefile("rb")
            # A whole request first: the connection is then surely in a worker's hands.
            sock.sendall(head + body)
            assert read_response(stream).startswith(b"HTTP/1.1 200")
            sock.sendall(head + body[:10])  # the next request, in flight: half its body sent
            connections.append((sock, stream))
        time.sleep(1)  # for the workers to read those requests' headers (nothing to wait on)
        os.kill(server.process.pid, signal.SIGTERM)
        wait_for(
            lambda: log.read_text().count("Shutting down") >= workers,
            timeout=60,
            what="every worker to begin shutting down",
        )
        for sock, _ in connections:
            sock.sendall(body[10:])
        answers = [read_response(stream) for _, stream in connections]
        assert all(a.startswith(b"HTTP/1.1 200") for a in answers), [a[:100] for a in answers]
        # One process re-raises the SIGTERM once drained (uvicorn does); a parent of workers
        # returns once its workers have.
        assert server.stop() == (0 if workers > 1 else -signal.SIGTERM)
    finally:
        for sock, _ in connections:
            sock.close()
        if server.process.poll() is None:
            os.killpg(server.process.pid, signal.SIGKILL)
        ws.close()
