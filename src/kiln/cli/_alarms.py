"""``kiln alarms``: conditions on a monitor's or an endpoint's metrics, the actions they take
when they go into ALARM, and their history."""

from __future__ import annotations

import json

import typer

from kiln.cli._common import App, JsonOption, console, fields, print_json, table, workspace

app = App(help="Alarms on monitors and endpoints, their actions and history.", no_args_is_help=True)


def _alarms(ctx: typer.Context):
    from kiln.monitoring import AlarmService

    return AlarmService(workspace(ctx))


def _outcomes(actions: list[dict]) -> str:
    return ", ".join(f"{a['action']}: {a['outcome']}" for a in actions)


@app.command("create")
def alarms_create(
    ctx: typer.Context,
    name: str = typer.Argument(...),
    on: str = typer.Option(
        ..., "--on", help="monitor:MONITOR or endpoint:ENDPOINT:METRIC[:WINDOW]."
    ),
    when: str = typer.Option(..., "--when", help='The condition, e.g. "drift.num_cols > 2".'),
    action: list[str] = typer.Option(
        None,
        "--action",
        help="log, webhook:URL, command:CMD, rollback:ENDPOINT or retrain:SPEC (repeatable; "
        "default log).",
    ),
    as_json: bool = JsonOption,
) -> None:
    """Create an alarm; its actions run each time it goes into ALARM."""
    alarm = _alarms(ctx).create(name, on=on, when=when, actions=action or None)
    if as_json:
        print_json(alarm.to_dict())
        return
    console.print(
        f"Alarm [bold]{alarm.name}[/] on {alarm.source} when {alarm.condition}: "
        f"{', '.join(alarm.actions)}. State {alarm.state} until its first evaluation."
    )


@app.command("list")
def alarms_list(ctx: typer.Context, as_json: bool = JsonOption) -> None:
    """List the alarms and their states."""
    alarms = _alarms(ctx).list()
    if as_json:
        print_json([a.to_dict() for a in alarms])
        return
    table(
        "Alarms",
        ["name", "source", "condition", "state", "since (UTC)", "actions"],
        [
            [
                a.name,
                a.source,
                a.condition,
                a.state,
                f"{a.state_changed_at:%Y-%m-%d %H:%M:%S}",
                ", ".join(a.actions),
            ]
            for a in alarms
        ],
    )


@app.command("show")
def alarms_show(ctx: typer.Context, name: str = typer.Argument(...), as_json: bool = JsonOption):
    """An alarm and its latest state change."""
    service = _alarms(ctx)
    alarm = service.get(name)
    latest = service.history(name, limit=1)
    if as_json:
        print_json(alarm.to_dict() | {"latest_event": latest[0] if latest else None})
        return
    values = {
        "source": alarm.source,
        "condition": alarm.condition,
        "actions": ", ".join(alarm.actions),
        "state": alarm.state,
        "since": f"{alarm.state_changed_at:%Y-%m-%d %H:%M:%S} UTC",
        "created": f"{alarm.created_at:%Y-%m-%d %H:%M:%S} UTC by {alarm.created_by}",
    }
    if latest:
        values["evidence"] = json.dumps(latest[0]["evidence"], default=str)
        values["actions taken"] = _outcomes(latest[0]["actions"]) or "(none)"
    fields(f"Alarm {alarm.name}", values)


@app.command("history")
def alarms_history(
    ctx: typer.Context, name: str = typer.Argument(...), as_json: bool = JsonOption
) -> None:
    """The alarm's state changes, newest first, with evidence and the actions' outcomes."""
    events = _alarms(ctx).history(name, limit=None)
    if as_json:
        print_json(events)
        return
    table(
        f"History of alarm {name}",
        ["time (UTC)", "change", "values", "actions"],
        [
            [
                e["time"].replace("T", " ")[:19],
                f"{e['old_state']} → {e['new_state']}",
                ", ".join(f"{k}={v}" for k, v in (e["evidence"].get("values") or {}).items())
                or e["evidence"].get("reason", ""),
                _outcomes(e["actions"]),
            ]
            for e in events
        ],
    )


@app.command("delete")
def alarms_delete(
    ctx: typer.Context, name: str = typer.Argument(...), as_json: bool = JsonOption
) -> None:
    """Delete an alarm and its history."""
    alarm = _alarms(ctx).delete(name)
    if as_json:
        print_json(alarm.to_dict())
        return
    console.print(f"Deleted alarm [bold]{alarm.name}[/].")


@app.command("evaluate")
def alarms_evaluate(
    ctx: typer.Context,
    source: str = typer.Option(
        None, "--on", help="Only the alarms on this source (monitor:M, endpoint, endpoint:E)."
    ),
    as_json: bool = JsonOption,
) -> None:
    """Evaluate the alarms now and take the actions of those that go into ALARM."""
    changes = _alarms(ctx).evaluate(source=source)
    if as_json:
        print_json(changes)
        return
    if not changes:
        console.print("No alarm changed state.")
    for change in changes:
        taken = _outcomes(change["actions"])
        console.print(
            f"Alarm [bold]{change['alarm']}[/]: {change['old_state']} → {change['new_state']}"
            + (f" ({taken})" if taken else "")
        )
