"""``kiln monitor``: baselines, monitors on endpoints' captured traffic, their runs and reports."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from kiln.cli._common import (
    App,
    JsonOption,
    console,
    err_console,
    fields,
    job_progress,
    parse_key_values,
    print_json,
    table,
    workspace,
)

app = App(
    help="Model monitoring: baselines, monitors, runs, reports and drift checks.",
    no_args_is_help=True,
)
constraints_app = App(help="Show, edit or set a baseline's constraints.", no_args_is_help=True)
app.add_typer(constraints_app, name="constraints")


@app.command("baseline")
def monitor_baseline(
    ctx: typer.Context,
    data: str = typer.Option(None, "--data", help="The reference data set: NAME or NAME@V."),
    model: str = typer.Option(
        None, "--model", help="A model: its training data by default, with its predictions."
    ),
    out: Path = typer.Option(
        None, "--out", help="Also write statistics.json and constraints.json to this folder."
    ),
    as_json: bool = JsonOption,
) -> None:
    """Compute the statistics and suggested constraints of a reference data set."""
    with err_console.status("Computing the baseline") if not as_json else _nothing():
        baseline = workspace(ctx).monitoring.baseline(data, model=model)
    if out is not None:
        _write_documents(baseline, out)
    if as_json:
        print_json(baseline.to_dict())
        return
    features = baseline.statistics.get("features", [])
    console.print(
        f"Baseline [bold]{baseline.id}[/] of {baseline.statistics.get('dataset', {}).get('ref')}"
        + (f" with model {baseline.model}" if baseline.model else "")
        + f": {baseline.statistics.get('dataset', {}).get('item_count')} rows, "
        f"{len(features)} columns."
    )
    console.print(
        f"Edit its constraints with 'kiln monitor constraints edit {baseline.id}'; use it with "
        f"'kiln monitor create ... --baseline {baseline.id}'."
    )
    if out is not None:
        console.print(f"Wrote {out / 'statistics.json'} and {out / 'constraints.json'}.")


def _nothing():
    from contextlib import nullcontext

    return nullcontext()


def _write_documents(baseline, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "statistics.json").write_text(json.dumps(baseline.statistics, indent=2))
    (folder / "constraints.json").write_text(json.dumps(baseline.constraints, indent=2))


@app.command("baselines")
def monitor_baselines(ctx: typer.Context, as_json: bool = JsonOption) -> None:
    """List the baselines."""
    found = workspace(ctx).monitoring.baselines()
    if as_json:
        print_json([b.to_dict() | {"statistics": None, "constraints": None} for b in found])
        return
    table(
        "Baselines",
        ["id", "data set", "model", "columns", "created"],
        [
            [
                b.id,
                b.statistics.get("dataset", {}).get("ref"),
                b.model,
                len(b.statistics.get("features", [])),
                f"{b.created_at:%Y-%m-%d %H:%M}",
            ]
            for b in found
        ],
    )


@app.command("statistics")
def monitor_statistics(ctx: typer.Context, baseline: str = typer.Argument(...)) -> None:
    """Print a baseline's statistics document (JSON)."""
    print_json(workspace(ctx).monitoring.get_baseline(baseline).statistics)


@constraints_app.command("show")
def constraints_show(ctx: typer.Context, baseline: str = typer.Argument(...)) -> None:
    """Print a baseline's constraints document (JSON)."""
    print_json(workspace(ctx).monitoring.get_baseline(baseline).constraints)


# a value may be negative (num_constraints.min -5): not an option
@constraints_app.command("set", context_settings={"ignore_unknown_options": True})
def constraints_set(
    ctx: typer.Context,
    baseline: str = typer.Argument(...),
    path: str = typer.Argument(
        ..., help="COLUMN.KEY (age.completeness, age.drift.psi) or SECTION.KEY."
    ),
    value: str = typer.Argument(..., help='The value, as JSON (0.3, true, ["a", "b"]) or text.'),
) -> None:
    """Set one constraint of a baseline."""
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError:
        parsed = value
    workspace(ctx).monitoring.set_constraint(baseline, path, parsed)
    console.print(f"Baseline {baseline}: {path} = {json.dumps(parsed)}.")


