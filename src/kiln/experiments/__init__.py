"""Experiments: named groups of training runs, compared side by side (``ws.experiments``)."""

from kiln.experiments._experiments import COLUMN_SAMPLE, ExperimentService

__all__ = ["COLUMN_SAMPLE", "ExperimentService"]
