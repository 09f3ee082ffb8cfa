"""The HTML report of an AutoML job: summary, leaderboard, trials over time, the ensemble's
weights, permutation importance, SHAP values and the data profile's warnings."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

from kiln.problems import legacy_automl_metrics
from kiln.reports import (
    JobReport,
    Section,
    bullets,
    fields,
    figure,
    format_value,
    note,
    render,
    table,
    write,
)

if TYPE_CHECKING:
    from kiln.compute import Job
    from kiln.context import Context


def automl_report(workspace: Context, job: Job, *, out=None, **_options):
    """Write the report of a completed AutoML job; returns a JobReport."""
    import plotly.graph_objects as go

    started = time.perf_counter()
    result = job.result
    metric = result["metric"]
    board = [r for r in result["leaderboard"] if r["state"] != "out of time"]
    not_run = len(result["leaderboard"]) - len(board)
    trials = [r for r in board if r["trial"] is not None]
    test_score = result.get("test_score")
    summary = {
        "Data set": job.spec["dataset"],
        "Target": job.spec["target"],
        "Problem type": result["problem_type"],
        "Metric": f"{metric} (out-of-fold: {result['validation']})",
        "Time limit": f"{result['time_limit']:g} s",
        "Run time": _run_time(job, result),
        "Trials": f"{len(trials)} ran ({sum(r['state'] == 'complete' for r in trials)} completed)"
        + (f"; {not_run} stopped by the time limit before they started" if not_run else ""),
        "Model": f"{result['model']}: {metric} {result['score']} out-of-fold"
        + (f", {test_score} on the test split" if test_score is not None else ""),
        "Test split": _test_split(job, result),
        "Best single candidate": f"trial {result['best_single']['trial']} "
        f"({result['best_single']['algorithm']}): "
        f"{result['best_single'][metric]} out-of-fold",
        "Decision threshold": result.get("threshold") or "0.5 (default)",
    }
    if floor_line(result):
        summary["Floor"] = floor_line(result)
    if calibration_line(result):
        summary["Calibration"] = calibration_line(result)
    sections = [
        Section("Summary", fields(summary)),
        Section(
            "Leaderboard",
            table(
                [
                    "rank",
                    "trial",
                    "algorithm",
                    "recipe",
                    f"{metric} (out-of-fold)",
                    "hyperparameters",
                    "fit s",
                    "weight",
                    "state",
                ],
                [
                    [
                        r["rank"],
                        r["trial"],
                        r["algorithm"],
                        recipe_label(r),
                        r[metric],
                        format_value(r["hyperparameters"]),
                        r["fit_seconds"],
                        r["weight"],
                        r["state"],
                    ]
                    for r in board
                ],
            )
            + note(
                "Scores are out-of-fold: each row's predictions come from models that did not "
                "see it, though the same rows chose the candidates and the weights. Rank 0 is "
                "the ensemble; its weights say how much each member counts."
                + (
                    f" {not_run} candidate(s) stopped by the time limit before they started "
                    "are not listed."
                    if not_run
                    else ""
                )
            ),
        ),
    ]
    history = go.Figure()
    for family in sorted({r["algorithm"] for r in trials}):
        points = [r for r in trials if r["algorithm"] == family and r[metric] is not None]
        history.add_scatter(
            x=[r["trial"] for r in points],
            y=[r[metric] for r in points],
            mode="markers",
            name=family,
        )
    history.update_layout(xaxis_title="trial", yaxis_title=f"{metric} (out of fold)")
    ensemble = go.Figure(
        go.Bar(
            x=[m["weight"] for m in result["ensemble"]],
            y=[
                f"{m['algorithm']} (trial {m['trial']}, {recipe_label(m)})"
                for m in result["ensemble"]
            ],
            orientation="h",
        )
    )
    ensemble.update_layout(xaxis_title="weight")
    sections.append(Section("Trials", figure(history)))
    sections.append(
        Section("Ensemble", figure(ensemble, height=120 + 30 * len(result["ensemble"])))
    )
    explanation = result.get("explanation") or {}
    importance = explanation.get("permutation_importance") or []
    if importance:
        top = importance[:20][::-1]
        fig = go.Figure(
            go.Bar(
                x=[i["importance"] for i in top],
                y=[i["feature"] for i in top],
                error_x={"type": "data", "array": [i["std"] for i in top]},
                orientation="h",
            )
        )
        fig.update_layout(xaxis_title=f"{metric} lost when the column is shuffled")
        sections.append(
            Section(
                "Permutation importance",
                figure(fig, height=140 + 24 * len(top))
                + note(
                    f"Of the whole model, on {explanation['rows']} training rows: how much worse "
                    f"{metric} gets when one input column's values are shuffled."
                ),
            )
        )
    shap = explanation.get("shap") or {}
    if shap.get("mean_abs"):
        top = shap["mean_abs"][::-1]
        fig = go.Figure(
            go.Bar(x=[i["value"] for i in top], y=[i["feature"] for i in top], orientation="h")
        )
        fig.update_layout(xaxis_title=f"mean |SHAP value| ({shap['units']})")
        sections.append(
            Section(
                "SHAP values",
                figure(fig, height=140 + 24 * len(top))
                + note(
                    f"From {shap['method']} for the heaviest tree member (trial {shap['trial']}, "
                    f"{shap['algorithm']}), on {shap['rows']} rows, on the features it sees "
                    "after its recipe."
                ),
            )
        )
    elif shap.get("error"):
        sections.append(Section("SHAP values", note(f"Not computed: {shap['error']}")))
    elif explanation.get("shap_skipped"):
        reason = explanation["shap_skipped"]
        sections.append(Section("SHAP values", note(f"Not computed: {reason}.")))
    sections.append(Section("Data profile warnings", _profile_warnings(workspace, job)))
    path = Path(out) if out else Path(workspace.home) / "reports" / f"{job.id}.html"
    write(path, render(f"AutoML job {job.id}", sections, toc=True, plotly_bundle="cartesian"))
    return JobReport(
        path=path,
        job_id=job.id,
        diagnosis=None,  # a training job's bias/variance diagnosis has no AutoML counterpart
        metrics=legacy_automl_metrics(result["metrics"]),
        seconds=time.perf_counter() - started,
        sections=[s.title for s in sections],
    )


def _run_time(job: Job, result: dict) -> str:
    """The run time on the job's own clock (its start and end, as its log shows them)."""
    if job.started_at is None or job.ended_at is None:
        return f"{result['total_seconds']:.1f} s"
    text = (
        f"{job.duration_seconds:.1f} s (job started {job.started_at:%H:%M:%S}, ended "
        f"{job.ended_at:%H:%M:%S} UTC, as in its log)"
    )
    if result.get("seconds_since_call") is not None:
        text += f"; model registered {result['seconds_since_call']:.1f} s after the call"
    return text


