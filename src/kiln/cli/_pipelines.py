"""``kiln pipelines``: run pipeline files, inspect executions step by step, resume, schedule."""

from __future__ import annotations

import re
from contextlib import contextmanager
from pathlib import Path

import typer
from rich.text import Text

from kiln.cli._common import (
    App,
    JsonOption,
    console,
    err_console,
    parse_key_values,
    print_json,
    table,
    workspace,
)

__all__ = ["app"]

app = App(
    help="Pipelines: DAGs of steps run as cached, resumable executions.", no_args_is_help=True
)

_STYLES = {
    "Completed": "green",
    "Cached": "cyan",
    "Skipped": "yellow",
    "Failed": "red",
    "InProgress": "bold",
    "Pending": "dim",
}
ParamOption = typer.Option(
    None, "--param", "-p", help="A parameter, NAME=VALUE (repeatable); checked against its type."
)


@contextmanager
def _progress(total: int, *, quiet: bool):
    """A bar over the steps, fed by the execution's ``[step] Completed|Cached|Skipped`` lines."""
    if quiet:
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    ended = re.compile(r"^\[(\w+)\] (Completed|Cached|Skipped|Running)")
    with Progress(
        TextColumn("[bold]Pipeline"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[step]}", style="dim"),
        console=err_console,
    ) as progress:
        task = progress.add_task("pipeline", total=total, step="")

        def on_log(message: str) -> None:
            progress.console.print(Text(f"  {message}", style="dim"))
            match = ended.match(message)
            if match and match.group(2) == "Running":
                progress.update(task, step=f"{match.group(1)} running")
            elif match:
                progress.update(task, advance=1, step=f"{match.group(1)} {match.group(2).lower()}")

        yield on_log


def _seconds(value: float | None) -> str:
    return "" if value is None else f"{value:.1f} s"


def _outputs(outputs: dict) -> str:
    shown = [f"{k}={v}" for k, v in outputs.items() if not isinstance(v, dict | list)]
    return ", ".join(shown)


def _print_execution(execution) -> None:
    job = execution.job
    trigger = job.spec.get("trigger") or "manual"
    console.print(
        f"Execution [bold]{job.id}[/] of {job.spec.get('pipeline')}:{job.spec.get('version')} "
        f"— [{_STYLES.get(job.status, '')}]{job.status}[/] "
        f"({_seconds(job.duration_seconds)}; trigger: {trigger})"
    )
    params = job.spec.get("params") or {}
    if params:
        console.print("params: " + ", ".join(f"{k}={v}" for k, v in params.items()))
    table(
        None,
        ["step", "type", "status", "time", "tries", "why", "outputs", "job"],
        [
            [
                s.step,
                s.type,
                s.status,
                _seconds(s.duration_seconds),
                str(s.attempts),
                s.reason or "",
                _outputs(s.outputs),
                s.job_id or "",
            ]
            for s in execution.steps
        ],
    )
    if job.failure_reason:
        console.print(f"[red]{job.failure_reason}[/]")


def _watch(ws, steps: int, start, *, quiet: bool, as_json: bool) -> None:
    """Run an execution with a progress bar, then print it step by step (also when it failed,
    before its error)."""
    from kiln.errors import KilnError

    try:
        with _progress(steps, quiet=quiet or as_json) as on_log:
            execution = start(on_log)
    except KilnError as exc:
        if exc.job_id:
            _print_execution(ws.pipelines.execution(exc.job_id))
        raise
    if as_json:
        print_json(execution.to_dict())
        return
    _print_execution(execution)


