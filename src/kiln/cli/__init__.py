"""The ``kiln`` command line. Thin: it parses, calls the SDK, and formats."""

from kiln.cli._main import main, run

__all__ = ["main", "run"]
