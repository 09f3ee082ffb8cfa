"""The evaluation report of a training job: one HTML page that opens offline.

It reloads what the job recorded (model, split data set versions, metrics, per-iteration losses),
recomputes predictions on the held-out splits and adds what the job did not compute: curves,
calibration, a learning curve, permutation importance, SHAP values for tree models and a
bias/variance diagnosis.
"""

from __future__ import annotations

import html
import time
from typing import TYPE_CHECKING, Any

from kiln.algorithms import BINARY, REGRESSION
from kiln.evaluation._classification import _classification_sections
from kiln.evaluation._clustering import clustering_section
from kiln.evaluation._curves import _iteration_section, _learning_curve_section
from kiln.evaluation._diagnosis import METRIC_LABELS, diagnose
from kiln.evaluation._importance import _permutation_section, _shap_section
from kiln.evaluation._regression import _regression_sections
from kiln.evaluation._run import (
    _HEADLINE,
    _SPLIT_ORDER,
    SUPERVISED,
    _check_reportable,
    _load,
    _output_path,
    _predict,
    _Run,
    _scalar_metrics,
    _table,
)
from kiln.reports import (
    JobReport,
    Section,
    bullets,
    fields,
    note,
    render,
    write,
)

if TYPE_CHECKING:
    import os

    from kiln.compute import Job
    from kiln.context import Context

__all__ = ["training_report"]


def training_report(
    workspace: Context,
    job: Job,
    *,
    out: str | os.PathLike | None = None,
    learning_curve: bool = True,
) -> JobReport:
    """Write the HTML evaluation report of a completed training job.

    Parameters
    ----------
    workspace
        The workspace that ran the job.
    job
        The training job (``ws.jobs.get(JOB_ID)``; ``kiln jobs list --kind training``).
    out
        Where to write the page; a folder gets ``<job id>.html`` inside it. Defaults to
        ``<workspace home>/reports/<job id>.html``.
    learning_curve
        Refit the model on growing shares of the training split (10% to 100%) for the learning
        curve. Turn off to save those refits on large data sets.

    Returns
    -------
    JobReport
        ``path`` of the written page, the bias/variance ``diagnosis`` and the ``metrics`` by
        split; ``to_dict()`` is what ``kiln jobs report --json`` prints.

    Examples
    --------
    >>> result = ws.train("churn", target="churn", algorithm="lightgbm")     # doctest: +SKIP
    >>> ws.report(result.job.id).path                                          # doctest: +SKIP
    PosixPath('.kiln/reports/train-21ec411d2f62.html')
    """

    started = time.perf_counter()
    _check_reportable(job)
    run = _load(workspace, job)
    if run.cross_validated and run.problem_type in SUPERVISED:
        run.notes.append(
            f"Cross-validation ({job.result.get('validation')}) refit the final model on the "
            "train and validation splits, so the curves below use the test split only."
        )
    timings: dict[str, float] = {}
    stored = job.result.get("metrics") or {}
    metrics = _scalar_metrics(stored)

    if run.problem_type not in SUPERVISED:
        # Unsupervised jobs get the summary and their metrics; their own sections (e.g.
        # clustering_section) are added by the unsupervised training code.
        sections = [
            _summary_section(run, None, timings),
            *filter(None, [_criteria_section(job.result)]),
            _metrics_section(stored),
        ]
        if run.problem_type == "clustering" and job.result.get("splits", {}).get("test"):
            frame = workspace.data.load(job.result["splits"]["test"])
            features = run.model.pipeline[:-1].transform(frame[run.model.input_columns])
            truth = frame[run.target] if run.target and run.target in frame else None
            section, _ = clustering_section(
                features, run.model.clusters(frame), truth, seed=run.seed
            )
            sections.append(section)
        diagnosis: dict = {
            "verdict": "unknown",
            "evidence": ["No bias/variance diagnosis for unsupervised models."],
            "suggestions": [],
        }
    else:
        _predict(run)
        curve: list[dict] = []
        curve_section = None
        if learning_curve:
            tick = time.perf_counter()
            curve, curve_section = _learning_curve_section(run)
            timings["learning curve"] = time.perf_counter() - tick
        diagnosis = diagnose(
            run.problem_type,
            stored,
            algorithm=run.version.algorithm,
            learning_curve=curve or None,
        )
        tick = time.perf_counter()
        body = [_metrics_section(stored), _diagnosis_section(diagnosis)]
        if curve_section is not None:
            body.append(curve_section)
        body.append(_iteration_section(run))
        if run.problem_type == REGRESSION:
            body += _regression_sections(run)
        else:
            body += _classification_sections(run)
        timings["curves"] = time.perf_counter() - tick
        tick = time.perf_counter()
        body.append(_permutation_section(run))
        timings["permutation importance"] = time.perf_counter() - tick
        tick = time.perf_counter()
        body.append(_shap_section(run))
        timings["SHAP"] = time.perf_counter() - tick
        timings["total"] = time.perf_counter() - started
        sections = [
            _summary_section(run, diagnosis, timings),
            *filter(None, [_criteria_section(job.result)]),
            *body,
        ]

    path = _output_path(workspace, job, out)
    subtitle = f"model {run.version.ref} · {run.version.algorithm} · {run.problem_type}"
    write(path, render(f"Training job {job.id}", sections, subtitle=subtitle, toc=True))
    return JobReport(
        path=path,
        job_id=job.id,
        diagnosis=diagnosis,
        metrics=metrics,
        seconds=round(time.perf_counter() - started, 3),
        sections=[s.title for s in sections],
    )


