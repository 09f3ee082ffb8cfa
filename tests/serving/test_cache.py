"""The endpoint loader: failed loads reported and retried off the request path."""

import os
import threading
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from helpers import workspace_with_settings
from kiln.serving import create_app
from kiln.serving._cache import FRESH_LOOKS_PER_SECOND, RETRY_FIRST_SECONDS


@pytest.fixture(scope="module")
def rows(trained):
    ws, result = trained
    test = ws.data.load(result.job.result["splits"]["test"]).head(2).drop(columns=["churn"])
    return test.astype(object).where(test.notna(), None).to_dict("records")


def tamper(ws, ref: str) -> None:
    """Change a model's file under its digest, as a disk fault or an attacker would."""
    digest = ws.models.get(ref).digest
    path = Path(ws.settings.artifacts_url) / "sha256" / digest[:2] / digest[2:]
    os.chmod(path, 0o644)
    path.write_bytes(path.read_bytes()[:-10] + b"0123456789")


def wait_for(condition, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@pytest.fixture
def broken(trained, tmp_path):
    """A copy of ``trained`` whose deployed model file fails its digest check."""
    source, result = trained
    ws = workspace_with_settings(source, tmp_path / "ws")
    tamper(ws, result.model.ref)
    yield ws, result
    ws.close()


def test_a_model_that_fails_to_load_is_reported_not_hidden(broken, rows):
    ws, result = broken
    with TestClient(create_app(ws), base_url="http://localhost") as client:
        ping = client.get("/ping")
        assert ping.status_code == 200
        assert ping.json()["status"] == "degraded"
        [failed] = ping.json()["failed"]
        assert failed["name"] == "churn" and failed["model"] == result.model.ref
        assert "digest" in failed["reason"] or "changed" in failed["reason"]
        response = client.post("/endpoints/churn/invocations", json=rows)
        assert response.status_code == 503
        assert response.json()["error"] == "serving.endpoint-failed"
        assert result.model.ref in response.json()["detail"]
        assert 1 <= int(response.headers["retry-after"]) <= 2  # the first retry is in 1 s
        listed = {e["name"]: e for e in client.get("/endpoints").json()}
        assert listed["churn"]["status"] == "failed"
    health = ws.endpoints.health("churn")
    assert health["status"] == "failed" and result.model.ref in health["reason"]


def test_unknown_names_are_answered_from_memory_and_failed_loads_back_off(
    broken, rows, monkeypatch
):
    ws, _ = broken
    loads = []
    real_load = ws.models.load
    monkeypatch.setattr(ws.models, "load", lambda ref: loads.append(ref) or real_load(ref))
    with TestClient(create_app(ws), base_url="http://localhost") as client:
        assert len(loads) == 1
        started = time.monotonic()
        for _ in range(200):
            assert client.post("/endpoints/nope/invocations", json=rows).status_code == 404
        elapsed = time.monotonic() - started
    # Backoff: 1 s, 2 s, 4 s ... between attempts, however many requests came in.
    assert len(loads) <= 2 + elapsed / RETRY_FIRST_SECONDS, (len(loads), elapsed)


def test_fresh_looks_for_unknown_names_are_capped(trained):
    ws, _ = trained
    with TestClient(create_app(ws), base_url="http://localhost") as client:
        cache = client.app.state.cache
        assert cache.deserves_fresh_look("a")
        assert not cache.deserves_fresh_look("a")  # asked again: the poll covers it
        looks = sum(cache.deserves_fresh_look(f"name{i}") for i in range(100))
        assert looks == FRESH_LOOKS_PER_SECOND - 1


def copy_of_two_models(two_models, home: Path):
    """A private copy of the ``two_models`` workspace ('churn' serving churn:1; churn:2 trained
    too): a second model to deploy without training one."""
    import kiln

    source = kiln.Workspace(two_models[0])
    try:
        return workspace_with_settings(source, home)
    finally:
        source.close()


def test_redeploying_a_good_model_recovers_and_a_deployment_is_served_at_once(
    two_models, rows, tmp_path
):
    _, first, second = two_models
    ws = copy_of_two_models(two_models, tmp_path / "ws")
    tamper(ws, first)  # the deployed model's file fails its digest check
    with TestClient(create_app(ws), base_url="http://localhost") as client:
        assert client.post("/endpoints/churn/invocations", json=rows).status_code == 503
        ws.endpoints.deploy(second, endpoint="churn", allow_unapproved=True)
        wait_for(lambda: client.get("/ping").json()["status"] == "ok")
        ok = client.post("/endpoints/churn/invocations", json=rows)
        assert ok.status_code == 200 and ok.json()["model"] == second
        # A new endpoint answers its first request, with no wait for the next poll.
        ws.endpoints.deploy(second, endpoint="fresh", allow_unapproved=True)
        assert client.post("/endpoints/fresh/invocations", json=rows).status_code == 200
    ws.close()


def test_a_new_revision_that_fails_to_load_leaves_the_old_model_serving(two_models, tmp_path, rows):
    _, first, second = two_models
    ws = copy_of_two_models(two_models, tmp_path / "ws")
    with TestClient(create_app(ws), base_url="http://localhost") as client:
        ws.endpoints.deploy(second, endpoint="churn", allow_unapproved=True)
        tamper(ws, second)
        wait_for(lambda: client.get("/ping").json()["status"] == "degraded")
        response = client.post("/endpoints/churn/invocations", json=rows)
        assert response.status_code == 200 and response.json()["model"] == first
    ws.close()


def test_the_loader_starts_again_after_a_lifespan_ends(trained, rows):
    ws, _ = trained
    app = create_app(ws)
    with TestClient(app, base_url="http://localhost") as client:
        assert client.get("/ping").json()["endpoints"] == ["churn"]
    with TestClient(app, base_url="http://localhost") as client:
        started = time.monotonic()
        assert client.post("/endpoints/nope/invocations", json=rows).status_code == 404
        assert time.monotonic() - started < 5  # a stopped loader would leave it waiting
    # Used without a lifespan at all, the first request loads the endpoints.
    client = TestClient(create_app(ws), base_url="http://localhost")
    assert client.post("/endpoints/churn/invocations", json=rows).status_code == 200
    assert client.post("/endpoints/nope/invocations", json=rows).status_code == 404


def test_a_new_revision_of_the_same_model_is_not_loaded_again(trained, tmp_path, rows, monkeypatch):
    source, result = trained
    ws = workspace_with_settings(source, tmp_path / "ws")
    with TestClient(create_app(ws), base_url="http://localhost") as client:
        loads = []
        real_load = ws.models.load

        def load(ref):
            if threading.current_thread() is not threading.main_thread():  # the server's
                loads.append(ref)
            return real_load(ref)

        monkeypatch.setattr(ws.models, "load", load)
        revision = ws.endpoints.deploy(
            result.model.ref, endpoint="churn", allow_unapproved=True
        ).revision
        wait_for(lambda: client.get("/endpoints/churn").json()["revision"] == revision)
        assert loads == []
        assert client.post("/endpoints/churn/invocations", json=rows).status_code == 200
    ws.close()


def test_the_backoff_never_overflows_however_long_a_model_fails(trained):
    ws, _ = trained
    cache = create_app(ws).state.cache
    failure = cache._failure("churn", 1, RuntimeError("still broken"), attempts=5000)
    assert failure.retry_at - time.monotonic() <= 60.5


def test_an_endpoint_whose_model_is_loading_answers_503_loading(trained, tmp_path, rows):
    source, result = trained
    ws = workspace_with_settings(source, tmp_path / "ws")
    with TestClient(create_app(ws), base_url="http://localhost") as client:
        cache = client.app.state.cache
        real_load = cache._load

        def slow_load(name, current=None):
            if name == "slow":
                time.sleep(4)
            return real_load(name, current)

        cache._load = slow_load
        ws.endpoints.deploy(result.model.ref, endpoint="slow", allow_unapproved=True)
        response = client.post("/endpoints/slow/invocations", json=rows)
        assert response.status_code == 503, response.text
        assert response.json()["error"] == "serving.endpoint-loading"
        assert response.headers["retry-after"] == "2"
        wait_for(lambda: "slow" in client.get("/ping").json()["endpoints"])
        assert client.post("/endpoints/slow/invocations", json=rows).status_code == 200
    ws.close()


def test_ping_says_degraded_when_the_workspace_cannot_be_read(trained, tmp_path, monkeypatch):
    source, _ = trained
    ws = workspace_with_settings(source, tmp_path / "ws")
    with TestClient(create_app(ws), base_url="http://localhost") as client:

        def down():
            raise OSError("the store is down")

        monkeypatch.setattr(ws.endpoints, "revisions", down)
        wait_for(lambda: client.get("/ping").json()["status"] == "degraded")
        ping = client.get("/ping").json()
        assert "the store is down" in ping["workspace"]["error"]
        assert ping["endpoints"] == ["churn"]  # what is loaded keeps serving
        monkeypatch.undo()
        wait_for(lambda: client.get("/ping").json()["status"] == "ok")
    ws.close()