@app.command("run")
def pipelines_run(
    ctx: typer.Context,
    file: str = typer.Argument(..., help="A pipeline YAML file, or a stored pipeline's name."),
    param: list[str] = ParamOption,
    no_cache: bool = typer.Option(False, "--no-cache", help="Run every step; use no cache."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress."),
    as_json: bool = JsonOption,
) -> None:
    """Run a pipeline as an execution job; unchanged steps come from the cache."""
    from kiln.pipelines import load_pipeline

    ws = workspace(ctx)
    params = parse_key_values(param, option="--param")
    is_file = Path(file).suffix in (".yaml", ".yml") or Path(file).exists()
    steps = len(load_pipeline(file).steps if is_file else ws.pipelines.get(file).pipeline.steps)
    _watch(
        ws,
        steps,
        lambda on_log: ws.pipelines.run(file, params=params, no_cache=no_cache, on_log=on_log),
        quiet=quiet,
        as_json=as_json,
    )


@app.command("resume")
def pipelines_resume(
    ctx: typer.Context,
    execution_id: str = typer.Argument(..., metavar="EXECUTION"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress."),
    as_json: bool = JsonOption,
) -> None:
    """Resume a failed execution from its failed step; completed steps are kept."""
    ws = workspace(ctx)
    before = ws.pipelines.execution(execution_id)
    _watch(
        ws,
        len(before.steps),
        lambda on_log: ws.pipelines.resume(before.id, on_log=on_log),
        quiet=quiet,
        as_json=as_json,
    )


@app.command("list")
def pipelines_list(ctx: typer.Context, as_json: bool = JsonOption) -> None:
    """The pipelines (latest version of each) and their last execution."""
    ws = workspace(ctx)
    pipelines = ws.pipelines.list()
    if as_json:
        print_json([p.to_dict() for p in pipelines])
        return
    rows = []
    for record in pipelines:
        last = ws.pipelines.executions(record.name, limit=1)
        rows.append(
            [
                record.name,
                str(record.version),
                str(len(record.definition.get("steps") or {})),
                record.source or "(Python)",
                f"{last[0].id} {last[0].status}" if last else "",
            ]
        )
    table("Pipelines", ["name", "version", "steps", "source", "last execution"], rows)


@app.command("show")
def pipelines_show(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="NAME or NAME:VERSION."),
    as_json: bool = JsonOption,
) -> None:
    """A pipeline's parameters, and its steps in the order they run with what each needs."""
    record = workspace(ctx).pipelines.get(name)
    if as_json:
        print_json(record.to_dict())
        return
    pipeline = record.pipeline
    console.print(
        f"Pipeline [bold]{record.ref}[/] ({record.source or 'Python'}): {pipeline.description}"
    )
    if pipeline.params:
        table(
            "Parameters",
            ["name", "type", "default", "description"],
            [[p.name, p.type, str(p.default), p.description] for p in pipeline.params],
        )
    table(
        "Steps",
        ["step", "type", "after", "cache", "retry"],
        [
            [
                s.name,
                s.type,
                ", ".join(s.upstream()),
                "yes" if s.cache else "no",
                str(s.retry.get("attempts", 1)),
            ]
            for s in (pipeline.step(n) for n in pipeline.order())
        ],
    )


@app.command("executions")
def pipelines_executions(
    ctx: typer.Context,
    name: str = typer.Argument(None, help="Only this pipeline's executions."),
    limit: int = typer.Option(20, "--limit", help="At most this many, newest first."),
    as_json: bool = JsonOption,
) -> None:
    """Executions, newest first, with how many steps ran and came from the cache."""
    executions = workspace(ctx).pipelines.executions(name, limit=limit)
    if as_json:
        print_json([e.to_dict() for e in executions])
        return

    def count(execution, status: str) -> str:
        return str(sum(1 for s in execution.steps if s.status == status))

    table(
        "Executions",
        ["execution", "pipeline", "status", "started (UTC)", "time", "ran", "cached", "skipped"],
        [
            [
                e.id,
                f"{e.pipeline}:{e.job.spec.get('version')}",
                e.status,
                f"{e.job.created_at:%Y-%m-%d %H:%M:%S}",
                _seconds(e.job.duration_seconds),
                count(e, "Completed"),
                count(e, "Cached"),
                count(e, "Skipped"),
            ]
            for e in executions
        ],
    )


@app.command("execution")
def pipelines_execution(
    ctx: typer.Context,
    execution_id: str = typer.Argument(..., metavar="EXECUTION"),
    logs: bool = typer.Option(False, "--logs", help="Also print the execution's log."),
    as_json: bool = JsonOption,
) -> None:
    """One execution step by step: status, time, attempts, why it ran, outputs, job."""
    ws = workspace(ctx)
    execution = ws.pipelines.execution(execution_id)
    if as_json:
        payload = execution.to_dict()
        if logs:
            payload["logs"] = [m for _, _, _, m in ws.pipelines.logs(execution.id)]
        print_json(payload)
        return
    _print_execution(execution)
    if logs:
        for _seq, at, level, message in ws.pipelines.logs(execution.id):
            style = "red" if level == "ERROR" else ("yellow" if level == "WARNING" else "")
            console.print(Text(f"{at:%H:%M:%S} {message}", style=style))


@app.command("schedule")
def pipelines_schedule(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="A stored pipeline (run it once first)."),
    cron: str = typer.Option(None, "--cron", help='A cron expression (UTC), e.g. "0 3 * * *".'),
    on_data: str = typer.Option(
        None, "--on-data", help="Run when this data set gets a new version."
    ),
    data_param: str = typer.Option(
        "data", "--data-param", help="The parameter that takes the new version (--on-data)."
    ),
    param: list[str] = ParamOption,
    as_json: bool = JsonOption,
) -> None:
    """Run a pipeline on a cron schedule or on each new version of a data set.

    'kiln scheduler' starts the executions. An alarm starts one with the action pipeline:NAME."""
    schedule = workspace(ctx).pipelines.schedule(
        name,
        cron=cron,
        on_data=on_data,
        data_param=data_param,
        params=parse_key_values(param, option="--param"),
    )
    if as_json:
        print_json(schedule.to_dict())
        return
    when = (
        f"when {on_data} has a new version (looked for at {schedule.expression})"
        if on_data
        else f"at {schedule.expression} (UTC)"
    )
    console.print(
        f"Schedule [bold]{schedule.name}[/]: pipeline {name} {when}; next look "
        f"{schedule.next_run_at:%Y-%m-%d %H:%M} UTC. 'kiln scheduler' starts it."
    )


@app.command("step-types")
def pipelines_step_types(as_json: bool = JsonOption) -> None:
    """The step types, their fields and outputs."""
    from kiln.pipelines import STEP_TYPES

    if as_json:
        print_json(
            {
                t.name: {
                    "required": list(t.required),
                    "one_of": list(t.one_of),
                    "optional": list(t.optional),
                    "outputs": list(t.outputs),
                    "description": t.description,
                }
                for t in STEP_TYPES.values()
            }
        )
        return
    table(
        "Step types",
        ["type", "needs", "may take", "outputs", "what"],
        [
            [
                t.name,
                ", ".join(t.required) + (" one of " + "|".join(t.one_of) if t.one_of else ""),
                ", ".join(t.optional),
                ", ".join(t.outputs) or "(its 'outputs', default data)",
                t.description,
            ]
            for t in STEP_TYPES.values()
        ],
    )
