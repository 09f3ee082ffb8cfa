"""``kiln keys``: the API keys a ``kiln serve --require-auth`` accepts."""

from __future__ import annotations

import typer

from kiln.cli._common import App, JsonOption, console, err_console, print_json, table, workspace

app = App(help="API keys for 'kiln serve --require-auth'.", no_args_is_help=True)


@app.command("create")
def keys_create(
    ctx: typer.Context,
    endpoint: str = typer.Option(
        None, "--endpoint", help="The one endpoint the key may call (default: every endpoint)."
    ),
    name: str = typer.Option(None, "--name", help="What the key is for, shown by 'keys list'."),
    rate_limit: float = typer.Option(
        None, "--rate-limit", help="Requests per second the key may send (bursts of one second's)."
    ),
    as_json: bool = JsonOption,
) -> None:
    """Create a key and print it, this once: only a salted hash of it is stored."""
    ws = workspace(ctx)
    key = ws.keys.create(endpoint=endpoint, name=name, rate_limit=rate_limit)
    if as_json:
        print_json(key.to_dict())
        return
    scope = f"endpoint {endpoint}" if endpoint else "every endpoint"
    console.print(f"Created API key [bold]{key.id}[/] for {scope}. The key, shown only now:")
    console.print(key.key, markup=False, highlight=False)
    if endpoint and endpoint not in {e.name for e in ws.endpoints.list()}:
        err_console.print(
            f"[yellow]Note:[/] no endpoint named {endpoint} yet; the key works once one is "
            "deployed under that name."
        )
    err_console.print(
        "Send it as 'Authorization: Bearer KEY' or 'X-Api-Key: KEY' to a "
        "'kiln serve --require-auth'."
    )


@app.command("list")
def keys_list(ctx: typer.Context, as_json: bool = JsonOption) -> None:
    """List the keys (never their secrets), revoked ones included."""
    keys = workspace(ctx).keys.list()
    if as_json:
        print_json([k.to_dict() for k in keys])
        return
    table(
        "API keys",
        ["id", "name", "endpoint", "rate limit", "created", "by", "status"],
        [
            [
                k.id,
                k.name or "",
                k.endpoint or "(every)",
                f"{k.rate_limit:g}/s" if k.rate_limit else "",
                f"{k.created_at:%Y-%m-%d %H:%M:%S}",
                k.created_by,
                f"revoked {k.revoked_at:%Y-%m-%d %H:%M:%S}" if k.revoked else "active",
            ]
            for k in keys
        ],
    )


@app.command("revoke")
def keys_revoke(
    ctx: typer.Context, key_id: str = typer.Argument(..., metavar="ID"), as_json: bool = JsonOption
) -> None:
    """Revoke a key: a running server refuses it within a second."""
    key = workspace(ctx).keys.revoke(key_id)
    if as_json:
        print_json(key.to_dict())
        return
    console.print(
        f"API key [bold]{key.id}[/] is revoked (since {key.revoked_at:%Y-%m-%d %H:%M:%S} UTC)."
    )
