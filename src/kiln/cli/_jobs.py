"""``kiln jobs``: list, show, read the logs of, wait for, cancel and report on jobs."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import typer

from kiln.cli._common import (
    App,
    JsonOption,
    console,
    err_console,
    fields,
    format_hyperparameters,
    metrics_table,
    print_json,
    table,
    workspace,
)
from kiln.reports import format_value

JobIdArgument = typer.Argument(..., help="The job's id, or a unique prefix of it (train-cd48).")

app = App(help="Training, transform and other long-running jobs.", no_args_is_help=True)


@app.command("list")
def list_(
    ctx: typer.Context,
    kind: str = typer.Option(None, "--kind", help="training, tuning, automl, transform, ..."),
    status: str = typer.Option(
        None, "--status", help="Pending, InProgress, Completed, Failed or Stopped."
    ),
    limit: int = typer.Option(50, "--limit", help="Jobs to list at most (0: all)."),
    all_jobs: bool = typer.Option(
        False, "--all", help="Also the trials of tuning jobs, each under its tuning job."
    ),
    parent: str = typer.Option(
        None, "--parent", help="Only the jobs this job started (a tuning job's trials)."
    ),
    as_json: bool = JsonOption,
) -> None:
    """List the newest jobs first; trials are counted on their job's row (--all lists them)."""
    service = workspace(ctx).jobs
    jobs = service.list(
        kind=kind,
        status=status,
        parent_id=parent,
        limit=limit or None,
        top_level=not (all_jobs or parent),
    )
    if as_json:
        print_json([j.to_dict() for j in jobs])
        return
    if all_jobs:
        rows = [[*_row(job, depth), _own_trials(job)] for job, depth in _nested(jobs)]
    else:
        counts = service.child_counts([j.id for j in jobs])
        rows = [[*_row(job, 0), counts.get(job.id) or _own_trials(job)] for job in jobs]
    table("Jobs", ["job", "kind", "status", "created", "seconds", "result", "trials"], rows)


def _own_trials(job) -> int | str:
    """The trials an AutoML job ran in its own process (they are no jobs): its result counts
    them."""
    trials = job.result.get("trials")
    return trials if isinstance(trials, int) and not isinstance(trials, bool) else ""


def _nested(jobs: list) -> list[tuple]:
    """``(job, depth)`` in list order, each job's trials (oldest first) under it."""
    listed = {job.id for job in jobs}
    children: dict[str, list] = {}
    for job in jobs:
        if job.parent_id in listed:
            children.setdefault(job.parent_id, []).append(job)
    out: list[tuple] = []

    def add(job, depth: int) -> None:
        out.append((job, depth))
        for child in sorted(children.get(job.id, []), key=lambda j: (j.created_at, j.id)):
            add(child, depth + 1)

    for job in jobs:
        if job.parent_id not in listed:
            add(job, 0)
    return out


def _row(job, depth: int) -> list:
    return [
        "  " * depth + ("└ " if depth else "") + job.id,
        job.kind,
        job.status,
        f"{job.created_at:%Y-%m-%d %H:%M:%S}",
        f"{job.duration_seconds:.1f}" if job.duration_seconds is not None else None,
        _result(job),
    ]


def _result(job) -> str:
    """What the job made: the model it registered, or the file it wrote; why it did not end
    well; the words of a long reason shortened, never an id or a path."""
    result = job.result
    if job.status in ("Failed", "Stopped"):
        reason = (job.failure_reason or "").strip().splitlines()
        text = textwrap.shorten(reason[-1] if reason else "", width=70, placeholder=" …")
        return f"{job.failure_code}: {text}" if job.failure_code else text
    model = result.get("model") or (result.get("best") or {}).get("model")
    if result.get("output"):
        rows = f" ({result['rows']} rows)" if result.get("rows") is not None else ""
        return f"{result['output']}{rows}"
    if model:
        return f"model {model}"
    return ""


