"""The server's guard: Host checks, CORS, media types, and a 500 that keeps the connection."""

import json
import logging

import httpx
import pytest
from fastapi.testclient import TestClient

from helpers import ServerThread, raw_http, workspace_with_settings
from kiln.serving import create_app
from kiln.serving._guard import allowed_hosts_for, host_name


@pytest.fixture(scope="module")
def rows(trained):
    ws, result = trained
    test = ws.data.load(result.job.result["splits"]["test"]).head(2).drop(columns=["churn"])
    return test.astype(object).where(test.notna(), None).to_dict("records")


@pytest.fixture(scope="module")
def client(trained):
    ws, _ = trained
    with TestClient(create_app(ws), base_url="http://localhost") as client:
        yield client


def test_allowed_hosts_follow_the_bind_address():
    assert allowed_hosts_for("127.0.0.1") == {"localhost", "127.0.0.1", "::1"}
    assert "10.0.0.5" in allowed_hosts_for("10.0.0.5")
    assert allowed_hosts_for("0.0.0.0") is None  # cannot know its names: any, with a warning
    assert allowed_hosts_for("0.0.0.0", ["ml.example.com"]) == {
        "localhost",
        "127.0.0.1",
        "::1",
        "ml.example.com",
    }
    assert allowed_hosts_for("127.0.0.1", ["*"]) is None
    assert "ml.example.com" in allowed_hosts_for("127.0.0.1", ["ML.example.com:443"])


@pytest.mark.parametrize(
    ("header", "name"),
    [
        ("localhost:8080", "localhost"),
        ("[::1]:8080", "::1"),
        ("[::1]", "::1"),
        ("127.0.0.1", "127.0.0.1"),
        ("Example.COM", "example.com"),
        ("localhost.:8080", "localhost"),
        ("[0:0:0:0:0:0:0:1]:8080", "::1"),
    ],
)
def test_host_name(header, name):
    assert host_name(header) == name


def test_a_foreign_host_header_is_refused_dns_rebinding(trained, rows):
    ws, _ = trained
    with TestClient(create_app(ws), base_url="http://attacker.example") as client:
        response = client.post("/endpoints/churn/invocations", json=rows)
        assert response.status_code == 400
        assert response.json()["error"] == "request.bad-host"
        assert "attacker.example" in response.json()["detail"]
        assert client.get("/endpoints/churn").status_code == 400  # signatures stay private
    for base in ("http://127.0.0.1:8080", "http://[::1]:8080", "http://localhost"):
        with TestClient(create_app(ws), base_url=base) as client:
            assert client.get("/ping").status_code == 200


def test_allowed_hosts_setting_adds_names(trained, tmp_path):
    source, _ = trained
    ws = workspace_with_settings(source, tmp_path / "ws", allowed_hosts=["ml.example.com"])
    with TestClient(create_app(ws), base_url="http://ml.example.com") as client:
        assert client.get("/ping").status_code == 200
    ws.close()


def test_no_cors_headers_unless_configured(client, trained, tmp_path, rows):
    origin = {"origin": "https://evil.example"}
    response = client.post("/endpoints/churn/invocations", json=rows, headers=origin)
    assert response.status_code == 403  # see the next test
    assert "access-control-allow-origin" not in response.headers
    preflight = client.options(
        "/endpoints/churn/invocations",
        headers=origin | {"access-control-request-method": "POST"},
    )
    assert "access-control-allow-origin" not in preflight.headers
    source, _ = trained
    ws = workspace_with_settings(source, tmp_path / "ws", cors_origins=["https://app.example"])
    with TestClient(create_app(ws), base_url="http://localhost") as allowed:
        ok = allowed.post(
            "/endpoints/churn/invocations", json=rows, headers={"origin": "https://app.example"}
        )
        assert ok.headers["access-control-allow-origin"] == "https://app.example"
        other = allowed.post("/endpoints/churn/invocations", json=rows, headers=origin)
        assert other.status_code == 403
        assert "access-control-allow-origin" not in other.headers
    ws.close()


