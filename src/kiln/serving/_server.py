"""Run the serving app under uvicorn with the workspace's limits: TLS, one or several workers."""

from __future__ import annotations

import ipaddress
import os
import ssl
from collections.abc import Callable
from dataclasses import fields
from pathlib import Path

import uvicorn

from kiln.context import Context
from kiln.errors import ConfigError
from kiln.serving._app import create_app
from kiln.serving._workers import APP_FACTORY, MULTIPROC_ENV, SERVER_ENV, server_environment

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def server_config(
    workspace: Context,
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    log_level: str = "info",
    tls_cert: str | os.PathLike | None = None,
    tls_key: str | os.PathLike | None = None,
    workers: int = 1,
    supervised: bool = False,
) -> uvicorn.Config:
    """The uvicorn configuration ``kiln serve`` runs. The app enforces the workspace's limits on
    requests; uvicorn's own cap on open connections (idle keep-alive ones included, so set well
    above) keeps a flood of idle sockets from using up the process's file descriptors.

    ``tls_cert`` and ``tls_key`` (PEM files) serve HTTPS; they are checked here, before anything
    binds. With ``workers`` above 1 (or ``supervised``: worker processes under a supervisor,
    even one) the app is named, not built: each worker builds its own (see :func:`serve`)."""
    tls = check_tls(tls_cert, tls_key)
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ConfigError(
            f"The number of workers must be an integer of at least 1. Got {workers!r}.",
            code="serve.bad-workers",
        )
    processes = workers > 1 or supervised
    return uvicorn.Config(
        APP_FACTORY if processes else create_app(workspace, host=host),
        factory=processes,
        workers=workers,
        host=host,
        port=port,
        log_level=log_level,
        log_config=_log_config(log_level),
        # kiln's own access log (kiln.serving.access) names the endpoint and variant too
        access_log=False,
        limit_concurrency=4 * workspace.settings.max_concurrent_requests,
        ssl_certfile=tls[0] if tls else None,
        ssl_keyfile=tls[1] if tls else None,
        # A worker added under load starts on a busy machine: give it time to answer the
        # supervisor's first health check before it counts as hung.
        **({"timeout_worker_healthcheck": 30} if supervised else {}),
    )


def check_tls(
    cert: str | os.PathLike | None, key: str | os.PathLike | None
) -> tuple[str, str] | None:
    """``(cert, key)`` as paths uvicorn loads, once they are known to load; None for no TLS."""
    if cert is None and key is None:
        return None
    if cert is None or key is None:
        given, missing = ("--tls-cert", "--tls-key") if key is None else ("--tls-key", "--tls-cert")
        raise ConfigError(
            f"{given} was given without {missing}: HTTPS needs both the certificate and its "
            "private key (PEM files).",
            code="serve.tls-incomplete",
        )
    for what, path in (("certificate (--tls-cert)", cert), ("private key (--tls-key)", key)):
        if not Path(path).is_file():
            problem = "is a folder" if Path(path).is_dir() else "does not exist"
            raise ConfigError(
                f"The TLS {what} {str(path)!r} {problem}. Give the path of a PEM file.",
                code="serve.tls-file-missing",
            )
    try:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        # An empty password: an encrypted key fails here instead of prompting on the terminal.
        context.load_cert_chain(str(cert), str(key), password="")
    except (ssl.SSLError, OSError, ValueError) as exc:
        raise ConfigError(
            f"The TLS certificate {str(cert)!r} and key {str(key)!r} cannot be used together: "
            f"{exc}. Give a PEM certificate and the unencrypted PEM private key it was made for.",
            code="serve.bad-tls",
        ) from exc
    return str(cert), str(key)


