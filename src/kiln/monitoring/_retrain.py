"""Retraining: the deployed model's training specification run again on the newest version of its
data set, and the candidate compared with the deployed model on the same test rows. The candidate
is registered PendingManualApproval (or Rejected by its success criteria); a person approves it and
deploys it with a strategy."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from kiln.errors import ConfigError, NotFound
from kiln.evaluation import evaluate
from kiln.problems import LOWER_IS_BETTER, REGRESSION

if TYPE_CHECKING:
    from kiln.context import Context
    from kiln.registry import ModelVersion

__all__ = ["parse_retrain_spec", "run_retraining_job", "start_retraining"]


def parse_retrain_spec(ctx: Context, spec: str) -> dict:
    """``SOURCE[@DATA]``: SOURCE is an endpoint (its live model with the most traffic) or a model
    reference (``churn``, ``churn:3``, ``churn@production``); DATA a data set name whose newest
    version to train on instead of the newest version of the model's own training data set."""
    source, data = (spec or "").strip(), None
    if "@" in source:
        head, _, tail = source.rpartition("@")
        if any(v.name == tail for v in ctx.data.list()):  # else an alias: churn@production
            source, data = head, tail
    if not source:
        raise ConfigError(
            f"Cannot read the retraining spec {spec!r}: write an endpoint or a model, and "
            "optionally @DATASET (retrain:churn_api, retrain:churn:2, retrain:churn@churn_2026).",
            code="monitor.bad-retrain-spec",
        )
    endpoint = None
    if source in {e.name for e in ctx.endpoints.list()}:
        endpoint = source
        model = ctx.endpoints.get(source).model
    else:
        try:
            model = ctx.models.get(source).ref
        except NotFound:
            raise ConfigError(
                f"Cannot retrain {source!r}: it is neither an endpoint nor a model. Endpoints: "
                f"{', '.join(e.name for e in ctx.endpoints.list()) or 'none'}; see 'kiln models "
                "list' for models.",
                code="monitor.bad-retrain-spec",
            ) from None
    return {"model": model, "endpoint": endpoint, "data": data}


def start_retraining(
    ctx: Context,
    spec: str,
    *,
    endpoint: str | None = None,
    reason: dict | str | None = None,
    on_log=None,
    wait: bool = True,
) -> str:
    """Run a retraining job (in its own process); returns the job id once it has ended, or at
    once with ``wait=False`` (the scheduler). ``endpoint``: compare against that endpoint's live
    model (default: the spec's model)."""
    from kiln.monitoring._jobs import launch

    target = parse_retrain_spec(ctx, spec)
    if endpoint:
        target["endpoint"] = endpoint
        target["model"] = ctx.endpoints.get(endpoint).model
    _training_spec_of(ctx, ctx.models.get(target["model"]))  # refuse what cannot be retrained now
    job = ctx.jobs.create(
        "retraining", {**target, "spec": spec, "reason": reason if reason is not None else ""}
    )
    launch(ctx, job, wait=wait, on_log=on_log)
    return job.id


def _training_spec_of(ctx: Context, version: ModelVersion) -> dict[str, Any]:
    """The training options that made ``version``: its training job's spec (a tuned model: its
    tuning job's data and the winning hyperparameters)."""
    job = ctx.jobs.get(version.job_id) if version.job_id else None
    if job is None or job.kind not in ("training", "tuning"):
        what = "an AutoML job" if version.algorithm == "automl" else "no training job kiln ran"
        raise ConfigError(
            f"Model {version.ref} came from {what}, so there is no training specification to "
            "run again. Retrain it with the command that made it (kiln automl ... / kiln train "
            "...), or point the retraining at a model trained by 'kiln train' or 'kiln tune'.",
            code="monitor.retrain-unsupported",
        )
    spec = dict(job.spec)
    options = {
        "target": version.target or spec.get("target"),
        "hyperparameters": version.hyperparameters,
        "name": version.group,
        "problem_type": version.problem_type,
    }
    for key in (
        "ratios",
        "time_column",
        "validation",
        "group_column",
        "require",
        "cost_fp",
        "cost_fn",
        "seed",
        "recipe",
    ):
        if spec.get(key) is not None:
            options[key] = tuple(spec[key]) if key == "ratios" else spec[key]
    if spec.get("problem"):
        # Its problem by name: the retrained model meets the problem's latest spec.
        options["problem"] = spec["problem"].split(":")[0]
    dataset = spec.get("dataset") or ctx.data.get_by_id(version.dataset_version_id).name
    return {
        "algorithm": version.algorithm,
        "dataset": dataset.split("@")[0].split(":")[0],
        "options": options,
    }


