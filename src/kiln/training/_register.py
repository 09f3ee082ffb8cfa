"""The end of every training job: check the success criteria (``--require`` and the problem's),
then register the model (or, for a tuning trial, store it for the tuning job to register)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kiln.compute import JobContext
from kiln.context import Context
from kiln.training._criteria import (
    criteria_details,
    decide_approval,
    evaluate_model,
    log_criteria,
)
from kiln.training._options import TrainingSpec

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["held_out_frame", "register_and_finish"]


def register_and_finish(
    workspace: Context,
    context: JobContext,
    spec: TrainingSpec,
    *,
    model,
    metrics,
    dataset,
    algorithm,
    hyperparameters,
    splits,
    extra: dict,
    rows: pd.DataFrame | None = None,
) -> dict:
    """Check the success criteria, register the model (Rejected if a criterion fails, Approved
    if it meets a problem that says auto_approve) and build the job's result. ``rows`` are
    held-out rows to time single-row predictions on (a problem's latency budget)."""
    # A tuning trial checks --require only: the tuning job checks its best model whole.
    problem = workspace.problems.get(spec.problem) if spec.problem and spec.register else None
    checked = evaluate_model(problem, spec.require, model=model, metrics=metrics, rows=rows)
    log_criteria(checked, context.log)
    shared = {
        "metrics": metrics,
        "criteria": checked["results"],
        "splits": {part: v.ref for part, v in splits.items()},
    }
    if problem is not None:
        shared["problem"] = problem.ref
        shared["criteria_passed"] = checked["passed"]
    if not spec.register:  # a tuning trial: the tuning job registers the best
        digest = workspace.artifacts.put_bytes(model.to_bytes())
        context.log(f"Stored the model as artifact {digest[:12]} (not registered).")
        return {"artifact": digest, **shared, **extra}
    stopped = extra.get("early_stopping")
    # The rounds early stopping chose, beside the configured ones the hyperparameters show.
    details = ({"early_stopping": stopped} if stopped else {}) | criteria_details(checked)
    version = workspace.models.register(
        model,
        group=spec.group,
        algorithm=algorithm.name,
        target=spec.target or "",
        hyperparameters=hyperparameters,
        metrics=metrics,
        dataset_version_id=dataset.id,
        job_id=context.job_id,
        details=details or None,
    )
    version = decide_approval(workspace, version, checked, problem, context.log)
    context.log(f"Registered model {version.ref} ({version.approval_status}).")
    return {"model": version.ref, "model_version_id": version.id, **shared, **extra}


def held_out_frame(frames: dict) -> pd.DataFrame | None:
    """The rows a latency budget is timed on: the test split, else the validation split."""
    for part in ("test", "validation"):
        frame = frames.get(part)
        if frame is not None and len(frame):
            return frame
    return None
