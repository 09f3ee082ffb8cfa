"""The ``kiln`` command line. Thin: it parses, calls the SDK, and formats."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    """Run the CLI: a KilnError prints one line and exits 2; a bug prints its traceback, exits 1."""
    import click

    from kiln.errors import KilnError

    try:
        import typer.main

        from kiln.cli._root import app

        command = typer.main.get_command(app)
        result = command.main(args=argv, prog_name="kiln", standalone_mode=False)
        return result if isinstance(result, int) else 0
    except KilnError as exc:
        from rich.text import Text

        from kiln.cli._common import err_console

        err_console.print(
            Text.assemble(("error: ", "bold red"), exc.message, (f" ({exc.code})", "dim")),
            soft_wrap=True,
        )
        return 2
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.ClickException as exc:
        exc.show()
        return 2
    except click.exceptions.Abort:
        print("Aborted.", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print("Interrupted.", file=sys.stderr)
        return 130


def run() -> None:
    sys.exit(main())
