"""A pytest plugin: real servers on loopback for the tests that need them.

- ``postgres_url``: a fresh, empty database on a PostgreSQL server this pytest process started
  (one server per worker, for the session: initdb in a temporary folder, a free port on
  127.0.0.1, its unix socket in that folder, fsync off). ``postgres_template_url`` is the same
  with kiln's schema already migrated (created from a migrated template, in milliseconds).
- ``s3_url``: ``s3://<fresh bucket>/kiln`` on an S3-compatible server (moto's server mode, in a
  thread of this process), with ``AWS_ENDPOINT_URL`` and test credentials set for the test, as
  botocore (and so s3fs) reads them.

When a server cannot start (PostgreSQL or moto not installed, initdb failing), the test skips
with a one-line reason; tests/require_services.py turns that skip into a failure in CI.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import pytest

from helpers import free_port

# Debian installs each major version under /usr/lib/postgresql/<major>/bin, not on PATH.
_PG_BIN_GLOB = "/usr/lib/postgresql/*/bin"
_START_SECONDS = 60


def _pg_bin() -> Path | None:
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    candidates = sorted(Path("/").glob(_PG_BIN_GLOB.lstrip("/")), key=lambda p: p.parent.name)
    return next((c for c in reversed(candidates) if (c / "initdb").exists()), None)


def _as_server_user(command: list[str]) -> list[str]:
    """initdb and postgres refuse to run as root: as root, run them as 'nobody'. Either way the
    server dies with the pytest process that started it (no server outlives a killed worker)."""
    prefix = ["setpriv", "--pdeathsig", "KILL"] if shutil.which("setpriv") else []
    if os.geteuid() == 0:
        if not prefix:
            raise RuntimeError("running as root, and setpriv (util-linux) is missing")
        uid, gid = _server_user()
        prefix += ["--reuid", str(uid), "--regid", str(gid), "--clear-groups"]
    return prefix + command


def _server_user() -> tuple[int, int]:
    """The unprivileged user (and its group) the server runs as when the tests run as root."""
    import pwd

    try:
        entry = pwd.getpwnam("nobody")
    except KeyError:
        raise RuntimeError("running as root, and there is no user 'nobody' to run it as") from None
    return entry.pw_uid, entry.pw_gid


class PostgresServer:
    """One throwaway PostgreSQL server: start(), database(), stop()."""

    def __init__(self):
        self.bin = _pg_bin()
        self.folder = Path(tempfile.mkdtemp(prefix="kiln-pg-"))
        self.port = free_port()
        self.process: subprocess.Popen | None = None
        self.template: str | None = None

    def _owned(self) -> None:
        if os.geteuid() == 0:
            os.chown(self.folder, *_server_user())

    def start(self) -> None:
        if self.bin is None:
            raise RuntimeError(
                "PostgreSQL is not installed (no initdb on PATH or under /usr/lib/postgresql; "
                "Debian: apt-get install postgresql)"
            )
        self._owned()
        data = self.folder / "data"
        done = subprocess.run(
            _as_server_user(
                [str(self.bin / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
                 "--no-sync", "--encoding=UTF8", "--locale=C"]
            ),
            capture_output=True, text=True, timeout=_START_SECONDS, cwd=self.folder,
        )  # fmt: skip
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
            raise RuntimeError(f"initdb failed: {last}")
        log = open(self.folder / "server.log", "wb")  # noqa: SIM115 (the server writes it)
        self.process = subprocess.Popen(
            _as_server_user(
                [str(self.bin / "postgres"), "-D", str(data), "-p", str(self.port),
                 "-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={self.folder}",
                 "-c", "fsync=off", "-c", "synchronous_commit=off",
                 "-c", "full_page_writes=off", "-c", "max_connections=200"]
            ),
            stdout=log, stderr=subprocess.STDOUT, cwd=self.folder,
        )  # fmt: skip
        log.close()
        import psycopg

        deadline = time.monotonic() + _START_SECONDS
        while True:
            try:
                psycopg.connect(self.dsn("postgres"), connect_timeout=2).close()
                return
            except psycopg.OperationalError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    text = (self.folder / "server.log").read_text(errors="replace").strip()
                    raise RuntimeError(
                        f"postgres did not start: {(text.splitlines() or ['(no log)'])[-1]}"
                    ) from None
                time.sleep(0.1)

    def dsn(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def url(self, database: str) -> str:
        """The SQLAlchemy URL kiln takes (the psycopg 3 driver)."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def database(self, *, template: str | None = None) -> str:
        """A new database (a copy of ``template`` when given); returns its name."""
        import psycopg

        name = f"t_{uuid.uuid4().hex[:16]}"
        with psycopg.connect(self.dsn("postgres"), autocommit=True) as connection:
            clause = f" TEMPLATE {template}" if template else ""
            connection.execute(f"CREATE DATABASE {name}{clause}")
        return name

    def migrated_template(self) -> str:
        """A database with kiln's schema at head, made once: fresh ones copy it."""
        if self.template is None:
            from kiln.store import Store

            name = self.database()
            store = Store(self.url(name))
            store.upgrade()
            store.dispose()
            self.template = name
        return self.template

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            # SIGINT: PostgreSQL's fast shutdown (ends the sessions, no waiting for clients).
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.folder, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server():
    """The PostgreSQL server of this pytest process, or a skip saying why there is none."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        pytest.skip("psycopg is not installed: pip install -e '.[dev]'")
    server = PostgresServer()
    try:
        server.start()
    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
        server.stop()
        pytest.skip(f"no PostgreSQL server: {exc}")
    yield server
    server.stop()


@pytest.fixture
def postgres_url(postgres_server) -> str:
    """The URL of a fresh, empty database (no tables)."""
    return postgres_server.url(postgres_server.database())


@pytest.fixture
def postgres_template_url(postgres_server) -> str:
    """The URL of a fresh database with kiln's schema at head."""
    template = postgres_server.migrated_template()
    return postgres_server.url(postgres_server.database(template=template))


