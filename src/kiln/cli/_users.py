"""``kiln users`` (Studio's users and roles) and ``kiln ui`` (Studio itself)."""

from __future__ import annotations

import getpass
import re

import typer

from kiln.cli._common import App, JsonOption, console, err_console, print_json, table, workspace

app = App(
    help="Studio's users and their roles (annotator, viewer, scientist, approver, admin).",
    no_args_is_help=True,
)

RoleOption = typer.Option(
    ...,
    "--role",
    help="annotator, viewer, scientist, approver or admin (each may do what those before may).",
)


@app.command("add")
def users_add(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="The user's name (letters, digits, _ . @ -)."),
    role: str = RoleOption,
    password: bool = typer.Option(
        False, "--password", help="Ask for a password to sign in with (else: tokens and links)."
    ),
    as_json: bool = JsonOption,
) -> None:
    """Add a Studio user with a role."""
    ws = workspace(ctx)
    secret = None
    if password:
        secret = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    user = ws.users.add(name, role=role, password=secret)
    if as_json:
        print_json(user.to_dict())
        return
    how = "a password" if secret else "a token ('kiln users token') or a 'kiln ui' link"
    console.print(f"Added user [bold]{user.name}[/] as {user.role}; they sign in with {how}.")


@app.command("list")
def users_list(ctx: typer.Context, as_json: bool = JsonOption) -> None:
    """List the users and their roles."""
    users = workspace(ctx).users.list()
    if as_json:
        print_json([u.to_dict() for u in users])
        return
    table(
        "Studio users",
        ["name", "role", "password", "added", "by", "status"],
        [
            [
                u.name,
                u.role,
                "yes" if u.has_password else "no",
                f"{u.created_at:%Y-%m-%d %H:%M:%S}",
                u.created_by,
                "active" if u.active else "disabled",
            ]
            for u in users
        ],
    )


@app.command("set-role")
def users_set_role(
    ctx: typer.Context,
    name: str = typer.Argument(...),
    role: str = typer.Argument(..., help="annotator, viewer, scientist, approver or admin."),
    as_json: bool = JsonOption,
) -> None:
    """Change a user's role."""
    user = workspace(ctx).users.set_role(name, role)
    if as_json:
        print_json(user.to_dict())
        return
    console.print(f"User [bold]{user.name}[/] is now {user.role}.")


@app.command("password")
def users_password(ctx: typer.Context, name: str = typer.Argument(...)) -> None:
    """Set a user's password (their browser sessions end)."""
    secret = typer.prompt("New password", hide_input=True, confirmation_prompt=True)
    user = workspace(ctx).users.set_password(name, secret)
    console.print(f"Password of [bold]{user.name}[/] set; their sessions were ended.")


@app.command("disable")
def users_disable(ctx: typer.Context, name: str = typer.Argument(...)) -> None:
    """Disable a user: their sessions and tokens stop working at once."""
    user = workspace(ctx).users.disable(name)
    console.print(f"User [bold]{user.name}[/] is disabled; their sessions and tokens are revoked.")


@app.command("enable")
def users_enable(ctx: typer.Context, name: str = typer.Argument(...)) -> None:
    """Enable a disabled user again (they sign in anew)."""
    user = workspace(ctx).users.enable(name)
    console.print(f"User [bold]{user.name}[/] is enabled.")


@app.command("token")
def users_token(
    ctx: typer.Context, name: str = typer.Argument(...), as_json: bool = JsonOption
) -> None:
    """Make an API token for a user and print it, this once.

    Send it as 'Authorization: Bearer TOKEN' to the Studio API, or paste it in the sign-in
    form."""
    token = workspace(ctx).users.create_token(name)
    if as_json:
        print_json({"id": token.id, "user": token.user, "token": token.token})
        return
    console.print(f"Token [bold]{token.id}[/] for {token.user}, shown only now:")
    console.print(token.token, markup=False, highlight=False)


def local_user_name() -> str:
    """The OS user as a Studio user name (characters a name may not hold become '_')."""
    try:
        name = getpass.getuser()
    except (KeyError, OSError):
        name = "admin"
    return re.sub(r"[^A-Za-z0-9_.@-]", "_", name).lstrip("_.@-")[:100] or "admin"


def ui(
    ctx: typer.Context,
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind (default: loopback)."),
    port: int = typer.Option(8765, "--port"),
    user: str = typer.Option(
        None,
        "--user",
        help="Sign the printed link in as this user (default: your OS user, as an admin).",
    ),
    log_level: str = typer.Option("warning", "--log-level"),
) -> None:
    """Run Studio, the web UI, and print a one-time link that signs you in.

    On the workspace's own machine you act as your OS user with admin rights (the user is added
    when missing); other people sign in with a password or token ('kiln users add')."""
    from kiln.studio import serve_ui

    ws = workspace(ctx)
    name = user or local_user_name()
    if user is None:
        ws.users.ensure_admin(name)
    link = ws.users.login_link_token(name).token
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    url = f"http://{shown}:{port}"
    if host not in ("127.0.0.1", "localhost", "::1"):
        err_console.print(
            f"[yellow]Warning:[/] Studio on {host} is reachable from other machines. Everyone "
            "signs in, but without TLS passwords and sessions travel in clear text: put a proxy "
            "that terminates TLS in front, or bind 127.0.0.1."
        )
    err_console.print(f"Studio on {url} — API docs at {url}/docs")
    err_console.print(
        f"Sign in as {name} (one use, 10 minutes): {url}/api/session/link?token={link}"
    )
    serve_ui(ws, host=host, port=port, log_level=log_level)
