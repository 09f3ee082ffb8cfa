"""``kiln features``: feature groups, their ingests, online reads, SQL over the offline store and
point-in-time training sets (docs/features.md)."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from kiln.cli._common import App, JsonOption, console, err_console, fields, print_json, table
from kiln.cli._common import workspace as open_workspace
from kiln.cli._data import _frame_json, _frame_table
from kiln.errors import ConfigError

app = App(help="The feature store: feature groups, online and offline.", no_args_is_help=True)


def _show_group(summary: dict) -> None:
    fields(
        f"Feature group {summary['name']}",
        {
            "record id": summary["record_id"],
            "event time": summary["event_time"],
            "features": ", ".join(f"{c} ({summary['schema'][c]})" for c in summary["features"]),
            "online": summary["online_store"] or "no",
            "ttl": "none" if summary["ttl_seconds"] is None else f"{summary['ttl_seconds']:g} s",
            "ingests": summary["ingests"],
            "rows": summary["rows"],
            "last write": summary["last_write_time"] or "never",
            "description": summary["description"],
            "created": f"{summary['created_at']} by {summary['created_by']}",
        },
    )


@app.command("create")
def create(
    ctx: typer.Context,
    group: str = typer.Argument(..., help="The feature group's name."),
    record_id: str = typer.Option(..., "--record-id", help="The column identifying a record."),
    event_time: str = typer.Option(..., "--event-time", help="The column of each record's time."),
    source: str = typer.Option(None, "--from", help="Infer the schema from this data set."),
    schema: Path = typer.Option(
        None, "--schema", help="A JSON or YAML file of {column: type}: int64, float64, string..."
    ),
    online: bool = typer.Option(False, "--online", help="Keep each id's latest record online."),
    ttl: str = typer.Option(
        None, "--ttl", help="Online records end this long after their event time (30d)."
    ),
    description: str = typer.Option("", "--description"),
    as_json: bool = JsonOption,
) -> None:
    """Create a feature group; its schema comes from a data set (--from) or a file (--schema)."""
    service = open_workspace(ctx).features
    service.create(
        group,
        record_id=record_id,
        event_time=event_time,
        source=source,
        schema=schema,
        online=online,
        ttl=ttl,
        description=description,
    )
    summary = service.summary(group)
    if as_json:
        print_json(summary)
    else:
        _show_group(summary)


@app.command("ingest")
def ingest(
    ctx: typer.Context,
    group: str = typer.Argument(...),
    source: str = typer.Argument(..., help="The data set (NAME or NAME:VERSION) to ingest."),
    recipe: Path = typer.Option(
        None, "--recipe", help="A recipe (YAML) fitted on the rows and applied to them first."
    ),
    as_json: bool = JsonOption,
) -> None:
    """Append a data set version (or a recipe's output over it) to a feature group."""
    service = open_workspace(ctx).features
    with err_console.status(f"Ingesting {source} into feature group {group}"):
        done = service.ingest(group, source, recipe=recipe)
    if as_json:
        print_json(done.to_dict())
    else:
        console.print(
            f"Ingested {done.row_count} row(s) into {group} (ingest {done.id}, written "
            f"{done.write_time:%Y-%m-%d %H:%M:%S.%f})."
        )


@app.command("list")
def list_groups(ctx: typer.Context, as_json: bool = JsonOption) -> None:
    """List feature groups with their keys, features and sizes."""
    service = open_workspace(ctx).features
    summaries = [service.summary(g.name) for g in service.list()]
    if as_json:
        print_json(summaries)
        return
    table(
        "Feature groups",
        ["group", "record id", "event time", "features", "online", "rows", "last write"],
        [
            [
                s["name"],
                s["record_id"],
                s["event_time"],
                len(s["features"]),
                "yes" if s["online"] else "no",
                s["rows"],
                s["last_write_time"] or "",
            ]
            for s in summaries
        ],
    )


@app.command("describe")
def describe(
    ctx: typer.Context, group: str = typer.Argument(...), as_json: bool = JsonOption
) -> None:
    """Show a feature group: its schema, online settings and offline size."""
    summary = open_workspace(ctx).features.summary(group)
    if as_json:
        print_json(summary)
    else:
        _show_group(summary)


@app.command("get")
def get(
    ctx: typer.Context,
    group: str = typer.Argument(...),
    record_id: str = typer.Option(..., "--id", help="The record id to read."),
    as_json: bool = JsonOption,
) -> None:
    """Read the latest online record of an id."""
    record = open_workspace(ctx).features.get(group, record_id)
    if as_json:
        print_json(record)
    else:
        fields(f"{group} {record_id}", record)


@app.command("put")
def put(
    ctx: typer.Context,
    group: str = typer.Argument(...),
    record: str = typer.Argument(..., help="The record as JSON, e.g. '{\"customer_id\": 7, ...}'."),
    as_json: bool = JsonOption,
) -> None:
    """Write one record (offline, and online for an online group)."""
    try:
        values = json.loads(record)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"The record is not valid JSON: {exc.msg} (at character {exc.pos}).",
            code="feature.bad-record",
        ) from exc
    done = open_workspace(ctx).features.put_record(group, values)
    if as_json:
        print_json(done.to_dict())
    else:
        console.print(f"Wrote 1 record to {group} (ingest {done.id}).")


@app.command("query")
def query(
    ctx: typer.Context,
    sql: str = typer.Argument(..., help='SQL over feature groups, e.g. "SELECT * FROM customers".'),
    as_of: str = typer.Option(
        None, "--as-of", help="Only what was written by this time (ISO 8601)."
    ),
    as_json: bool = JsonOption,
) -> None:
    """Query the offline store with SQL (DuckDB); each group is a table."""
    frame = open_workspace(ctx).features.query(sql, as_of=as_of)
    if as_json:
        print_json(_frame_json(frame))
    else:
        _frame_table(frame)
        console.print(f"[dim]{len(frame)} row(s)[/]")


@app.command("training-set")
def training_set(
    ctx: typer.Context,
    entity: str = typer.Argument(..., help="The data set of entity rows (ids and times)."),
    features: str = typer.Option(..., "--features", help="GROUP:f1,GROUP:f2 or GROUP:*"),
    event_time: str = typer.Option(None, "--event-time", help="The entity rows' time column."),
    as_of: str = typer.Option(None, "--as-of", help="Only what was written by this time."),
    name: str = typer.Option(None, "--name", "-n", help="Save it as a version of this data set."),
    as_json: bool = JsonOption,
) -> None:
    """Join features to entity rows as of each row's own time (point-in-time correct)."""
    ws = open_workspace(ctx)
    rows = ws.data.load(entity)
    with err_console.status(f"Joining {features} to {entity}"):
        frame = ws.features.training_set(
            rows,
            [f.strip() for f in features.split(",") if f.strip()],
            event_time=event_time,
            as_of=as_of,
        )
    if name:
        version = ws.data.ingest(
            frame, name=name, description=f"training set of {entity}: {features}"
        )
        if as_json:
            print_json(version.to_dict())
        else:
            console.print(f"Saved {len(frame)} row(s) as data set {version.ref}.")
    elif as_json:
        print_json(_frame_json(frame))
    else:
        _frame_table(frame.head(20), title=f"{len(frame)} row(s); the first 20 (--name saves all)")
