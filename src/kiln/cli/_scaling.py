"""``kiln endpoints serverless | autoscale | scaling``: how an endpoint scales, and what it did."""

from __future__ import annotations

import typer

from kiln.cli._common import JsonOption, console, print_json, table, workspace
from kiln.cli._endpoints import app


def _section_text(name: str, section: dict | None) -> str:
    if section is None:
        return f"Endpoint [bold]{name}[/]: off"
    return f"Endpoint [bold]{name}[/]: " + ", ".join(
        f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in section.items()
    )


@app.command("serverless")
def endpoints_serverless(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="The endpoint."),
    max_concurrency: int = typer.Option(
        None, "--max-concurrency", help="Requests in flight per server process (default 20)."
    ),
    idle_timeout: str = typer.Option(
        None, "--idle-timeout", help="Unload the models after this long idle (default 10m)."
    ),
    off: bool = typer.Option(False, "--off", help="Serve as a plain real-time endpoint again."),
    as_json: bool = JsonOption,
) -> None:
    """Make an endpoint serverless: models unloaded when idle, loaded by the next request."""
    endpoint = workspace(ctx).endpoints.set_serverless(
        name, max_concurrency=max_concurrency, idle_timeout=idle_timeout, off=off
    )
    if as_json:
        print_json(endpoint.to_dict())
        return
    console.print(
        "Serverless "
        + _section_text(name, endpoint.config.get("serverless"))
        + f" (revision {endpoint.revision}; a running 'kiln serve' follows within a second)."
    )


@app.command("autoscale")
def endpoints_autoscale(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="The endpoint."),
    min_workers: int = typer.Option(1, "--min", help="Fewest worker processes."),
    max_workers: int = typer.Option(None, "--max", help="Most worker processes."),
    target_invocations: float = typer.Option(
        None,
        "--target-invocations-per-worker",
        help="Keep invocations per worker per minute near this.",
    ),
    target_cpu: float = typer.Option(
        None, "--target-cpu", help="Keep each worker's CPU near this percent of a core."
    ),
    target_p99_ms: float = typer.Option(
        None, "--target-p99-ms", help="Keep the p99 latency (ms) under this."
    ),
    scale_out_cooldown: str = typer.Option(
        "60s", "--scale-out-cooldown", help="Wait at least this long after a change to add."
    ),
    scale_in_cooldown: str = typer.Option(
        "300s", "--scale-in-cooldown", help="Wait at least this long after a change to remove."
    ),
    off: bool = typer.Option(False, "--off", help="Stop autoscaling for this endpoint."),
    as_json: bool = JsonOption,
) -> None:
    """Autoscale the worker processes of 'kiln serve' for an endpoint's load."""
    from kiln.errors import ConfigError

    if not off and max_workers is None:
        raise ConfigError(
            "Give --max (the most worker processes), or --off to stop autoscaling.",
            code="autoscale.bad-bounds",
        )
    service = workspace(ctx).endpoints
    if off:
        # Only what was given on the command line (--min and the cool-downs have defaults).
        given = {
            "min_workers": min_workers if min_workers != 1 else None,
            "max_workers": max_workers,
            "target_invocations_per_worker": target_invocations,
            "target_cpu": target_cpu,
            "target_p99_ms": target_p99_ms,
        }
        endpoint = service.set_autoscale(name, off=True, **given)
    else:
        endpoint = service.set_autoscale(
            name,
            min_workers=min_workers,
            max_workers=max_workers,
            target_invocations_per_worker=target_invocations,
            target_cpu=target_cpu,
            target_p99_ms=target_p99_ms,
            scale_out_cooldown=scale_out_cooldown,
            scale_in_cooldown=scale_in_cooldown,
        )
    if as_json:
        print_json(endpoint.to_dict())
        return
    console.print(
        "Autoscale "
        + _section_text(name, endpoint.config.get("autoscale"))
        + f" (revision {endpoint.revision}). 'kiln serve' sizes its worker pool by it."
    )


@app.command("scaling")
def endpoints_scaling(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="The endpoint."),
    limit: int = typer.Option(50, "--limit", help="The last this many actions."),
    as_json: bool = JsonOption,
) -> None:
    """The endpoint's scaling actions and the metric that caused each."""
    events = workspace(ctx).endpoints.scaling_events(name, limit=limit)
    if as_json:
        print_json([e.to_dict() for e in events])
        return
    if not events:
        console.print(f"Endpoint {name}: no scaling actions recorded.")
        return
    table(
        f"Scaling actions of {name}",
        ["when", "action", "before", "after", "metric", "value", "why"],
        [
            [
                f"{e.at:%Y-%m-%d %H:%M:%S}",
                e.action,
                e.before,
                e.after,
                e.metric or "",
                "" if e.value is None else f"{e.value:.4g}",
                e.reason,
            ]
            for e in events
        ],
    )