@constraints_app.command("edit")
def constraints_edit(
    ctx: typer.Context,
    baseline: str = typer.Argument(...),
    file: Path = typer.Option(
        None,
        "--file",
        help="Replace the constraints with this JSON file instead of an editor.",
        exists=True,
        dir_okay=False,
    ),
) -> None:
    """Edit a baseline's constraints in $EDITOR (or replace them from a file)."""
    from kiln.errors import ConfigError

    ws = workspace(ctx)
    current = ws.monitoring.get_baseline(baseline).constraints
    if file is not None:
        text = file.read_text()
    else:
        edited = typer.edit(json.dumps(current, indent=2), extension=".json")
        if edited is None:
            console.print("No change.")
            return
        text = edited
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"The edited constraints are not JSON: {exc.msg} at line {exc.lineno}, column "
            f"{exc.colno}. Nothing was changed.",
            code="monitor.bad-constraints",
        ) from None
    ws.monitoring.replace_constraints(baseline, document)
    console.print(f"Baseline {baseline}: constraints saved.")


@app.command("create")
def monitor_create(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="The monitor's name."),
    endpoint: str = typer.Option(..., "--endpoint", help="The endpoint whose traffic to check."),
    type: str = typer.Option(
        ...,
        "--type",
        help="data-quality, model-quality, bias, attribution or forecast-quality.",
    ),
    schedule: str = typer.Option(
        "hourly", "--schedule", help="hourly, daily, or a cron expression (UTC)."
    ),
    baseline: str = typer.Option(
        None, "--baseline", help="A baseline id (default: made from the endpoint's model)."
    ),
    window: str = typer.Option("1h", "--window", help="Traffic each run reads (30m, 1h, 1d)."),
    offset: str = typer.Option(
        "0s", "--offset", help="How long before the run the window ends (late labels: 1d)."
    ),
    facet: str = typer.Option(None, "--facet", help="Bias: COLUMN or COLUMN=VALUE."),
    label_value: str = typer.Option(None, "--label-value", help="Bias: the favourable label."),
    threshold: list[str] = typer.Option(
        None,
        "--threshold",
        help="METRIC=VALUE: model quality (accuracy=0.8), a bias range (DPPL=[-0.05,0.05]) or "
        "forecast quality (mase=1.2, coverage=0.7).",
    ),
    as_json: bool = JsonOption,
) -> None:
    """Create a monitor on an endpoint's captured traffic, run on a schedule."""
    config: dict = {}
    if facet:
        column, _, value = facet.partition("=")
        config["facet"] = column
        if value:
            config["facet_value"] = value
    if label_value is not None:
        config["label_value"] = label_value
    if threshold:
        config["thresholds"] = {
            k: _number(v) for k, v in parse_key_values(threshold, option="--threshold").items()
        }
    with err_console.status("Creating the monitor") if not as_json else _nothing():
        monitor = workspace(ctx).monitoring.create(
            name,
            endpoint=endpoint,
            type=type,
            schedule=schedule,
            baseline=baseline,
            window=window,
            offset=offset,
            **config,
        )
    if as_json:
        print_json(monitor.to_dict())
        return
    console.print(
        f"Monitor [bold]{monitor.name}[/] ({monitor.type}) on endpoint {monitor.endpoint}, "
        f"{monitor.schedule}, baseline {monitor.baseline_id or 'none'}."
    )
    console.print(
        f"Runs start when 'kiln scheduler' (or 'kiln serve --scheduler') is running; run it now "
        f"with 'kiln monitor run {monitor.name} --now'."
    )


