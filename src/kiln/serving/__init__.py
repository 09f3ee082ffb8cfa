"""Deployment: the HTTP server for endpoints, its client, and batch transform."""

from kiln.serving._predict import predict_records
from kiln.serving._transform import run_transform_job, transform
from kiln.serving._validation import RequestSchema

__all__ = [
    "EndpointClient",
    "Guard",
    "RequestSchema",
    "allowed_hosts_for",
    "check_tls",
    "create_app",
    "exposure_warning",
    "predict_records",
    "run_transform_job",
    "serve",
    "server_config",
    "transform",
]

# FastAPI and httpx load lazily: a transform job's process needs neither.
_LAZY = {
    "create_app": "kiln.serving._app",
    "EndpointClient": "kiln.serving._client",
    "server_config": "kiln.serving._server",
    "exposure_warning": "kiln.serving._server",
    "check_tls": "kiln.serving._server",
    "serve": "kiln.serving._server",
    "Guard": "kiln.serving._guard",
    "allowed_hosts_for": "kiln.serving._guard",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'kiln.serving' has no attribute {name!r}")