def _test_split(job: Job, result: dict) -> str:
    if result.get("test_rows") is None:
        return "none (give --test-size or --test-data for a score comparable with a test split)"
    source = job.spec.get("test_dataset") or f"{job.spec['test_size']:g} of the rows"
    rows = result["test_rows"]
    return f"{rows} rows ({source}), held out before the search, never used to choose"


def _profile_warnings(workspace: Context, job: Job) -> str:
    """The warnings of the data set's stored profile (for the target), as the profile holds them
    now; the ones the job recorded when no profile is stored."""
    from kiln.errors import NotFound
    from kiln.profile import stored_profile

    try:
        dataset = workspace.data.get_by_id(job.spec["dataset_version_id"])
        profile = stored_profile(workspace, dataset, job.spec["target"])
    except NotFound:  # the data set was deleted; the job's record remains
        profile = None
    if profile is not None:
        warnings = [w["message"] for w in profile.facts.get("warnings", [])]
        where = f"the stored profile of {profile.dataset} (target {job.spec['target']!r})"
    elif "profile" in job.result:
        warnings = job.result.get("profile_warnings") or []
        where = "the profile the job read"
    else:
        return note(
            f"No stored profile of {job.spec['dataset']} for target {job.spec['target']!r}; "
            f"'kiln data profile {job.spec['dataset']} --target {job.spec['target']}' makes one."
        )
    if not warnings:
        return note(f"No warnings in {where}.")
    return note(f"{len(warnings)} warning(s) in {where}:") + bullets(warnings)


def recipe_label(row: dict) -> str:
    """A leaderboard row's recipe, with its target transform when it has one."""
    transform = row.get("target_transform")
    if transform in (None, "none"):
        return row["recipe"]
    return f"{row['recipe']}, {transform} target"


def floor_line(result: dict) -> str | None:
    """One line on the floor check (None for a job from before it existed)."""
    floor = result.get("floor")
    if not floor or not floor.get("candidates"):
        return None
    metric = result["metric"]
    best = floor["best"]
    line = (
        f"{metric} {floor['chosen']} out-of-fold against {best[metric]} for the best "
        f"default-settings candidate ({best['algorithm']}, trial {best['trial']})"
    )
    if floor.get("missing"):
        line += f"; {', '.join(floor['missing'])} did not finish in time"
    return line


def calibration_line(result: dict) -> str | None:
    """One line on the post-hoc calibration (None for regression or an older job)."""
    calibration = result.get("calibration")
    if not calibration:
        return None
    chosen = calibration["chosen"]
    tried = calibration["cross_validated"]
    if chosen["method"] == "none":
        return "none: neither temperature nor isotonic scaling improved it (cross-validated)"
    detail = f" (T = {chosen['temperature']})" if chosen["method"] == "temperature" else ""
    return (
        f"{chosen['method']}{detail}: cross-validated log loss {tried['none']['log_loss']} → "
        f"{tried[chosen['method']]['log_loss']}"
    )