@app.command()
def show(ctx: typer.Context, job_id: str = JobIdArgument, as_json: bool = JsonOption) -> None:
    """Show a job: status, timings, spec, result and metrics."""
    from kiln.store import now

    ws = workspace(ctx)
    job = ws.jobs.get(job_id)
    series = ws.jobs.metrics(job.id)
    if as_json:
        print_json(
            job.to_dict() | {"metric_series": {k: [list(p) for p in v] for k, v in series.items()}}
        )
        return
    summary = {
        "kind": job.kind,
        "status": job.status,
        "started by": job.parent_id,
        "failure reason": job.failure_reason,
        "failure code": job.failure_code,
        "process": (
            f"pid {job.pid} on {job.host}, last heartbeat "
            f"{(now() - job.heartbeat_at).total_seconds():.0f} s ago"
            if job.status in ("Pending", "InProgress") and job.host and job.heartbeat_at
            else None
        ),
        "created": f"{job.created_at:%Y-%m-%d %H:%M:%S} by {job.created_by}",
        "seconds": f"{job.duration_seconds:.1f}" if job.duration_seconds is not None else None,
        "experiment": job.experiment,
    }
    fields(f"Job {job.id}", {k: v for k, v in summary.items() if v is not None})
    _record("Spec", job.spec)
    result = job.result
    if job.kind == "automl" and result.get("metrics"):
        from kiln.problems import legacy_automl_metrics

        result = result | {"metrics": legacy_automl_metrics(result["metrics"])}
    _record("Result", result)
    for name, points in series.items():
        console.print(f"[bold]{name}[/]: {len(points)} steps, last {points[-1][1]:.5f}")


# The keys under which a spec or result holds hyperparameters (a tuning trial's are "params").
HYPERPARAMETER_KEYS = ("hyperparameters", "params")


def _record(title: str, record: dict) -> None:
    """A job's spec or result as ``key  value`` lines; ``metrics`` by split as a table, a list
    of records (a tuning job's trials) as a table, hyperparameters as ``name=value``."""
    lines: dict[str, Any] = {}
    tables: list[tuple[str, Any]] = []

    def walk(key: str, value: Any) -> None:
        name = key.rpartition(".")[2]
        if value in (None, {}, []):
            return
        if name in HYPERPARAMETER_KEYS and isinstance(value, dict):
            lines[key] = format_hyperparameters(value)
        elif name == "metrics" and _by_split(value):
            tables.append((key, value))
        elif isinstance(value, dict) and value:
            for sub, item in value.items():
                walk(f"{key}.{sub}" if key else str(sub), item)
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            tables.append((key, value))
        elif isinstance(value, list):
            lines[key] = ", ".join(map(str, value))
        else:
            lines[key] = format_value(value) if isinstance(value, float) else value

    walk("", record)
    if lines:
        fields(title, lines)
    for key, value in tables:
        if isinstance(value, dict):
            metrics_table(value, title=f"{title}: {key}")
            continue
        columns = list(dict.fromkeys(k for item in value for k in item))
        table(
            f"{title}: {key} ({len(value)})",
            columns,
            [[_cell(name, item.get(name)) for name in columns] for item in value],
        )


def _by_split(value: Any) -> bool:
    return (
        isinstance(value, dict) and bool(value) and all(isinstance(v, dict) for v in value.values())
    )


def _cell(name: str, value: Any) -> str | None:
    if name in HYPERPARAMETER_KEYS and isinstance(value, dict):
        return format_hyperparameters(value)
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items())
    if isinstance(value, list):
        return ", ".join(map(str, value))
    return value


@app.command()
def logs(ctx: typer.Context, job_id: str = JobIdArgument) -> None:
    """Print a job's log, tracebacks included."""
    for _seq, time, level, message in workspace(ctx).jobs.logs(job_id):
        print(f"{time:%H:%M:%S} {level:<7} {message}")


# Exit statuses of 'kiln jobs wait' (and 'kiln jobs cancel'); 1 and 2 stay a bug and a
# KilnError, as for every command. See docs/training.md.
# One table of exit statuses for every command: docs/cli.md (3 is kiln train's unmet criteria).
EXIT_BY_STATUS = {"Completed": 0, "Failed": 4, "Stopped": 5}
EXIT_TIMEOUT = 6


