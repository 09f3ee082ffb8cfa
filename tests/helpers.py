"""Helpers shared by the tests: free ports, running the real CLI, reading report pages."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

# Run a test that takes ``ws`` (directly or through a fixture) once per metadata store: SQLite,
# and PostgreSQL on a server tests/services.py starts. For the tests that exercise SQL: writes,
# unique constraints, concurrent writers, JSON columns, leases.
ON_BOTH_STORES = pytest.mark.parametrize("ws", ["sqlite", "postgresql"], indirect=True)
# The same for the artifact store: a local folder, and a bucket on an S3 server on loopback.
ON_BOTH_ARTIFACT_STORES = pytest.mark.parametrize("ws", ["local", "s3"], indirect=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_kiln(
    *args: str,
    home: Path | None = None,
    cwd: Path | None = None,
    check: bool = False,
    timeout: float = 180,
) -> subprocess.CompletedProcess:
    """Run the real CLI (``python -m kiln``) in a subprocess."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KILN_")}
    env["COLUMNS"] = "200"
    command = [sys.executable, "-m", "kiln"]
    if home is not None:
        command += ["--home", str(home)]
    result = subprocess.run(
        command + list(args), capture_output=True, text=True, cwd=cwd, env=env, timeout=timeout
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"kiln {' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
        )
    return result


def start_kiln(
    *args: str,
    home: Path,
    log: Path,
    new_session: bool = False,
    env: dict[str, str] | None = None,
) -> subprocess.Popen:
    """Start the real CLI (``python -m kiln``) without waiting, its output going to ``log``.

    ``new_session``: in a process group of its own, so a test can signal the CLI with every
    process it started (``os.killpg``) and nothing of pytest's."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("KILN_")}
    environment.update(env or {})
    with open(log, "wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "kiln", "--home", str(home), *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=environment,
            start_new_session=new_session,
        )


def wait_for(condition: Callable[[], object], *, timeout: float = 120, what: str = "it"):
    """Poll ``condition`` until it returns something true, and return that; fail after
    ``timeout`` seconds (generous: the suite shares a few cores)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"Timed out after {timeout:g} s waiting for {what}.")
        time.sleep(0.05)


def report_page(path: Path) -> str:
    """A written report's text, after checking that it opens offline: its one script file is
    plotly.js, beside the page; nothing else is loaded from elsewhere."""
    text = path.read_text(encoding="utf-8")
    sources = re.findall(r"<script[^>]+src=\"([^\"]+)\"", text)
    assert len(sources) == 1 and re.fullmatch(r"plotly-[0-9a-f]{16}\.min\.js", sources[0]), sources
    assert "* plotly.js" in (path.parent / sources[0]).read_text(encoding="utf-8")[:200]
    assert not re.search(r"<link[^>]+href=[\"']?http", text)
    assert "* plotly.js" not in text  # not inlined as well
    return text


def plotly_figures(page: str) -> list:
    """The figures a report page draws: ``[id, traces, layout]`` for each."""
    match = re.search(r"var F = (\[.*?\]);\n", page, re.S)
    return json.loads(match.group(1).replace("<\\/", "</"))


def table_rows(output: str) -> list[list[str]]:
    """The cells of each row of the rich tables in a CLI's output (header rows included), so a
    test can check which column a value is in."""
    rows = []
    for line in output.splitlines():
        for bar in ("┃", "│"):
            if line.startswith(bar):
                rows.append([cell.strip() for cell in line.strip().strip(bar).split(bar)])
    return rows


def workspace_with_settings(source, home: Path, **settings):
    """A private copy of workspace ``source`` whose kiln.toml sets ``settings``."""
    import shutil

    import kiln

    shutil.copytree(source.home, home)
    lines = [f"{name} = {json.dumps(value)}" for name, value in settings.items()]
    (home / "kiln.toml").write_text("\n".join(lines) + "\n")
    return kiln.Workspace(home)


def prompt_server(config):
    """A ``uvicorn.Server`` that notices ``should_exit`` within 10 ms instead of uvicorn's
    100 ms: the suite starts and stops a server in a thread for a few hundred tests, and each
    stop waited half a tick on average for nothing."""
    import asyncio

    import uvicorn

    class PromptServer(uvicorn.Server):
        async def main_loop(self) -> None:
            # uvicorn's main loop, ticking every 10 ms rather than 100 ms.
            counter = 0
            while not await self.on_tick(counter):
                counter = (counter + 1) % 864000
                await asyncio.sleep(0.01)

    return PromptServer(config)


def wait_until_started(server, thread, what: str) -> None:
    """Wait for a ``uvicorn.Server`` running in ``thread`` to accept connections."""
    import time

    deadline = time.monotonic() + 60
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError(f"{what} did not start")
        time.sleep(0.005)


class ServerThread:
    """A real uvicorn server for a workspace, in a thread of the test's process, on a free port:
    what ``kiln serve`` runs, with the app's internals still reachable from the test."""

    def __init__(self, workspace, host: str = "127.0.0.1", **options):
        from kiln.serving import server_config

        self.port = free_port()
        self.config = server_config(
            workspace, host=host, port=self.port, log_level="warning", **options
        )
        self.server = prompt_server(self.config)
        scheme = "https" if options.get("tls_cert") else "http"
        self.url = f"{scheme}://{host}:{self.port}"

    def __enter__(self) -> ServerThread:
        import threading

        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        wait_until_started(self.server, self.thread, "the server")
        return self

    @property
    def app(self):
        return self.config.app

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


def self_signed_certificate(folder: Path, name: str = "localhost") -> tuple[Path, Path]:
    """A certificate for ``name`` and 127.0.0.1, and its unencrypted key (PEM), made with the
    openssl command (the ``cryptography`` package is no dependency of kiln)."""
    cert, key = folder / f"{name}.crt", folder / f"{name}.key"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", f"/CN={name}",
            "-addext", f"subjectAltName=DNS:{name},IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


def raw_http(port: int, requests: list[bytes], timeout: float = 10) -> list[bytes]:
    """Send ``requests`` one after another on one TCP connection; the raw response to each.

    Each response is read up to its Content-Length; a closed connection ends the list early."""
    responses = []
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        stream = sock.makefile("rb")
        for request in requests:
            try:
                sock.sendall(request)
            except OSError:
                break
            response = read_response(stream)
            if b"\r\n\r\n" not in response:
                return responses  # the connection closed before a whole head
            responses.append(response)
    return responses


def read_response(stream) -> bytes:
    """One raw HTTP response from a socket's file, read up to its Content-Length; what arrived
    of its head when the connection closed first (b"" for nothing)."""
    head = b""
    while not head.endswith(b"\r\n\r\n"):
        byte = stream.read(1)
        if not byte:
            return head
        head += byte
    length = re.search(rb"content-length: (\d+)", head, re.I)
    return head + (stream.read(int(length.group(1))) if length else b"")
