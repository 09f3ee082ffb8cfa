"""Hyperparameter tuning: search spaces and searches (Optuna) over training jobs."""

from kiln.tuning._space import Range, parse_range, search_space

__all__ = ["Range", "parse_range", "search_space"]