# -- summary, metrics and diagnosis ---------------------------------------------------------------
def _recipe_columns(step: dict) -> str:
    columns = step.get("columns")
    if step["step"] == "ratio":
        columns = [*step["numerator"], *step["denominator"]]
    return ", ".join(columns) if isinstance(columns, list) else str(columns)


def _summary_section(run: _Run, diagnosis: dict | None, timings: dict) -> Section:
    from markupsafe import Markup

    job, version = run.job, run.version
    result = job.result
    split_text = ", ".join(
        f"{split} {ref}" + (f" ({len(run.frames[split])} rows)" if split in run.frames else "")
        for split, ref in (result.get("splits") or {}).items()
    )
    problem = f"{run.problem_type}, target {run.target!r}"
    if run.model.classes:
        shown = ", ".join(map(str, run.model.classes[:12]))
        problem += f" (classes {shown}{' …' if len(run.model.classes) > 12 else ''})"
    approvals = run.ws.models.approvals(version.ref)
    values: dict[str, Any] = {
        "Model": f"{version.ref} ({version.approval_status})",
        "Approval history": "; ".join(
            f"{e['status']} by {e['by']} at {e['at'][:16].replace('T', ' ')} UTC"
            + (f": {e['reason']}" if e["reason"] else "")
            for e in approvals
        )
        or "no decision yet",
        "Algorithm": version.algorithm,
        "Hyperparameters": ", ".join(f"{k}={v}" for k, v in version.hyperparameters.items()),
        "Problem": problem,
        "Data set": f"{job.spec.get('dataset', '?')}; splits: {split_text or 'none recorded'}",
        "Validation": result.get("validation", job.spec.get("validation", "holdout")),
        "Recipe": " → ".join(
            f"{step['step']}({_recipe_columns(step)})" for step in job.spec.get("recipe") or []
        )
        or "the default recipe",
    }
    if run.problem_type == BINARY:
        threshold = result.get("threshold")
        values["Decision threshold"] = (
            f"{threshold:.2f}, chosen by cost (false positive {job.spec.get('cost_fp') or 0}, "
            f"false negative {job.spec.get('cost_fn') or 0})"
            if threshold is not None
            else "0.50 (no business cost given)"
        )
    criteria = result.get("criteria") or []
    if criteria:
        passed = sum(bool(c["passed"]) for c in criteria)
        css = "pass" if passed == len(criteria) else "fail"
        problem = result.get("problem")
        values["Success criteria"] = Markup(
            f'<span class="{css}">{passed} of {len(criteria)} passed</span>'
            + (f" (problem {html.escape(problem)})" if problem else "")
        )
    if diagnosis is not None:
        values["Diagnosis"] = Markup(_badge(diagnosis["verdict"]))
    duration = f"{job.duration_seconds:.1f} s" if job.duration_seconds is not None else "?"
    values["Job"] = (
        f"{job.id}, {duration}, by {job.created_by} on {job.created_at:%Y-%m-%d %H:%M} UTC"
        + (f", experiment {job.experiment}" if job.experiment else "")
    )
    if timings.get("total"):
        values["Report"] = (
            f"computed in {timings['total']:.1f} s ("
            + ", ".join(f"{k} {v:.1f} s" for k, v in timings.items() if k != "total")
            + ")"
        )
    body = fields(values)
    stored = result.get("metrics") or {}
    names = [n for n in _HEADLINE.get(run.problem_type, ()) if _has_metric(stored, n)]
    parts = [p for p in ("train", "cv_mean", "validation", "test") if stored.get(p)]
    if names and parts:
        body += "<h3>Headline metrics</h3>" + _table(
            ["metric", *parts],
            [[METRIC_LABELS.get(n, n), *[stored[p].get(n) for p in parts]] for n in names],
        )
    for message in run.notes:
        body += f'<p class="note">{html.escape(message)}</p>'
    return Section("Summary", body)


