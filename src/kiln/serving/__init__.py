"""Deployment: the HTTP server for endpoints, its client, and batch transform."""

from kiln.serving._app import create_app
from kiln.serving._client import EndpointClient
from kiln.serving._transform import run_transform_job, transform
from kiln.serving._validation import RequestSchema

__all__ = ["EndpointClient", "RequestSchema", "create_app", "run_transform_job", "transform"]
