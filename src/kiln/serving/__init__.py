"""Deployment: endpoints, the HTTP server and batch transform."""

from kiln.serving._endpoints import Endpoint, EndpointService
from kiln.serving._transform import transform

__all__ = ["Endpoint", "EndpointService", "transform"]
