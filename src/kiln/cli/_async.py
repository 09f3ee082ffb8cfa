"""``kiln endpoints async-*``: asynchronous invocations — queue them, follow them, fetch the
result, and set an endpoint's asynchronous settings."""

from __future__ import annotations

from pathlib import Path

import typer

from kiln.cli._common import JsonOption, console, fields, print_json, table, workspace
from kiln.cli._endpoints import app


def _summary(invocation) -> dict:
    body = invocation.to_dict()
    shown = {
        "inference id": invocation.id,
        "endpoint": invocation.endpoint,
        "status": invocation.status,
        "input": invocation.input_location,
        "output": invocation.output_location,
        "model": invocation.model or "",
        "rows": "" if invocation.rows is None else invocation.rows,
        "attempts": invocation.attempts,
        "created": f"{invocation.created_at:%Y-%m-%d %H:%M:%S}",
    }
    if "processing_seconds" in body:
        shown["processing"] = f"{body['processing_seconds']:.3f} s"
    if invocation.error:
        shown["error"] = f"{invocation.error_code}: {invocation.error}"
    for note in invocation.notifications:
        delivered = "delivered" if note.get("delivered") else note.get("error") or "failed"
        shown[f"webhook {note['event']} #{note['attempt']}"] = delivered
    return shown


@app.command("async-invoke")
def endpoints_async_invoke(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="The endpoint."),
    file: Path | None = typer.Argument(
        None, help="A JSON or CSV file of rows, uploaded to the artifact store."
    ),
    input_location: str | None = typer.Option(
        None,
        "--input-location",
        help="Read the rows from here when processed instead: NAME:VERSION, a path or a URL.",
    ),
    content_type: str | None = typer.Option(
        None, "--content-type", help="application/json or text/csv (default: by file suffix)."
    ),
    as_json: bool = JsonOption,
) -> None:
    """Queue an asynchronous invocation; a running 'kiln serve' processes it."""
    if (file is None) == (input_location is None):
        raise typer.BadParameter("Give a FILE or --input-location (one of them).")
    invocation = workspace(ctx).endpoints.async_invoke(
        name, file, input_location=input_location, content_type=content_type
    )
    if as_json:
        print_json(invocation.to_dict())
        return
    console.print(
        f"Queued [bold]{invocation.id}[/] for endpoint [bold]{name}[/]; the output goes to "
        f"{invocation.output_location}.\nFollow it: kiln endpoints async-status {invocation.id}"
    )


@app.command("async-status")
def endpoints_async_status(
    ctx: typer.Context,
    inference_id: str = typer.Argument(...),
    as_json: bool = JsonOption,
) -> None:
    """Show an asynchronous invocation: status, timings, output location, failure reason."""
    invocation = workspace(ctx).endpoints.async_status(inference_id)
    if as_json:
        print_json(invocation.to_dict())
        return
    fields(f"Asynchronous invocation {invocation.id}", _summary(invocation))


@app.command("async-result")
def endpoints_async_result(
    ctx: typer.Context,
    inference_id: str = typer.Argument(...),
    out: Path | None = typer.Option(
        None, "--out", "-o", help="Write the output here (default: print it)."
    ),
) -> None:
    """The output of a completed invocation: JSON lines, one prediction per input row."""
    service = workspace(ctx).endpoints
    if out is None:
        typer.echo(service.async_result(inference_id).decode(), nl=False)
        return
    service.async_result(inference_id, out=out)
    console.print(f"Wrote the output of {inference_id} to {out}.")


@app.command("async-list")
def endpoints_async_list(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="The endpoint."),
    status: str | None = typer.Option(
        None, "--status", help="Pending, InProgress, Completed or Failed."
    ),
    limit: int = typer.Option(50, "--limit", help="At most this many, newest first."),
    as_json: bool = JsonOption,
) -> None:
    """List an endpoint's asynchronous invocations, newest first."""
    invocations = workspace(ctx).endpoints.async_list(name, status=status, limit=limit)
    if as_json:
        print_json([i.to_dict() for i in invocations])
        return
    table(
        f"Asynchronous invocations of {name}",
        ["inference id", "status", "rows", "attempts", "created", "error"],
        [
            [
                i.id,
                i.status,
                "" if i.rows is None else i.rows,
                i.attempts,
                f"{i.created_at:%Y-%m-%d %H:%M:%S}",
                i.error_code or "",
            ]
            for i in invocations
        ],
    )


@app.command("async-config")
def endpoints_async_config(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="The endpoint."),
    max_concurrency: int | None = typer.Option(
        None, "--max-concurrency", help="Workers per server process at most (default 2)."
    ),
    timeout: str | None = typer.Option(
        None, "--timeout", help="Processing timeout per invocation, up to 1h (default 15m)."
    ),
    on_success: str | None = typer.Option(
        None, "--on-success", help="Webhook URL told of each completion ('' removes it)."
    ),
    on_failure: str | None = typer.Option(
        None, "--on-failure", help="Webhook URL told of each failure ('' removes it)."
    ),
    max_payload_mb: float | None = typer.Option(
        None, "--max-payload-mb", help="Largest payload accepted, in MB (default and max 1024)."
    ),
    reset: bool = typer.Option(False, "--reset", help="Back to the defaults first."),
    as_json: bool = JsonOption,
) -> None:
    """Set an endpoint's asynchronous settings (those not given keep their value)."""
    from kiln.endpoints import async_settings

    endpoint = workspace(ctx).endpoints.async_config(
        name,
        max_concurrency=max_concurrency,
        timeout=timeout,
        on_success=on_success,
        on_failure=on_failure,
        max_payload_mb=max_payload_mb,
        reset=reset,
    )
    settings = async_settings(endpoint.config)
    if as_json:
        print_json(settings)
        return
    fields(f"Asynchronous settings of {name} (revision {endpoint.revision})", settings)