def _number(text: str):
    """A --threshold value as JSON (0.8, [-0.05, 0.05] for a bias range, null), else the text."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


@app.command("list")
def monitor_list(
    ctx: typer.Context,
    endpoint: str = typer.Option(None, "--endpoint", help="Only this endpoint's monitors."),
    as_json: bool = JsonOption,
) -> None:
    """List the monitors with their latest run."""
    ws = workspace(ctx)
    monitors = ws.monitoring.list(endpoint)
    latest = {m.name: (ws.monitoring.runs(m.name, limit=1) or [None])[0] for m in monitors}
    if as_json:
        print_json(
            [
                m.to_dict() | {"latest_run": r.to_dict() if (r := latest[m.name]) else None}
                for m in monitors
            ]
        )
        return
    table(
        "Monitors",
        ["name", "type", "endpoint", "schedule", "window", "latest run", "status", "violations"],
        [
            [
                m.name,
                m.type,
                m.endpoint,
                m.schedule,
                f"{m.window_seconds:g}s",
                f"{r.started_at:%Y-%m-%d %H:%M}" if (r := latest[m.name]) else "never",
                r.status if r else None,
                len(r.violations) if r else None,
            ]
            for m in monitors
        ],
    )


@app.command("show")
def monitor_show(
    ctx: typer.Context, name: str = typer.Argument(...), as_json: bool = JsonOption
) -> None:
    """Show a monitor, its schedule and its latest run's violations."""
    from kiln.endpoints import format_duration

    ws = workspace(ctx)
    monitor = ws.monitoring.get(name)
    runs = ws.monitoring.runs(name, limit=1)
    if as_json:
        print_json(monitor.to_dict() | {"latest_run": runs[0].to_dict() if runs else None})
        return
    fields(
        f"Monitor {monitor.name}",
        {
            "type": monitor.type,
            "endpoint": monitor.endpoint,
            "schedule": monitor.schedule,
            "window": f"{format_duration(monitor.window_seconds)}, ending "
            f"{format_duration(monitor.offset_seconds)} before each run",
            "baseline": monitor.baseline_id,
            "config": json.dumps(monitor.config) if monitor.config else None,
            "created": f"{monitor.created_at:%Y-%m-%d %H:%M:%S} by {monitor.created_by}",
            "latest run": f"{runs[0].id} ({runs[0].status}, {len(runs[0].violations)} violation(s))"
            if runs
            else "never",
        },
    )
    if runs and runs[0].violations:
        _violations_table(runs[0].violations)


def _violations_table(violations: list[dict]) -> None:
    table(
        "Violations",
        ["column", "check", "observed", "expected"],
        [
            [v.get("column"), v.get("check"), _short(v.get("observed")), _short(v.get("expected"))]
            for v in violations
        ],
    )


def _short(value) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


@app.command("run")
def monitor_run(
    ctx: typer.Context,
    name: str = typer.Argument(...),
    now: bool = typer.Option(
        False, "--now", help="Run now, over the window ending now (what 'run' always does)."
    ),
    as_json: bool = JsonOption,
) -> None:
    """Run a monitor now, as a job, and show what it found."""
    with job_progress(f"Running monitor {name}", quiet=as_json) as log:
        run = workspace(ctx).monitoring.run(name, on_log=log)
    if as_json:
        print_json(run.to_dict())
        return
    console.print(
        f"Run [bold]{run.id}[/]: {run.status}, {int(run.metrics.get('rows', 0))} row(s), "
        f"{len(run.violations)} violation(s)."
    )
    if run.summary.get("reason"):
        console.print(run.summary["reason"])
    if run.violations:
        _violations_table(run.violations)
    console.print(f"Report: kiln monitor report {run.id}")


@app.command("runs")
def monitor_runs(
    ctx: typer.Context,
    name: str = typer.Argument(None, help="A monitor (default: every monitor and compare)."),
    limit: int = typer.Option(20, "--limit", help="How many, newest first.", min=1),
    as_json: bool = JsonOption,
) -> None:
    """List a monitor's runs, newest first."""
    runs = workspace(ctx).monitoring.runs(name, limit=limit)
    if as_json:
        print_json([r.to_dict() for r in runs])
        return
    table(
        "Monitor runs",
        ["run", "monitor", "type", "started", "status", "rows", "violations", "job"],
        [
            [
                r.id,
                r.monitor or "(compare)",
                r.type,
                f"{r.started_at:%Y-%m-%d %H:%M:%S}",
                r.status,
                int(r.metrics.get("rows", 0)),
                len(r.violations),
                r.job_id,
            ]
            for r in runs
        ],
    )


