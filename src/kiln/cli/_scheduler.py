"""``kiln scheduler``: run due monitors and retrainings, show the schedules, add or remove a
retraining schedule."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer

from kiln.cli._common import App, JsonOption, console, err_console, print_json, table, workspace

app = App(
    help="Run due monitors and retrainings on their schedules (one process; or 'kiln serve "
    "--scheduler').",
)


def _when(value: str | None) -> str:
    return "" if not value else value.replace("T", " ")[:19]


def _say(event: dict) -> None:
    if event["event"] == "started":
        if "error" in event:
            err_console.print(f"[red]{event['schedule']} could not start:[/] {event['error']}")
        else:
            console.print(
                f"Started {event['schedule']}: job {event['job_id']} (next run "
                f"{_when(event['next_run_at'])} UTC)"
            )
    elif event["event"] == "alarm":
        console.print(f"Alarm {event['alarm']}: {event['old_state']} → {event['new_state']}")
    else:
        err_console.print(f"[red]Scheduler poll failed:[/] {event['error']}")


@contextmanager
def scheduler_thread(ws, *, enabled: bool) -> Iterator[None]:
    """``kiln serve --scheduler``: the scheduler in a thread beside the server, stopped (and
    signed off) when the server stops."""
    if not enabled:
        yield
        return
    import threading

    from kiln.monitoring import Scheduler

    stop = threading.Event()
    scheduler = Scheduler(ws)
    thread = threading.Thread(
        target=scheduler.run_forever,
        args=(stop,),
        kwargs={"on_event": _say},
        name="kiln-scheduler",
        daemon=True,
    )
    thread.start()
    err_console.print(f"Scheduler {scheduler.owner} running beside the server.")
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=30)


@app.callback(invoke_without_command=True)
def scheduler_run(
    ctx: typer.Context,
    poll: float = typer.Option(10.0, "--poll", help="Seconds between looks at the schedules."),
    once: bool = typer.Option(
        False, "--once", help="Start what is due now, evaluate the endpoint alarms, and exit."
    ),
) -> None:
    """Run the scheduler until Ctrl-C (or SIGTERM); subcommands manage the schedules."""
    if ctx.invoked_subcommand is not None:
        return
    import signal
    import threading

    from kiln.errors import ConfigError
    from kiln.monitoring import Scheduler, evaluate_alarms

    if not poll > 0:
        raise ConfigError(
            f"--poll takes a number of seconds above 0. Got {poll!r}.", code="scheduler.bad-poll"
        )
    ws = workspace(ctx)
    scheduler = Scheduler(ws)
    if once:
        started = scheduler.run_once()
        changes = evaluate_alarms(ws, source="endpoint")
        for entry in started:
            _say({"event": "started", **entry})
        for change in changes:
            _say({"event": "alarm", **change})
        if not started and not changes:
            console.print("Nothing was due, and no endpoint alarm changed state.")
        return
    stop = threading.Event()
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    for sig in previous:
        signal.signal(sig, lambda *_: stop.set())
    err_console.print(
        f"Scheduler {scheduler.owner} running (a look every {poll:g} s); Ctrl-C stops it."
    )
    try:
        scheduler.run_forever(stop, poll_seconds=poll, on_event=_say)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    err_console.print("Scheduler stopped.")


@app.command("status")
def scheduler_status(ctx: typer.Context, as_json: bool = JsonOption) -> None:
    """The schedules (next and last run, last job, lease owner) and whether a scheduler runs."""
    from kiln.monitoring import ScheduleService

    status = ScheduleService(workspace(ctx)).status()
    if as_json:
        print_json(status)
        return
    table(
        "Schedules (UTC)",
        ["name", "kind", "schedule", "next run", "last run", "last job", "lease owner"],
        [
            [
                s["name"],
                s["kind"],
                s["expression"],
                _when(s["next_run_at"]) + (" (due)" if s["due"] else ""),
                _when(s["last_run_at"]),
                s["last_job_id"],
                s["lease_owner"],
            ]
            for s in status["schedules"]
        ],
    )
    alive = [s for s in status["schedulers"] if s["alive"]]
    for entry in alive:
        console.print(
            f"Scheduler [bold]{entry['owner']}[/] is running (last heartbeat "
            f"{_when(entry['last_heartbeat'])} UTC)."
        )
    if not alive:
        console.print(
            "No scheduler is running: start one with 'kiln scheduler' or 'kiln serve --scheduler'."
        )


@app.command("add-retrain")
def scheduler_add_retrain(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="The schedule's name (stored as retrain:NAME)."),
    spec: str = typer.Option(..., "--spec", help="What to retrain (see docs/monitoring.md)."),
    schedule: str = typer.Option(
        ..., "--schedule", help='hourly, daily or a cron expression in UTC ("0 3 * * 1").'
    ),
    endpoint: str = typer.Option(
        None, "--endpoint", help="Compare the candidate with this endpoint's model."
    ),
    as_json: bool = JsonOption,
) -> None:
    """Retrain on a schedule."""
    from kiln.monitoring import ScheduleService

    added = ScheduleService(workspace(ctx)).add_retraining(
        name, spec=spec, schedule=schedule, endpoint=endpoint
    )
    if as_json:
        print_json(added.to_dict())
        return
    console.print(
        f"Schedule [bold]{added.name}[/] ({added.expression}): first run "
        f"{added.next_run_at:%Y-%m-%d %H:%M} UTC."
    )


@app.command("remove")
def scheduler_remove(
    ctx: typer.Context, name: str = typer.Argument(...), as_json: bool = JsonOption
) -> None:
    """Remove a schedule."""
    from kiln.monitoring import ScheduleService

    removed = ScheduleService(workspace(ctx)).remove(name)
    if as_json:
        print_json(removed.to_dict())
        return
    console.print(f"Removed schedule [bold]{removed.name}[/].")
