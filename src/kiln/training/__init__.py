"""Training: a job that splits, preprocesses, fits, evaluates and registers a model."""

from kiln.training._criteria import (
    check_metric_names,
    check_problem_fits,
    criteria_details,
    decide_approval,
    evaluate_criteria,
    evaluate_model,
    held_out_rows,
    log_criteria,
    parse_criterion,
    resolve_problem,
)
from kiln.training._job import Problem, choose_threshold, run_training_job
from kiln.training._live import LIVE_METRIC, grows_in_steps
from kiln.training._options import TrainingOptions, TrainingSpec
from kiln.training._script import ScriptRun, run_script_job, script_report, train_script
from kiln.training._signature import build_signature
from kiln.training._train import TrainingResult, train, training_spec
from kiln.training._validation import (
    VALIDATION_STRATEGIES,
    Validation,
    ValidationStrategy,
    fold_indices,
    parse_validation,
    register_validation,
)

__all__ = [
    "LIVE_METRIC",
    "VALIDATION_STRATEGIES",
    "Problem",
    "ScriptRun",
    "TrainingOptions",
    "TrainingResult",
    "TrainingSpec",
    "Validation",
    "ValidationStrategy",
    "build_signature",
    "check_metric_names",
    "check_problem_fits",
    "criteria_details",
    "decide_approval",
    "evaluate_criteria",
    "evaluate_model",
    "held_out_rows",
    "log_criteria",
    "resolve_problem",
    "choose_threshold",
    "fold_indices",
    "grows_in_steps",
    "parse_criterion",
    "parse_validation",
    "register_validation",
    "run_script_job",
    "run_training_job",
    "script_report",
    "train",
    "train_script",
    "training_spec",
]
