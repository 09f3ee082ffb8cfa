"""Run the serving app under uvicorn with the workspace's limits."""

from __future__ import annotations

import ipaddress

import uvicorn

from kiln.context import Context
from kiln.serving._app import create_app

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def server_config(
    workspace: Context, *, host: str = "127.0.0.1", port: int = 8080, log_level: str = "info"
) -> uvicorn.Config:
    """The uvicorn configuration ``kiln serve`` runs. The app enforces the workspace's limits on
    requests; uvicorn's own cap on open connections (idle keep-alive ones included, so set well
    above) keeps a flood of idle sockets from using up the process's file descriptors."""
    return uvicorn.Config(
        create_app(workspace, host=host),
        host=host,
        port=port,
        log_level=log_level,
        log_config=_log_config(log_level),
        # kiln's own access log (kiln.serving.access) names the endpoint and variant too
        access_log=False,
        limit_concurrency=4 * workspace.settings.max_concurrent_requests,
    )


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


def exposure_warning(workspace: Context, host: str) -> str | None:
    """What to tell the user who binds a non-loopback address, or None."""
    if host in LOOPBACK or _is_loopback(host):
        return None
    warning = (
        f"serving on {host} makes every endpoint reachable from other machines, with no "
        "authentication. Put it behind a proxy that authenticates, or bind 127.0.0.1."
    )
    if host in ("0.0.0.0", "::") and not workspace.settings.allowed_hosts:
        warning += " Any Host header is answered: set allowed_hosts in kiln.toml."
    return warning
