"""Experiments: named groups of training runs, compared side by side (``ws.experiments``)."""

from kiln.experiments._experiments import ExperimentService

__all__ = ["ExperimentService"]
