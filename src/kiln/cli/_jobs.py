"""``kiln jobs``: list, show, read the logs of, and report on jobs."""

from __future__ import annotations

from pathlib import Path

import typer

from kiln.cli._common import (
    JsonOption,
    console,
    err_console,
    fields,
    metrics_table,
    print_json,
    table,
    workspace,
)

app = typer.Typer(help="Training, transform and other long-running jobs.", no_args_is_help=True)


@app.command("list")
def list_(
    ctx: typer.Context,
    kind: str = typer.Option(None, "--kind", help="training, transform, ..."),
    status: str = typer.Option(
        None, "--status", help="Pending, InProgress, Completed, Failed, Stopped"
    ),
    limit: int = typer.Option(50, "--limit"),
    as_json: bool = JsonOption,
) -> None:
    """List the newest jobs first."""
    jobs = workspace(ctx).jobs.list(kind=kind, status=status, limit=limit)
    if as_json:
        print_json([j.to_dict() for j in jobs])
        return
    table(
        "Jobs",
        ["job", "kind", "status", "created", "seconds", "result"],
        [
            [
                j.id,
                j.kind,
                j.status,
                f"{j.created_at:%Y-%m-%d %H:%M:%S}",
                f"{j.duration_seconds:.1f}" if j.duration_seconds is not None else None,
                j.result.get("model") or j.result.get("output") or (j.failure_reason or "")[:60],
            ]
            for j in jobs
        ],
    )


@app.command()
def show(ctx: typer.Context, job_id: str = typer.Argument(...), as_json: bool = JsonOption) -> None:
    """Show a job: spec, status, timings, metrics."""
    from kiln.store import now

    ws = workspace(ctx)
    job = ws.jobs.get(job_id)
    series = ws.jobs.metrics(job_id)
    if as_json:
        print_json(
            job.to_dict() | {"metric_series": {k: [list(p) for p in v] for k, v in series.items()}}
        )
        return
    fields(
        f"Job {job.id}",
        {
            "kind": job.kind,
            "status": job.status,
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
            **{f"spec.{k}": v for k, v in job.spec.items()},
            **{f"result.{k}": v for k, v in job.result.items() if k != "metrics"},
        },
    )
    if job.result.get("metrics"):
        metrics_table(job.result["metrics"])
    for name, points in series.items():
        console.print(f"[bold]{name}[/]: {len(points)} steps, last {points[-1][1]:.5f}")


@app.command()
def logs(ctx: typer.Context, job_id: str = typer.Argument(...)) -> None:
    """Print a job's log, tracebacks included."""
    for _seq, time, level, message in workspace(ctx).jobs.logs(job_id):
        print(f"{time:%H:%M:%S} {level:<7} {message}")


@app.command("report")
def report_(
    ctx: typer.Context,
    job_id: str = typer.Argument(..., help="A completed training, tuning or AutoML job."),
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
    """Write a job's report as one self-contained HTML page: for a training job its evaluation
    (metrics, curves, calibration, learning curve, feature importance, bias/variance diagnosis);
    for a tuning job its trials; for an AutoML job its leaderboard and ensemble."""
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
    verdict = result.diagnosis["verdict"]
    if verdict == "tuning":
        return
    colour = {"balanced": "green", "overfitting": "red", "underfitting": "yellow"}.get(verdict)
    console.print(f"Diagnosis: [{colour or 'bold'}]{verdict}[/]")
    for line in result.diagnosis["evidence"]:
        console.print(f"  • {line}", highlight=False)
    for line in result.diagnosis["suggestions"]:
        console.print(f"  → {line}", highlight=False)