@app.command()
def wait(
    ctx: typer.Context,
    job_id: str = JobIdArgument,
    timeout: float = typer.Option(
        None, "--timeout", help="Seconds to wait at most (default: until it ends)."
    ),
    as_json: bool = JsonOption,
) -> None:
    """Wait until a job ends; the exit status says how it ended.

    Exit status 0: Completed; 3: Failed; 4: Stopped; 5: still running at --timeout."""
    from kiln.errors import StateError

    service = workspace(ctx).jobs
    job = service.get(job_id)
    try:
        with err_console.status(f"Waiting for job {job.id} ({job.status})"):
            job = service.wait(job.id, timeout=timeout)
    except StateError as exc:
        if exc.code != "jobs.wait-timeout":
            raise
        err_console.print(exc.message, soft_wrap=True)
        raise typer.Exit(EXIT_TIMEOUT) from None
    _ended(job, as_json=as_json)


@app.command()
def cancel(
    ctx: typer.Context,
    job_id: str = JobIdArgument,
    reason: str = typer.Option(None, "--reason", help="Why, kept as the job's failure reason."),
    as_json: bool = JsonOption,
) -> None:
    """Stop a Pending or InProgress job and wait (30 s at most) until it has stopped."""
    from kiln.errors import StateError

    service = workspace(ctx).jobs
    job = service.cancel(job_id, reason=reason)
    try:
        with err_console.status(f"Stopping job {job.id}"):
            job = service.wait(job.id, timeout=30)
    except StateError as exc:
        if exc.code != "jobs.wait-timeout":
            raise
        err_console.print(
            f"Job {job.id} was asked to stop but is still {service.get(job.id).status} after "
            f"30 s. See 'kiln jobs wait {job.id}'.",
            soft_wrap=True,
        )
        raise typer.Exit(EXIT_TIMEOUT) from None
    _ended(job, as_json=as_json)


def _ended(job, *, as_json: bool) -> None:
    """Print how a job ended and exit with the status that says it."""
    if as_json:
        print_json(job.to_dict())
    else:
        seconds = f" after {job.duration_seconds:.1f} s" if job.duration_seconds is not None else ""
        made = _result(job) if job.status == "Completed" else job.failure_reason
        console.print(f"Job {job.id} {job.status}{seconds}" + (f": {made}" if made else "."))
    exit_status = EXIT_BY_STATUS[job.status]
    if exit_status:
        raise typer.Exit(exit_status)


@app.command("report")
def report_(
    ctx: typer.Context,
    job_id: str = typer.Argument(
        ...,
        help="A completed training, tuning, AutoML, forecasting or training script job: its id, "
        "or a unique prefix of it.",
    ),
    out: Path = typer.Option(
        None, "--out", help="The HTML file (default: <workspace>/reports/<job id>.html)."
    ),
    learning_curve: bool = typer.Option(
        True,
        "--learning-curve/--no-learning-curve",
        help="Refit on 10%…100% of the training split for the learning curve.",
    ),
    as_json: bool = JsonOption,
) -> None:
    """Write the HTML report of a completed job (training, tuning, AutoML, forecasting, script).

    For a training job its evaluation (metrics, curves, calibration, learning curve, feature
    importance, bias/variance diagnosis); for a tuning job its trials; for an AutoML job its
    leaderboard and ensemble; for a forecasting job its backtest (metrics by step, forecasts
    against actuals, the worst series); for a training script job what it ran and logged. One
    HTML page, with plotly.js in a file beside it."""
    ws = workspace(ctx)
    if as_json:
        print_json(ws.report(job_id, out=out, learning_curve=learning_curve).to_dict())
        return
    with err_console.status(f"Building the report of job {job_id}"):
        result = ws.report(job_id, out=out, learning_curve=learning_curve)
    size = result.path.stat().st_size / 1e6
    console.print(
        f"Report written to [bold]{result.path}[/] ({size:.1f} MB, {result.seconds:.1f} s)."
    )
    if result.diagnosis is None:
        return
    verdict = result.diagnosis["verdict"]
    if verdict == "tuning":
        return
    colour = {"balanced": "green", "overfitting": "red", "underfitting": "yellow"}.get(verdict)
    console.print(f"Diagnosis: [{colour or 'bold'}]{verdict}[/]")
    for line in result.diagnosis["evidence"]:
        console.print(f"  • {line}", highlight=False)
    for line in result.diagnosis["suggestions"]:
        console.print(f"  → {line}", highlight=False)