def _criteria_section(result: dict) -> Section | None:
    """Each success criterion (``--require`` and the problem's): its kind, the split or
    baseline it was measured on, the value, the threshold and pass/FAIL."""
    criteria = result.get("criteria") or []
    if not criteria:
        return None
    rows = []
    for c in criteria:
        on = c.get("split") or (f"{c['rows']} rows" if c.get("rows") else "")
        if c.get("baseline"):
            on += f"; baseline {c['baseline']} = {c['baseline_value']}"
        value = c["value"] if c["value"] is not None else c.get("note", "none")
        rows.append(
            [c["criterion"], c.get("kind", "metric"), on, value, c.get("threshold"), c["passed"]]
        )
    problem = result.get("problem")
    body = (
        note(f"The criteria of problem {problem}, and --require's.") if problem else ""
    ) + _table(
        ["criterion", "kind", "on", "value", "threshold", "result"], rows, classes={5: "verdict"}
    )
    return Section("Success criteria", body)


def _has_metric(metrics: dict, name: str) -> bool:
    return any((metrics.get(p) or {}).get(name) is not None for p in _SPLIT_ORDER)


def _badge(verdict: str) -> str:
    css = {"balanced": "good", "overfitting": "bad", "underfitting": "warn"}.get(verdict, "")
    return f'<span class="badge {css}">{html.escape(verdict)}</span>'


def _metrics_section(metrics: dict) -> Section:
    parts = [p for p in _SPLIT_ORDER if metrics.get(p)]
    names: list[str] = []
    for part in parts:
        names += [
            n for n, v in metrics[part].items() if not isinstance(v, list | dict) and n not in names
        ]
    if not names:
        return Section("Metrics", note("The job recorded no metrics."))
    body = _table(["metric", *parts], [[n, *[metrics[p].get(n) for p in parts]] for n in names])
    body += note(
        "As the training job recorded them: the model's predictions on each split"
        + (
            "; cv_mean and cv_std are the mean and standard deviation over the folds, and "
            "train is the final model refit on all development rows."
            if "cv_mean" in parts
            else "."
        )
    )
    return Section("Metrics", body)


def _diagnosis_section(diagnosis: dict) -> Section:
    body = f"<p>Verdict: {_badge(diagnosis['verdict'])}</p><h3>Evidence</h3>"
    body += bullets(diagnosis["evidence"])
    if diagnosis["suggestions"]:
        body += "<h3>What to try</h3>" + bullets(diagnosis["suggestions"])
    return Section("Bias and variance", body)
