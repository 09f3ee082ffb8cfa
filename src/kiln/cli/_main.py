"""The entry point of the `kiln` command: parse, run, and turn errors into exit codes."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    """Run the CLI: a KilnError prints one line and exits 2, a usage error exits 2, a bug prints
    its traceback and exits 1."""
    from kiln.errors import KilnError

    try:
        import typer.main

        from kiln.cli._root import app

        # standalone mode: typer reports usage errors itself (exit 2); KilnError comes through.
        typer.main.get_command(app).main(args=argv, prog_name="kiln", standalone_mode=True)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except KilnError as exc:
        from rich.text import Text

        from kiln.cli._common import err_console

        err_console.print(
            Text.assemble(("error: ", "bold red"), exc.message, (f" ({exc.code})", "dim")),
            soft_wrap=True,
        )
        return 2
    return 0


def run() -> None:
    status = main()
    if "kiln.compute" in sys.modules:
        # A command that opened a workspace has pandas, the store and more loaded: end as a
        # job's process does, without tearing each module down (0.2-0.5 s of every command).
        from kiln.compute import exit_process

        exit_process(status)
    sys.exit(status)
