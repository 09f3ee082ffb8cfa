"""kiln serve over HTTPS: --tls-cert and --tls-key, checked before the server binds."""

from __future__ import annotations

import ssl

import httpx
import pytest

from helpers import ServerThread, self_signed_certificate
from kiln.errors import ConfigError
from kiln.serving import check_tls


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    return self_signed_certificate(tmp_path_factory.mktemp("tls"))


def test_the_server_answers_https_with_the_given_certificate(trained, certificate):
    ws, _ = trained
    cert, key = certificate
    trusting = ssl.create_default_context(cafile=str(cert))
    with ServerThread(ws, tls_cert=cert, tls_key=key) as server:
        assert server.url.startswith("https://")
        response = httpx.get(f"{server.url}/ping", verify=trusting)
        assert response.status_code == 200 and response.json()["status"] == "ok"
        with pytest.raises(httpx.ConnectError):  # not trusted without the certificate
            httpx.get(f"{server.url}/ping")
        with pytest.raises(httpx.TransportError):  # no plain HTTP on the port
            httpx.get(f"http://127.0.0.1:{server.port}/ping").raise_for_status()


def test_tls_needs_both_files(certificate):
    cert, key = certificate
    for given in ({"cert": cert, "key": None}, {"cert": None, "key": key}):
        with pytest.raises(ConfigError) as caught:
            check_tls(**given)
        assert caught.value.code == "serve.tls-incomplete"
    assert check_tls(None, None) is None


def test_a_missing_tls_file_is_named(certificate, tmp_path):
    cert, key = certificate
    with pytest.raises(ConfigError) as caught:
        check_tls(tmp_path / "nope.crt", key)
    assert caught.value.code == "serve.tls-file-missing"
    assert "nope.crt" in caught.value.message and "does not exist" in caught.value.message
    with pytest.raises(ConfigError) as caught:
        check_tls(cert, tmp_path)
    assert caught.value.code == "serve.tls-file-missing" and "is a folder" in caught.value.message


def test_files_that_are_no_pair_are_refused(certificate, tmp_path):
    cert, key = certificate
    _, other_key = self_signed_certificate(tmp_path, "other")
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    for pair in ((cert, other_key), (garbage, key), (cert, garbage)):
        with pytest.raises(ConfigError) as caught:
            check_tls(*pair)
        assert caught.value.code == "serve.bad-tls", pair


def test_kiln_serve_refuses_a_missing_tls_file_before_binding(trained, tmp_path, capsys):
    from kiln.cli import main

    ws, _ = trained
    code = main(
        [
            "--home",
            str(ws.home),
            "serve",
            "--tls-cert",
            str(tmp_path / "missing.crt"),
            "--tls-key",
            str(tmp_path / "missing.key"),
        ]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "serve.tls-file-missing" in err and "missing.crt" in err and "Serving on" not in err


def test_the_exposure_warning_speaks_of_keys_then_of_tls(trained, tmp_path):
    from helpers import workspace_with_settings
    from kiln.serving import exposure_warning

    source, _ = trained
    assert "--require-auth" in exposure_warning(source, "192.168.1.10")
    ws = workspace_with_settings(source, tmp_path / "ws", require_auth=True)
    assert "clear text" in exposure_warning(ws, "192.168.1.10")
    assert exposure_warning(ws, "192.168.1.10", tls=True) is None
    assert exposure_warning(ws, "127.0.0.1") is None
    ws.close()
