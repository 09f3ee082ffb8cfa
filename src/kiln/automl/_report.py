"""The HTML report of an AutoML job: summary, leaderboard, trials over time, the ensemble's
weights, permutation importance, SHAP values and the data profile's warnings."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

from kiln.reports import JobReport, Section, bullets, fields, figure, note, render, table, write

if TYPE_CHECKING:
    from kiln.compute import Job
    from kiln.context import Context


def automl_report(workspace: Context, job: Job, *, out=None, **_options):
    """Write the report of a completed AutoML job; returns a JobReport."""
    import plotly.graph_objects as go

    started = time.perf_counter()
    result = job.result
    metric = result["metric"]
    board = result["leaderboard"]
    trials = [r for r in board if r["trial"] is not None]
    sections = [
        Section(
            "Summary",
            fields(
                {
                    "Data set": job.spec["dataset"],
                    "Target": job.spec["target"],
                    "Problem type": result["problem_type"],
                    "Metric": f"{metric} ({result['validation']}, out of fold)",
                    "Time limit": f"{result['time_limit']:g} s "
                    f"(whole run {result['total_seconds']:.1f} s)",
                    "Trials": f"{result['trials']} "
                    f"({sum(r['state'] == 'complete' for r in trials)} completed)",
                    "Model": f"{result['model']}: {metric} {result['score']} out of fold",
                    "Best single candidate": f"trial {result['best_single']['trial']} "
                    f"({result['best_single']['algorithm']}): "
                    f"{result['best_single'][metric]}",
                    "Decision threshold": result.get("threshold") or "0.5 (default)",
                }
            ),
        ),
        Section(
            "Leaderboard",
            table(
                ["rank", "trial", "algorithm", "recipe", metric, "fit s", "weight", "state"],
                [
                    [
                        r["rank"],
                        r["trial"],
                        r["algorithm"],
                        r["recipe"],
                        r[metric],
                        r["fit_seconds"],
                        r["weight"],
                        r["state"],
                    ]
                    for r in board
                ],
            )
            + note(
                "Scores are out of fold: each row's predictions come from models that did not "
                "see it. Rank 0 is the ensemble; its weights say how much each member counts."
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
            y=[f"{m['algorithm']} (trial {m['trial']}, {m['recipe']})" for m in result["ensemble"]],
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
    warnings = result.get("profile_warnings") or []
    sections.append(
        Section(
            "Data profile warnings",
            bullets(warnings) if warnings else note("The profile raised no warnings."),
        )
    )
    path = Path(out) if out else Path(workspace.home) / "reports" / f"{job.id}.html"
    write(path, render(f"AutoML job {job.id}", sections, toc=True, plotly_bundle="cartesian"))
    return JobReport(
        path=path,
        job_id=job.id,
        diagnosis={"verdict": "automl", "evidence": [], "suggestions": []},
        metrics=result["metrics"],
        seconds=time.perf_counter() - started,
        sections=[s.title for s in sections],
    )