# -- S3 ------------------------------------------------------------------------------------------
_S3_ENV = {
    "AWS_ACCESS_KEY_ID": "kiln-test",
    "AWS_SECRET_ACCESS_KEY": "kiln-test-secret",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@pytest.fixture(scope="session")
def s3_server():
    """An S3-compatible server on loopback (moto's server mode, in a thread); its endpoint URL."""
    try:
        from moto.server import ThreadedMotoServer
    except ImportError as exc:
        pytest.skip(f"no S3 server: moto's server mode is not installed ({exc.name})")
    try:
        import s3fs  # noqa: F401
    except ImportError:
        pytest.skip("s3fs is not installed: pip install -e '.[dev]'")
    import logging

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    try:
        server.start()
    except OSError as exc:
        pytest.skip(f"no S3 server: moto could not listen on 127.0.0.1:{port} ({exc})")
    yield f"http://127.0.0.1:{port}"
    with contextlib.suppress(Exception):
        server.stop()


@pytest.fixture
def s3_environment(s3_server, monkeypatch) -> dict[str, str]:
    """The variables that point botocore (s3fs, and kiln's job processes) at the test server."""
    env = {**_S3_ENV, "AWS_ENDPOINT_URL": s3_server}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(name, raising=False)
    return env


@pytest.fixture
def s3_url(s3_environment) -> str:
    """``s3://<a fresh bucket>/kiln`` on the test server."""
    import boto3

    bucket = f"kiln-{uuid.uuid4().hex[:16]}"
    boto3.client("s3", endpoint_url=s3_environment["AWS_ENDPOINT_URL"]).create_bucket(Bucket=bucket)
    return f"s3://{bucket}/kiln"


# -- Redis ---------------------------------------------------------------------------------------
_REDIS_SERVER = "/usr/bin/redis-server"


@pytest.fixture(scope="session")
def redis_url():
    """``redis://127.0.0.1:PORT/0`` of a redis-server this pytest process started (Debian's
    package) in a temporary folder, persistence off; stopped at the end of the session."""
    binary = shutil.which("redis-server") or (
        _REDIS_SERVER if os.path.exists(_REDIS_SERVER) else None
    )
    if binary is None:
        pytest.skip("no Redis server: redis-server is not installed (apt-get install redis-server)")
    try:
        import redis
    except ImportError:
        pytest.skip("the redis client is not installed: pip install -e .")
    folder = Path(tempfile.mkdtemp(prefix="kiln-redis-"))
    port = free_port()
    prefix = ["setpriv", "--pdeathsig", "KILL"] if shutil.which("setpriv") else []
    process = subprocess.Popen(
        [*prefix, binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(folder),
         "--save", "", "--appendonly", "no", "--protected-mode", "yes", "--daemonize", "no"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=folder,
    )  # fmt: skip
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + _START_SECONDS
    while True:
        try:
            redis.Redis.from_url(url, socket_connect_timeout=1).ping()
            break
        except redis.ConnectionError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                shutil.rmtree(folder, ignore_errors=True)
                pytest.skip(f"no Redis server: redis-server did not start on port {port}")
            time.sleep(0.05)
    yield url
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    shutil.rmtree(folder, ignore_errors=True)
