"""API keys and rate limits at the server: 401 without a key, 403 for a wrong one, 429 past a
limit, and the paths that stay open."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from helpers import ServerThread, wait_for, workspace_with_settings
from kiln.serving import create_app
from kiln.serving._auth import bucket_for

INVOKE = "/endpoints/churn/invocations"


@pytest.fixture(scope="module")
def rows(trained):
    ws, result = trained
    test = ws.data.load(result.job.result["splits"]["test"]).head(2).drop(columns=["churn"])
    return test.astype(object).where(test.notna(), None).to_dict("records")


@pytest.fixture
def secured(trained, tmp_path):
    """A private copy of ``trained`` with require_auth on."""
    source, _ = trained
    ws = workspace_with_settings(source, tmp_path / "ws", require_auth=True)
    yield ws
    ws.close()


def _client(ws) -> TestClient:
    return TestClient(create_app(ws), base_url="http://localhost")


def _bearer(key: str) -> dict:
    return {"authorization": f"Bearer {key}"}


def test_without_require_auth_no_key_is_needed(trained, rows):
    ws, _ = trained
    with _client(ws) as client:
        assert client.post(INVOKE, json=rows).status_code == 200


def test_a_missing_key_is_401_with_www_authenticate(secured, rows):
    with _client(secured) as client:
        for headers in ({}, {"authorization": "Basic dXNlcjpwYXNz"}, {"authorization": "Bearer "}):
            response = client.post(INVOKE, json=rows, headers=headers)
            assert response.status_code == 401, headers
            assert response.json()["error"] == "auth.missing-key"
            assert "Authorization: Bearer" in response.json()["detail"]
            assert response.headers["www-authenticate"].startswith("Bearer")


def test_a_valid_key_is_accepted_as_bearer_or_x_api_key(secured, rows):
    key = secured.keys.create().key
    with _client(secured) as client:
        assert client.post(INVOKE, json=rows, headers=_bearer(key)).status_code == 200
        assert client.post(INVOKE, json=rows, headers={"x-api-key": key}).status_code == 200
        assert client.get("/endpoints/churn", headers={"x-api-key": key}).status_code == 200
        assert client.get("/endpoints", headers={"x-api-key": key}).status_code == 200


@pytest.mark.parametrize("mangle", ["wrong-secret", "unknown-id", "not-a-key"])
def test_a_wrong_key_is_403_and_never_echoed(secured, rows, mangle):
    key = secured.keys.create().key
    sent = {
        "wrong-secret": key[:-4] + "AAAA",
        "unknown-id": "kiln_key-000000000000_" + key.rsplit("_", 1)[-1],
        "not-a-key": "hunter2",
    }[mangle]
    with _client(secured) as client:
        for _ in range(2):  # the second time from the process's memory of refused secrets
            response = client.post(INVOKE, json=rows, headers=_bearer(sent))
            assert response.status_code == 403
            assert response.json()["error"] == "auth.bad-key"
            assert sent not in response.text


def test_a_key_for_another_endpoint_is_403(secured, rows):
    other = secured.keys.create(endpoint="other").key
    own = secured.keys.create(endpoint="churn").key
    with _client(secured) as client:
        response = client.post(INVOKE, json=rows, headers=_bearer(other))
        assert response.status_code == 403
        body = response.json()
        assert body["error"] == "auth.wrong-endpoint" and "'other'" in body["detail"]
        assert client.post(INVOKE, json=rows, headers=_bearer(own)).status_code == 200
        # Paths of every endpoint need a key for every endpoint.
        for path in ("/endpoints", "/metrics"):
            response = client.get(path, headers=_bearer(own))
            assert response.status_code == 403 and path in response.json()["detail"]


def test_a_revoked_key_is_refused_within_seconds(secured, rows):
    created = secured.keys.create()
    with _client(secured) as client:
        assert client.post(INVOKE, json=rows, headers=_bearer(created.key)).status_code == 200
        secured.keys.revoke(created.id)
        refused = wait_for(
            lambda: (
                (r := client.post(INVOKE, json=rows, headers=_bearer(created.key))).status_code
                == 403
                and r
            ),
            timeout=10,
            what="the revocation to reach the server",
        )
        assert refused.json()["error"] == "auth.revoked-key"
        # A key created while the server runs is accepted once the server has read it.
        fresh = secured.keys.create().key
        wait_for(
            lambda: client.post(INVOKE, json=rows, headers=_bearer(fresh)).status_code == 200,
            timeout=10,
            what="the new key to reach the server",
        )


def test_ping_and_the_openapi_pages_stay_open_metrics_does_not(secured):
    key = secured.keys.create().key
    with _client(secured) as client:
        for path in ("/ping", "/docs", "/redoc", "/openapi.json"):
            assert client.get(path).status_code == 200, path
        assert client.get("/metrics").status_code == 401
        assert client.get("/endpoints").status_code == 401
        assert client.get("/no-such-path").status_code == 401  # nothing learned without a key
        metrics = client.get("/metrics", headers=_bearer(key))
        assert metrics.status_code == 200
        assert 'kiln_requests_refused_total{code="auth.missing-key"} 3.0' in metrics.text


def test_a_key_past_its_rate_limit_gets_429_with_retry_after(secured, rows):
    limited = secured.keys.create(rate_limit=0.5).key  # a burst of 1, then one per 2 s
    other = secured.keys.create().key
    with _client(secured) as client:
        assert client.post(INVOKE, json=rows, headers=_bearer(limited)).status_code == 200
        refused = client.post(INVOKE, json=rows, headers=_bearer(limited))
        assert refused.status_code == 429
        assert refused.json()["error"] == "auth.rate-limited"
        assert "0.5 requests per second" in refused.json()["detail"]
        assert refused.headers["retry-after"] in ("1", "2")
        # Limits are per key: another key is not slowed down.
        assert client.post(INVOKE, json=rows, headers=_bearer(other)).status_code == 200


def test_a_token_bucket_allows_bursts_of_one_seconds_worth_then_the_rate():
    bucket = bucket_for(5, now=100.0)
    assert [bucket.take(100.0) for _ in range(5)] == [0.0] * 5
    assert bucket.take(100.0) == pytest.approx(0.2)  # the next token, in 1/5 s
    assert bucket.take(100.2) == 0.0
    assert bucket.take(110.0) == 0.0 and bucket.tokens == 4  # refilled to the burst, no more
    slow = bucket_for(0.5, now=0.0)
    assert slow.take(0.0) == 0.0 and slow.take(0.0) == pytest.approx(2.0)


def test_a_client_address_past_client_rate_limit_gets_429(trained, tmp_path, rows):
    source, _ = trained
    ws = workspace_with_settings(source, tmp_path / "ws", client_rate_limit=1)
    with _client(ws) as client:
        assert client.post(INVOKE, json=rows).status_code == 200
        refused = client.post(INVOKE, json=rows)
        assert refused.status_code == 429 and refused.json()["error"] == "server.rate-limited"
        assert refused.headers["retry-after"] == "1"
        assert client.get("/ping").status_code == 200  # health checks are never limited
    ws.close()


def test_client_rate_limit_must_be_a_number_of_at_least_zero(trained, tmp_path):
    from kiln.errors import ConfigError

    source, _ = trained
    with pytest.raises(ConfigError) as caught:
        workspace_with_settings(source, tmp_path / "ws", client_rate_limit=-1)
    assert caught.value.code == "config.bad-value" and "client_rate_limit" in caught.value.message


def test_the_http_client_sends_its_key(secured, rows):
    from kiln.errors import RequestError
    from kiln.serving import EndpointClient

    key = secured.keys.create().key
    with ServerThread(secured) as server:
        with EndpointClient(server.url, api_key=key) as client:
            assert client.invoke("churn", rows)["predictions"]
        with EndpointClient(server.url) as client, pytest.raises(RequestError) as caught:
            client.invoke("churn", rows)
        assert caught.value.code == "auth.missing-key" and caught.value.http_status == 401


def test_a_browsers_cors_preflight_needs_no_key_and_may_announce_one(trained, tmp_path):
    source, _ = trained
    origin = "https://dashboard.example.com"
    ws = workspace_with_settings(source, tmp_path / "ws", require_auth=True, cors_origins=[origin])
    with _client(ws) as client:
        preflight = client.options(
            INVOKE,
            headers={
                "origin": origin,
                "access-control-request-method": "POST",
                "access-control-request-headers": "authorization, content-type",
            },
        )
        assert preflight.status_code == 200
        assert "authorization" in preflight.headers["access-control-allow-headers"].lower()
        refused = client.post(INVOKE, json=[], headers={"origin": origin})
        assert refused.status_code == 401  # the request itself still needs its key
        assert refused.headers["access-control-allow-origin"] == origin  # readable by the page
    ws.close()


def test_kiln_predict_sends_api_key_or_kiln_api_key(secured, rows, tmp_path, capsys, monkeypatch):
    import json

    from kiln.cli import main

    key = secured.keys.create().key
    data = tmp_path / "rows.json"
    data.write_text(json.dumps(rows))
    with ServerThread(secured) as server:
        predict = ["predict", "--endpoint", "churn", "--data", str(data), "--url", server.url]
        assert main([*predict, "--json"]) == 2
        assert "auth.missing-key" in capsys.readouterr().err
        assert main([*predict, "--api-key", key, "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["predictions"]
        monkeypatch.setenv("KILN_API_KEY", key)
        assert main([*predict, "--json"]) == 0
