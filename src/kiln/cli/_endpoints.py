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