def test_media_types_ignore_case_and_parameters(client, rows):
    for media_type in ("Application/JSON", "APPLICATION/JSON; charset=UTF-8"):
        response = client.post(
            "/endpoints/churn/invocations",
            content=json.dumps(rows).encode(),
            headers={"content-type": media_type},
        )
        assert response.status_code == 200, (media_type, response.text)
    csv = "\n".join(
        [",".join(rows[0]), ",".join("" if v is None else str(v) for v in rows[0].values())]
    )
    response = client.post(
        "/endpoints/churn/invocations", content=csv.encode(), headers={"content-type": "Text/CSV"}
    )
    assert response.status_code == 200, response.text


def test_form_encoded_bodies_are_refused_unless_a_setting_allows_them(
    client, trained, tmp_path, rows
):
    body = json.dumps(rows).encode()
    form = {"content-type": "application/x-www-form-urlencoded"}
    refused = client.post("/endpoints/churn/invocations", content=body, headers=form)
    assert refused.status_code == 415
    assert "application/json" in refused.json()["detail"]
    plain = client.post(
        "/endpoints/churn/invocations", content=body, headers={"content-type": "text/plain"}
    )
    assert plain.status_code == 415
    source, _ = trained
    ws = workspace_with_settings(source, tmp_path / "ws", form_bodies_as_json=True)
    with TestClient(create_app(ws), base_url="http://localhost") as lenient:
        assert (
            lenient.post("/endpoints/churn/invocations", content=body, headers=form).status_code
            == 200
        )
    ws.close()


def _request(rows) -> bytes:
    body = json.dumps(rows).encode()
    return (
        b"POST /endpoints/churn/invocations HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/json\r\nContent-Length: "
        + str(len(body)).encode()
        + b"\r\n\r\n"
        + body
    )


def test_an_internal_error_is_a_generic_500_with_an_id_and_the_connection_survives(
    trained, tmp_path, rows, caplog
):
    source, _ = trained
    ws = workspace_with_settings(source, tmp_path / "ws")
    with ServerThread(ws) as server:
        loaded = server.app.state.cache.loaded["churn"]

        def broken(*_args, **_kwargs):
            raise RuntimeError("secret internal state 0xdeadbeef")

        loaded.model.score_encoded = broken
        with caplog.at_level(logging.ERROR, logger="kiln.serving"):
            first, second = raw_http(server.port, [_request(rows), _request(rows)])
        assert first.startswith(b"HTTP/1.1 500")
        body = json.loads(first.split(b"\r\n\r\n", 1)[1])
        assert body["error"] == "internal"
        assert "0xdeadbeef" not in json.dumps(body) and "RuntimeError" not in json.dumps(body)
        assert body["error_id"] in body["detail"]
        assert body["error_id"] in caplog.text and "0xdeadbeef" in caplog.text
        # The same connection answers the next request (here a 500 again: the model is broken).
        assert second.startswith(b"HTTP/1.1 500")
        del loaded.model.score_encoded
        assert httpx.post(f"{server.url}/endpoints/churn/invocations", json=rows).status_code == 200
    ws.close()


def test_a_web_page_of_another_origin_cannot_invoke_an_endpoint(client, trained, tmp_path, rows):
    """A form post or a no-cors fetch from a page carries its Origin; curl and the SDK send none."""
    evil = client.post(
        "/endpoints/churn/invocations", json=rows, headers={"origin": "https://evil.example"}
    )
    assert evil.status_code == 403 and evil.json()["error"] == "request.bad-origin"
    blob = client.post(  # no Content-Type, as a no-cors fetch of a Blob sends
        "/endpoints/churn/invocations",
        content=json.dumps(rows).encode(),
        headers={"origin": "null", "content-type": ""},
    )
    assert blob.status_code == 403
    own = client.post(
        "/endpoints/churn/invocations", json=rows, headers={"origin": "http://localhost"}
    )
    assert own.status_code == 200
    assert client.get("/ping", headers={"origin": "https://evil.example"}).status_code == 200
    source, _ = trained
    ws = workspace_with_settings(source, tmp_path / "ws", cors_origins=["https://app.example"])
    with TestClient(create_app(ws), base_url="http://localhost") as allowed:
        ok = allowed.post(
            "/endpoints/churn/invocations", json=rows, headers={"origin": "https://app.example"}
        )
        assert ok.status_code == 200
    ws.close()
