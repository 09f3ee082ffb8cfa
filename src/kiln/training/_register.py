"""The end of every training job: check the success criteria, then register the model (or, for
a tuning trial, store it for the tuning job to register)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kiln.compute import JobContext
from kiln.context import Context
from kiln.training._criteria import parse_criterion
from kiln.training._options import TrainingSpec

if TYPE_CHECKING:
    pass

__all__ = ["register_and_finish"]


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
) -> dict:
    """Check the success criteria, register the model (Rejected if a criterion fails) and build
    the job's result."""
    criteria = [parse_criterion(c) for c in spec.require or []]
    checked = [c.check(metrics) for c in criteria]
    failed = [c for c in checked if not c["passed"]]
    for check in checked:
        context.log(
            f"Criterion {check['criterion']} on {check['split']}: {check['value']} → "
            f"{'pass' if check['passed'] else 'FAIL'}."
        )
    if not spec.register:  # a tuning trial: the tuning job registers the best
        digest = workspace.artifacts.put_bytes(model.to_bytes())
        context.log(f"Stored the model as artifact {digest[:12]} (not registered).")
        return {
            "artifact": digest,
            "metrics": metrics,
            "criteria": checked,
            "splits": {part: v.ref for part, v in splits.items()},
            **extra,
        }
    stopped = extra.get("early_stopping")
    version = workspace.models.register(
        model,
        group=spec.group,
        algorithm=algorithm.name,
        target=spec.target or "",
        hyperparameters=hyperparameters,
        metrics=metrics,
        dataset_version_id=dataset.id,
        job_id=context.job_id,
        # The rounds early stopping chose, beside the configured ones the hyperparameters show.
        details={"early_stopping": stopped} if stopped else None,
    )
    if failed:
        reason = "Failed success criteria: " + "; ".join(
            f"{c['criterion']} (got {c['value']} on {c['split']})" for c in failed
        )
        version = workspace.models.reject(version.ref, reason=reason)
        context.log(reason, level="WARNING")
    context.log(f"Registered model {version.ref} ({version.approval_status}).")
    return {
        "model": version.ref,
        "model_version_id": version.id,
        "metrics": metrics,
        "criteria": checked,
        "splits": {part: v.ref for part, v in splits.items()},
        **extra,
    }
