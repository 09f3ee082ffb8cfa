"""``kiln endpoints``: what each endpoint serves, its variants, history and traffic."""

from __future__ import annotations

import typer

from kiln.cli._common import App, JsonOption, console, fields, print_json, table, workspace

app = App(help="Deployed endpoints.", no_args_is_help=True)


@app.command("list")
def endpoints_list(ctx: typer.Context, as_json: bool = JsonOption) -> None:
    """List endpoints and the model each serves."""
    endpoints = workspace(ctx).endpoints.list()
    if as_json:
        print_json([e.to_dict() for e in endpoints])
        return
    table(
        "Endpoints",
        ["endpoint", "model", "revision", "updated"],
        [[e.name, e.model, e.revision, f"{e.updated_at:%Y-%m-%d %H:%M:%S}"] for e in endpoints],
    )


@app.command("show")
def endpoints_show(
    ctx: typer.Context, name: str = typer.Argument(...), as_json: bool = JsonOption
) -> None:
    """Show an endpoint: its model, whether that model can be served, and its history."""
    from rich.markup import escape

    service = workspace(ctx).endpoints
    endpoint = service.get(name)
    history = service.history(name)
    health = service.health(name)

    if as_json:
        print_json(endpoint.to_dict() | {"health": health, "history": history})
        return
    status = health["status"]
    if status != "ready":
        status = f"[red]{status}[/]: {escape(health['reason'])}"
    fields(
        f"Endpoint {endpoint.name}",
        {
            "id": endpoint.id,
            "status": status,
            "model": endpoint.model,
            "revision": endpoint.revision,
            "capture": _capture_text(endpoint.capture),
            "created": f"{endpoint.created_at:%Y-%m-%d %H:%M:%S} by {endpoint.created_by}",
            "invoke": f"POST /endpoints/{endpoint.name}/invocations",
        },
    )
    table(
        "Deployments",
        ["revision", "model", "when", "by", "note"],
        [
            [
                h["revision"],
                ", ".join(v["model"] for v in h["variants"]),
                h["created_at"],
                h["created_by"],
                h["note"],
            ]
            for h in history
        ],
    )


@app.command("delete")
def endpoints_delete(
    ctx: typer.Context,
    name: str = typer.Argument(...),
    yes: bool = typer.Option(False, "--yes", help="Do not ask for confirmation."),
    as_json: bool = JsonOption,
) -> None:
    """Delete an endpoint and its history; a running server stops serving it within a second."""
    service = workspace(ctx).endpoints
    endpoint = service.get(name)
    if not yes:
        typer.confirm(
            f"Delete endpoint {endpoint.name} (serving {endpoint.model}) and its history?",
            abort=True,
        )
    service.delete(name)
    if as_json:
        print_json(endpoint.to_dict() | {"deleted": True})
        return
    console.print(f"Deleted endpoint [bold]{endpoint.name}[/]; model {endpoint.model} stays.")


# -- data capture and ground truth -----------------------------------------------------------------
def _capture_text(capture: dict) -> str:
    return f"{capture['percent']:g}% ({capture['format']})" if capture else "off"


@app.command("capture")
def endpoints_capture(
    ctx: typer.Context,
    name: str = typer.Argument(...),
    percent: float = typer.Option(
        100.0, "--percent", help="Share of invocations captured, 0 (off) to 100."
    ),
    format: str = typer.Option("jsonl", "--format", help="jsonl or parquet."),
    as_json: bool = JsonOption,
) -> None:
    """Capture an endpoint's invocations (requests, answers, inference ids) to the artifact
    store; --percent 0 turns it off. Running servers follow within a second."""
    endpoint = workspace(ctx).endpoints.set_capture(name, percent, format=format)
    if as_json:
        print_json(endpoint.to_dict())
        return
    console.print(f"Endpoint [bold]{endpoint.name}[/] capture: {_capture_text(endpoint.capture)}.")


@app.command("ground-truth")
def endpoints_ground_truth(
    ctx: typer.Context,
    name: str = typer.Argument(...),
    file: str = typer.Argument(
        ..., help="CSV or JSON-lines file with the columns inference_id and label."
    ),
    as_json: bool = JsonOption,
) -> None:
    """Upload the true labels of captured predictions, by inference id (the latest upload of an
    id wins)."""
    counts = workspace(ctx).endpoints.ground_truth(name, file)
    if as_json:
        print_json(counts)
        return
    console.print(
        f"Stored {counts['stored']} label(s) of {counts['received']} row(s) for endpoint "
        f"[bold]{name}[/]."
    )
    if counts["unknown_ids"]:
        console.print(
            f"[yellow]{counts['unknown_ids']} inference id(s) are not in the capture (yet)[/], "
            f"e.g. {', '.join(counts['examples_of_unknown'])}: stored, and joined if they appear."
        )


@app.command("capture-ingest")
def endpoints_capture_ingest(
    ctx: typer.Context,
    name: str = typer.Argument(...),
    dataset: str = typer.Option(..., "--name", help="The data set to add a version to."),
    since: str = typer.Option(
        None, "--since", help="Only what was captured since: 2026-12-01, 2026-12-01T08:00, 24h, 7d."
    ),
    unlabelled: bool = typer.Option(
        False, "--unlabelled", help="Keep rows without ground truth too (target missing)."
    ),
    as_json: bool = JsonOption,
) -> None:
    """Ingest what an endpoint captured as a data set version for retraining: its input columns
    and the ground-truth label, named as the model's target."""
    version = workspace(ctx).endpoints.ingest_capture(
        name, dataset=dataset, since=since, unlabelled=unlabelled
    )
    if as_json:
        print_json(version.to_dict())
        return
    console.print(
        f"Ingested [bold]{version.ref}[/]: {version.row_count} row(s), "
        f"{version.column_count} column(s), from endpoint {name}'s capture."
    )
