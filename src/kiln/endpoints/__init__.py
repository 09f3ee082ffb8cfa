"""Endpoint records: which model version each endpoint serves (``ws.endpoints``)."""

from kiln.endpoints._endpoints import Endpoint, EndpointService

__all__ = ["Endpoint", "EndpointService"]
