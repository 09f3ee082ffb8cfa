"""Several server processes on one port: the app each worker builds, and metrics across them.

uvicorn starts each worker as a fresh process that imports the app by name, so what the app
needs (the workspace, the bind address, settings given on the command line) travels in the
environment. Metrics are kept in prometheus_client's multiprocess mode: each process writes its
values to files in ``PROMETHEUS_MULTIPROC_DIR`` (a fresh folder per server) and ``GET /metrics``,
whichever worker answers it, adds up every process's files.
"""

from __future__ import annotations

import json
import os

SERVER_ENV = "KILN_SERVE_OPTIONS"
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
APP_FACTORY = "kiln.serving._workers:app_from_environment"


def server_environment(home: str, *, host: str, settings: dict) -> str:
    """What :func:`app_from_environment` reads: the workspace, bind address and settings."""
    return json.dumps({"home": home, "host": host, "settings": settings})


def app_from_environment():
    """The serving app of a worker process, as ``kiln serve --workers N`` described it."""
    from kiln.context import Context
    from kiln.serving._app import create_app

    options = json.loads(os.environ[SERVER_ENV])
    workspace = Context(options["home"], **options["settings"])
    return create_app(workspace, host=options["host"])


def metrics_exposition(registry) -> bytes:
    """The Prometheus text of ``registry``; of every worker's files instead, in multiprocess
    mode (prometheus_client decides the mode by the variable, at import: so does this)."""
    from prometheus_client import CollectorRegistry, generate_latest

    if os.environ.get(MULTIPROC_ENV):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    return generate_latest(registry)