@app.command("report")
def monitor_report(
    ctx: typer.Context,
    run: str = typer.Argument(..., help="A run id (kiln monitor runs)."),
    out: Path = typer.Option(
        None, "--out", help="Where to write it (default: reports/RUN.html in the workspace)."
    ),
) -> None:
    """Write a run's HTML report."""
    path = workspace(ctx).monitoring.report(run, out=out)
    console.print(f"Wrote {path}")


@app.command("history")
def monitor_history(
    ctx: typer.Context,
    name: str = typer.Argument(...),
    metric: list[str] = typer.Option(None, "--metric", help="Only these metrics (repeatable)."),
    out: Path = typer.Option(None, "--out", help="Also write an HTML page plotting each metric."),
    as_json: bool = JsonOption,
) -> None:
    """Each metric of a monitor over time, with a plot."""
    ws = workspace(ctx)
    history = ws.monitoring.history(name, metrics=metric or None)
    if out is not None:
        ws.monitoring.history_report(name, out=out, metrics=metric or None)
    if as_json:
        print_json(history)
        return
    names: list[str] = []
    for point in history:
        names += [
            m
            for m in point["metrics"]
            if m not in names and m != "violations" and (metric or "." not in m)
        ]  # violations has its own column
    names = names[:6]
    table(
        f"Monitor {name}: history",
        ["time", "status", "violations", *names],
        [
            [
                p["time"][:19],
                p["status"],
                p["violations"],
                *[_fmt(p["metrics"].get(m)) for m in names],
            ]
            for p in history
        ],
    )
    if out is not None:
        console.print(f"Wrote {out}")


def _fmt(value) -> str:
    return "" if value is None else f"{value:.4g}" if isinstance(value, float) else str(value)


@app.command("delete")
def monitor_delete(ctx: typer.Context, name: str = typer.Argument(...)) -> None:
    """Delete a monitor and its schedule (its runs stay)."""
    ws = workspace(ctx)
    ws.monitoring.delete(name)
    console.print(f"Deleted monitor {name}.")
    watching = [a.name for a in ws.monitoring.alarms.list() if a.source == f"monitor:{name}"]
    if watching:
        console.print(
            f"Alarm(s) {', '.join(watching)} watched it and will stay INSUFFICIENT_DATA: delete "
            f"them with 'kiln alarms delete NAME', or create a monitor named {name} again."
        )


@app.command("compare")
def monitor_compare(
    ctx: typer.Context,
    reference: str = typer.Option(..., "--reference", help="The reference data set, NAME[@V]."),
    current: str = typer.Option(..., "--current", help="The data set to check, NAME[@V]."),
    baseline: str = typer.Option(
        None, "--baseline", help="Use this baseline's constraints instead of new ones."
    ),
    out: Path = typer.Option(None, "--out", help="Write the HTML report here."),
    as_json: bool = JsonOption,
) -> None:
    """Check data quality and drift of one data set version against another."""
    ws = workspace(ctx)
    with err_console.status("Comparing") if not as_json else _nothing():
        run = ws.monitoring.compare(reference, current, baseline=baseline)
    path = ws.monitoring.report(run.id, out=out) if out else None
    if as_json:
        print_json(run.to_dict() | {"report": str(path) if path else None})
        return
    drifted = [d for d in run.summary.get("drift", []) if d.get("drifted")]
    console.print(
        f"Run [bold]{run.id}[/]: {run.inputs.get('current')} against "
        f"{run.inputs.get('reference')}: {len(run.violations)} violation(s), "
        f"{len({d['column'] for d in drifted})} drifted column(s)."
    )
    if run.violations:
        _violations_table(run.violations)
    console.print(f"Report: {path}" if path else f"Report: kiln monitor report {run.id}")
