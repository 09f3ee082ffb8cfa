"""The HTML report of a tuning job: trials, optimisation history, parameter importance, and
slice and contour plots (Optuna's own plotly figures, from a study rebuilt from the trials)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

from kiln.algorithms import get_algorithm
from kiln.reports import JobReport, Section, fields, figure, note, render, table, write
from kiln.tuning._space import parse_range

if TYPE_CHECKING:
    from kiln.compute import Job
    from kiln.context import Context


def study_of(workspace: Context, job: Job):
    """An in-memory Optuna study holding the tuning job's completed trials, by hyperparameter."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    algorithm = get_algorithm(job.spec["training"]["algorithm"])
    space = [parse_range(text, algorithm) for text in job.spec["space"]]
    study = optuna.create_study(direction=job.spec["direction"])
    for trial in job.result["trials"]:
        if trial["status"] != "Completed" or trial["value"] is None:
            continue
        values = {r.name: trial["hyperparameters"][r.name] for r in space}
        distributions = {r.name: _distribution(r) for r in space}
        study.add_trial(
            optuna.trial.create_trial(
                params=values, distributions=distributions, value=trial["value"]
            )
        )
    return study


def _distribution(r):
    import optuna

    if r.kind == "categorical":
        return optuna.distributions.CategoricalDistribution(list(r.choices))
    if r.kind == "int":
        return optuna.distributions.IntDistribution(int(r.low), int(r.high), log=r.scale == "log")
    return optuna.distributions.FloatDistribution(r.low, r.high, log=r.scale == "log")


def tuning_report(workspace: Context, job: Job, *, out=None, **_options):
    """Write the report of a completed tuning job; returns a JobReport."""
    import optuna.visualization as vis

    started = time.perf_counter()
    result, spec = job.result, job.spec
    study = study_of(workspace, job)
    names = [text.split("=", 1)[0] for text in spec["space"]]
    objective = spec["objective"]
    best = result["best"]
    sections = [
        Section(
            "Summary",
            fields(
                {
                    "Algorithm": spec["training"]["algorithm"],
                    "Data set": spec["training"]["dataset"],
                    "Objective": f"{spec['direction']} {objective} (validation, or CV mean)",
                    "Strategy": spec["strategy"]
                    + (
                        " with median early stopping"
                        if spec.get("early_stopping") == "auto"
                        else ""
                    ),
                    "Search space": ", ".join(spec["space"]),
                    "Trials": f"{len(result['trials'])} "
                    f"({sum(t['status'] == 'Completed' for t in result['trials'])} completed)",
                    "Best": f"trial {best['trial']} (job {best['job']}): {objective} "
                    f"{best['value']}; registered {best['model']}",
                }
            ),
        ),
        Section(
            "Trials",
            table(
                ["trial", "job", "status", *names, objective],
                [
                    [
                        t["trial"],
                        t["job"],
                        t["status"],
                        *[t["hyperparameters"].get(n) for n in names],
                        t["value"],
                    ]
                    for t in result["trials"]
                ],
            ),
        ),
    ]
    completed = len(study.trials)
    if completed:
        sections.append(
            Section("Optimisation history", figure(vis.plot_optimization_history(study)))
        )
        sections.append(Section("Slice plots", figure(vis.plot_slice(study))))
    if completed >= 2 and len(names) >= 1:
        try:
            importance = figure(vis.plot_param_importances(study))
        except (RuntimeError, ValueError) as exc:  # e.g. every trial scored the same
            importance = note(f"Parameter importance is not defined here: {exc}")
        sections.append(Section("Parameter importance", importance))
    if completed >= 3 and len(names) >= 2:
        sections.append(
            Section("Contour plots", figure(vis.plot_contour(study, params=names[:4]), height=700))
        )
    if completed < 2:
        sections.append(Section("Plots", note("Fewer than two completed trials to compare.")))
    path = Path(out) if out else Path(workspace.home) / "reports" / f"{job.id}.html"
    write(path, render(f"Tuning job {job.id}", sections, toc=True))
    return JobReport(
        path=path,
        job_id=job.id,
        diagnosis={"verdict": "tuning", "evidence": [], "suggestions": []},
        metrics=best["metrics"],
        seconds=time.perf_counter() - started,
        sections=[s.title for s in sections],
    )
