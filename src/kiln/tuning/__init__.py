"""Hyperparameter tuning: search spaces and searches (Optuna) over training jobs."""

from kiln.tuning._job import run_tuning_job
from kiln.tuning._report import tuning_report
from kiln.tuning._space import Range, parse_range, search_space
from kiln.tuning._tune import TuningResult, resume, tune

__all__ = [
    "Range",
    "TuningResult",
    "parse_range",
    "resume",
    "run_tuning_job",
    "search_space",
    "tune",
    "tuning_report",
]