def serve(
    workspace: Context,
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    log_level: str = "info",
    tls_cert: str | os.PathLike | None = None,
    tls_key: str | os.PathLike | None = None,
    workers: int = 1,
    autoscale: bool | None = None,
    autoscale_interval: float | None = None,
    announce: Callable[[str], None] | None = None,
) -> None:
    """Serve the workspace until SIGINT or SIGTERM, which drain the requests in flight.

    With ``workers`` above 1, that many processes share the port, each with its own loader
    thread watching the workspace; the workspace and its settings reach them through the
    environment, and their metrics are added up in a fresh ``PROMETHEUS_MULTIPROC_DIR``.
    ``announce`` is called with the server's URL once the options are checked, before the port
    is bound.

    ``autoscale`` (by default: when some endpoint has an autoscale policy as the server starts)
    runs the workers under :class:`~kiln.serving._autoscale.ElasticSupervisor`, which resizes
    the pool by the endpoints' policies every ``autoscale_interval`` seconds, starting from
    ``workers`` (docs/serverless.md)."""
    if autoscale is None:
        autoscale = any("autoscale" in e.config for e in workspace.endpoints.list())
    config = server_config(
        workspace,
        host=host,
        port=port,
        log_level=log_level,
        tls_cert=tls_cert,
        tls_key=tls_key,
        workers=workers,
        supervised=autoscale,
    )
    if announce is not None:
        shown = f"[{host}]" if ":" in host else host
        announce(f"{'https' if config.is_ssl else 'http'}://{shown}:{port}")
    if workers == 1 and not autoscale:
        uvicorn.Server(config).run()
        return
    import shutil
    import tempfile

    from uvicorn.supervisors import Multiprocess

    # Every setting as this process resolved it (command-line overrides included), except the
    # PII key, kept out of the environment: a worker reads it where this process did.
    settings = {
        f.name: getattr(workspace.settings, f.name)
        for f in fields(workspace.settings)
        if f.name not in ("home", "extra", "pii_key")
    }
    metrics_dir = tempfile.mkdtemp(prefix="kiln-metrics-")
    saved = {name: os.environ.get(name) for name in (SERVER_ENV, MULTIPROC_ENV)}
    os.environ[SERVER_ENV] = server_environment(str(workspace.home), host=host, settings=settings)
    os.environ[MULTIPROC_ENV] = metrics_dir
    try:
        socket = config.bind_socket()
        if not autoscale:
            Multiprocess(config, sockets=[socket]).run()
            return
        from kiln.serving._autoscale import SAMPLE_SECONDS, Autoscaler, ElasticSupervisor

        supervisor = ElasticSupervisor(config, sockets=[socket])
        supervisor.autoscaler = Autoscaler(
            workspace,
            supervisor,
            metrics_dir=metrics_dir,
            base_workers=workers,
            interval=autoscale_interval or SAMPLE_SECONDS,
        )
        supervisor.run()
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        shutil.rmtree(metrics_dir, ignore_errors=True)


def _log_config(log_level: str) -> dict:
    """uvicorn's logging, plus kiln's serving loggers (the access log among them) at
    ``log_level`` on the same stream and format."""
    import copy

    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"]["kiln.serving"] = {
        "handlers": ["default"],
        "level": log_level.upper(),
        # kiln's lines reach the root logger's handlers too, where there are any (none under
        # kiln serve): an embedding program or a test may collect them there.
        "propagate": True,
    }
    return config


def exposure_warning(workspace: Context, host: str, *, tls: bool = False) -> str | None:
    """What to tell the user who binds a non-loopback address, or None."""
    if host in LOOPBACK or _is_loopback(host):
        return None
    if workspace.settings.require_auth:
        if tls:
            return None
        warning = (
            f"serving on {host} without TLS sends API keys and predictions in clear text. Pass "
            "--tls-cert and --tls-key, or put a proxy that terminates TLS in front."
        )
    else:
        warning = (
            f"serving on {host} makes every endpoint reachable from other machines, with no "
            "authentication. Pass --require-auth (keys from 'kiln keys create'), put it behind "
            "a proxy that authenticates, or bind 127.0.0.1."
        )
    if host in ("0.0.0.0", "::") and not workspace.settings.allowed_hosts:
        warning += " Any Host header is answered: set allowed_hosts in kiln.toml."
    return warning
