"""Lineage: what every record was made from and what was made from it (``ws.lineage``)."""

from kiln.lineage._graph import LineageEdge, LineageGraph, LineageNode
from kiln.lineage._service import LineageService

__all__ = ["LineageEdge", "LineageGraph", "LineageNode", "LineageService"]
