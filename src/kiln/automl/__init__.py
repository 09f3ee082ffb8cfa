"""AutoML: from a table and a target to a registered, deployable model within a time limit.

``kiln.AutoML`` (for notebooks and scripts) and ``kiln automl`` (the CLI) both run
:func:`automl`: a job that profiles the data, searches algorithms, recipes and hyperparameters
(Optuna) with cross-validation, builds a weighted ensemble of the best candidates when it scores
better out of fold, explains it and registers it. See docs/automl.md.
"""

from kiln.automl._automl import (
    AutoML,
    AutoMLResult,
    automl,
    automl_progress,
    check_target,
    start_automl,
)
from kiln.automl._job import run_automl_job
from kiln.automl._report import automl_report, calibration_line, floor_line, recipe_label

__all__ = [
    "AutoML",
    "AutoMLResult",
    "automl",
    "automl_progress",
    "automl_report",
    "calibration_line",
    "check_target",
    "floor_line",
    "recipe_label",
    "run_automl_job",
    "start_automl",
]