def run_retraining_job(ws: Context, job, spec: dict) -> dict:
    """The retraining job: train the deployed model's specification on the newest data, then
    score both models on the candidate's test rows and record the comparison on the candidate."""
    from kiln.training import TrainingOptions, train

    deployed = ws.models.get(spec["model"])
    plan = _training_spec_of(ws, deployed)
    data = spec.get("data") or plan["dataset"]
    newest = ws.data.get(data)
    reason = spec.get("reason")
    job.log(
        f"Retraining {deployed.ref} ({plan['algorithm']}) on {newest.ref}"
        + (f" because {_reason_text(reason)}" if reason else "")
        + "."
    )
    result = train(
        ws,
        newest.ref,
        algorithm=plan["algorithm"],
        options=TrainingOptions(**plan["options"]),
        on_log=job.log,
    )
    candidate = result.model
    test_ref = (result.job.result.get("splits") or {}).get("test")
    comparison: dict[str, dict] = {}
    test_rows = 0
    if test_ref:
        # The candidate never saw its test rows; the deployed model may have trained on some of
        # them (the new data set version holds the old rows), which would flatter it: those go.
        frame = _unseen(ws.data.load(test_ref), _fit_rows(ws, deployed))
        test_rows = len(frame)
        mine = model_metrics(ws.models.load(candidate), frame, candidate.target)
        theirs = model_metrics(ws.models.load(deployed), frame, candidate.target)
        for name in mine:
            if _number(mine.get(name)) and _number(theirs.get(name)):
                better = (
                    (mine[name] < theirs[name])
                    if name in LOWER_IS_BETTER
                    else (mine[name] > theirs[name])
                )
                comparison[name] = {
                    "candidate": round(float(mine[name]), 6),
                    "deployed": round(float(theirs[name]), 6),
                    "better": bool(better),
                }
    details = {
        "replaces": deployed.ref,
        "endpoint": spec.get("endpoint"),
        "data": newest.ref,
        "test_rows": test_rows,
        "test_split": test_ref,
        "comparison": comparison,
        "reason": _reason_text(reason) if reason else None,
        "job": job.job_id,
    }
    ws.models.add_details(candidate.ref, retraining=details)
    for name, row in list(comparison.items())[:6]:
        job.log(f"{name}: candidate {row['candidate']:.4g}, deployed {row['deployed']:.4g}.")
    status = ws.models.get(candidate.ref).approval_status
    job.log(
        f"Registered {candidate.ref} ({status}). Review it with 'kiln models show "
        f"{candidate.ref}', approve it with 'kiln models approve {candidate.ref}', and deploy it "
        "with a strategy, e.g. 'kiln deploy "
        f"{candidate.ref} --endpoint {spec.get('endpoint') or 'ENDPOINT'} --strategy "
        "canary:10%:5m'."
    )
    return {
        "model": candidate.ref,
        "replaces": deployed.ref,
        "comparison": comparison,
        "test_rows": test_rows,
        "training_job": result.job.id,
    }


def _fit_rows(ws: Context, version: ModelVersion):
    """The rows ``version`` was fit or early-stopped on (its training and validation splits)."""
    import pandas as pd

    job = ws.jobs.get(version.job_id) if version.job_id else None
    splits = ((job.result or {}).get("splits") or {}) if job else {}
    parts = [ws.data.load(splits[p]) for p in ("train", "validation") if splits.get(p)]
    return pd.concat(parts, ignore_index=True) if parts else None


def _unseen(frame, seen):
    """The rows of ``frame`` that are not rows of ``seen`` (all columns equal)."""
    if seen is None or seen.empty:
        return frame
    columns = [c for c in frame.columns if c in seen.columns]
    marked = frame.merge(seen[columns].drop_duplicates(), on=columns, how="left", indicator=True)
    return frame[(marked["_merge"] == "left_only").to_numpy()]


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _reason_text(reason: Any) -> str:
    if isinstance(reason, dict):
        alarm = reason.get("alarm")
        value = reason.get("value")
        condition = reason.get("condition")
        if alarm:
            return f"alarm {alarm} ({condition}: {value})" if condition else f"alarm {alarm}"
        return ", ".join(f"{k}={v}" for k, v in list(reason.items())[:4])
    return str(reason)


def model_metrics(model, frame, target: str) -> dict[str, float]:
    """``model``'s metrics on the labelled rows of ``frame`` (the problem type's metric set)."""
    rows = frame[frame[target].notna()]
    if model.problem_type == REGRESSION:
        return evaluate(REGRESSION, rows[target].to_numpy(float), y_pred=model.predict_values(rows))
    classes = list(model.classes)
    index = {str(c): i for i, c in enumerate(classes)}
    known = rows[target].map(lambda v: str(v) in index)
    rows = rows[known]
    y_true = rows[target].map(lambda v: index[str(v)]).to_numpy(int)
    proba = model.predict_proba(rows)
    y_pred = np.asarray(model.encoded_labels(proba))
    return evaluate(model.problem_type, y_true, y_pred=y_pred, proba=proba, positive_index=1)
