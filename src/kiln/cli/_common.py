"""Shared CLI plumbing: the workspace option, JSON output, tables and progress."""

from __future__ import annotations

import io
import json
import re
import sys
from contextlib import contextmanager
from datetime import date, datetime
from typing import Any

import typer
from rich.cells import cell_len
from rich.console import Console
from rich.markup import escape
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text
from typer.core import TyperCommand, TyperGroup


class _Console(Console):
    """A rich console whose piped output is never wrapped: a long id or path printed into a pipe
    or a file stays whole on its line, as it would be copied. A terminal wraps as usual."""

    def print(self, *objects: Any, soft_wrap: bool | None = None, **options: Any) -> None:
        if soft_wrap is None and not self.is_terminal:
            soft_wrap = True
        super().print(*objects, soft_wrap=soft_wrap, **options)


console = _Console()
err_console = _Console(stderr=True)

JsonOption = typer.Option(False, "--json", help="Print machine-readable JSON only.")


class _FlagsWithoutType:
    """Help that shows a flag (``--json``, ``--help``) as a flag: typer 0.29 prints the type of
    every option, so a flag reads ``--json <bool>`` as if it took a value. An empty metavar
    leaves the flag's type column blank; nothing else reads a flag's metavar."""

    def get_params(self, ctx):  # noqa: ANN001, ANN201 - click's signature
        params = super().get_params(ctx)  # type: ignore[misc]
        for param in params:
            if getattr(param, "is_flag", False) and param.metavar is None:
                param.metavar = ""
        return params


class _Command(_FlagsWithoutType, TyperCommand):
    pass


class _Group(_FlagsWithoutType, TyperGroup):
    pass


class App(typer.Typer):
    """A ``typer.Typer`` whose commands and groups show their flags as flags in ``--help``."""

    def __init__(self, **options: Any) -> None:
        super().__init__(cls=_Group, **options)

    def command(self, *args: Any, cls: Any = None, **options: Any):  # noqa: ANN201
        return super().command(*args, cls=cls or _Command, **options)


def workspace(ctx: typer.Context | None = None, **settings: Any):
    """The workspace of ``--home``; ``settings`` override its kiln.toml (None: not given)."""
    from kiln.workspace import Workspace

    home = None
    if ctx is not None:
        root = ctx.find_root()
        home = (root.obj or {}).get("home")
    return Workspace(home, **settings)


def _default(value: Any):
    if isinstance(value, datetime | date):
        return value.isoformat()
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)


def print_json(payload: Any) -> None:
    sys.stdout.write(json.dumps(payload, indent=2, default=_default, allow_nan=False) + "\n")


def table(title: str | None, columns: list[str], rows: list[list[Any]]) -> None:
    """A table; its ids, paths and numbers are printed whole (see :func:`print_table`)."""
    out = Table(title=title, title_justify="left", header_style="bold")
    cells = [["" if v is None else str(v) for v in row] for row in rows]
    for index, column in enumerate(columns):
        out.add_column(column, min_width=_longest_word(row[index] for row in cells))
    for row in cells:
        out.add_row(*[escape(v) for v in row])
    print_table(out)


def fields(title: str, values: dict[str, Any]) -> None:
    """``key  value`` lines under a title; values are printed whole (see :func:`print_table`)."""
    out = Table(title=title, title_justify="left", show_header=False, box=None, padding=(0, 2))
    shown = {key: "" if value is None else str(value) for key, value in values.items()}
    out.add_column(style="bold", min_width=_longest_word(shown))
    out.add_column(min_width=_longest_word(shown.values()))
    for key, value in shown.items():
        out.add_row(key, value)
    print_table(out)


def _longest_word(texts) -> int:
    """The width of the longest run without spaces (an id, a path, a number) in ``texts``.

    Rich markup in a cell is counted as text, which only widens the column a little."""
    return max((cell_len(word) for text in texts for word in str(text).split()), default=0)


def print_table(out: Table) -> None:
    """Print a rich table so that no word in it (an id, a path, a number) is cut or broken.

    Each column is at least as wide as its longest word (``min_width``), so only the spaces in
    longer text wrap. Piped into another program or a file, the table takes its natural width,
    one line per row, whatever the width rich would assume (80 columns); in a terminal, it
    takes the terminal's width, or more when its words do not fit (the terminal then wraps the
    lines, and the words stay whole)."""
    for column in out.columns:
        column.overflow = "fold"  # never an ellipsis: at worst a long word goes on a new line
        column.min_width = max(column.min_width or 0, _longest_word([column.header]))
    measured = Measurement.get(console, console.options.update_width(1_000_000), out)
    if console.is_terminal:
        # A console of that width: a print's own width can only be narrower than its console's.
        sized = Console(
            file=console.file,
            width=max(console.width, measured.minimum),
            force_terminal=True,
            color_system=console.color_system,
            no_color=console.no_color,
        )
        sized.print(out, crop=False)
        return
    buffer = io.StringIO()
    Console(file=buffer, width=measured.maximum, color_system=None).print(out, crop=False)
    # Without the spaces rich pads each line with to the table's width.
    console.file.write("".join(line.rstrip() + "\n" for line in buffer.getvalue().splitlines()))


def format_hyperparameters(values: dict) -> str:
    """``name=value, ...``: integers as integers, floats to 4 significant digits (whole
    numbers from 10,000 up); see :func:`kiln.reports.format_value`."""
    from kiln.reports import format_value

    return format_value(values) or "(defaults)"


def metrics_table(metrics: dict[str, dict], title: str = "Metrics") -> None:
    """Metrics by source (columns: train, cv mean, cv std, out-of-fold, validation, test) and name
    (rows); the last source's confusion matrix below."""
    from kiln.problems import METRIC_SOURCES

    labels = {"train": "train", "cv_std": "cv std", **METRIC_SOURCES}
    # "script": what a training script logged (kiln train --script)
    order = ("train", "cv_mean", "cv_std", "oof", "validation", "test", "backtest", "script")
    parts = [p for p in order if metrics.get(p)]
    names: list[str] = []
    for part in parts:
        names += [n for n, v in metrics[part].items() if not isinstance(v, list) and n not in names]
    rows = [[name, *[_fmt(metrics[p].get(name)) for p in parts]] for name in names]
    table(title, ["metric", *[labels.get(p, p) for p in parts]], rows)
    last = next((p for p in reversed(parts) if metrics[p].get("confusion_matrix")), None)
    if last:
        console.print(
            f"[bold]Confusion matrix ({labels[last]})[/], rows actual, columns predicted: "
            f"{metrics[last]['confusion_matrix']}"
        )


def _fmt(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


@contextmanager
def job_progress(title: str, *, quiet: bool):
    """A spinner with the job's latest log line; every line is echoed to stderr."""
    if quiet:
        yield None
        return
    with err_console.status(title) as status:

        def on_log(message: str) -> None:
            err_console.print(Text(f"  {message}", style="dim"))
            status.update(Text(f"{title} — {message[:80]}"))

        yield on_log


@contextmanager
def automl_progress(time_limit: float, *, quiet: bool):
    """A progress bar over the time limit, fed by the AutoML job's ``Progress N% — ...`` lines."""
    if quiet:
        yield None
        return
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    pattern = re.compile(r"Progress ([\d.]+)% — (.*)")
    with Progress(
        TextColumn("[bold]AutoML"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
        TextColumn(f"of {time_limit:g} s"),
        TextColumn("{task.fields[latest]}", style="dim"),
        console=err_console,
    ) as progress:
        task = progress.add_task("automl", total=100, latest="")

        def on_log(message: str) -> None:
            match = pattern.match(message)
            if match:
                progress.update(task, completed=float(match.group(1)), latest=match.group(2)[:60])
            else:
                progress.console.print(Text(f"  {message}", style="dim"))

        yield on_log
        progress.update(task, completed=100)


@contextmanager
def transform_progress(*, quiet: bool):
    """A progress bar fed by the transform job's ``Progress N% (R rows)`` log lines."""
    if quiet:
        yield None
        return
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    pattern = re.compile(r"Progress ([\d.]+)% \((\d+) rows\)")
    with Progress(
        TextColumn("[bold]Transform"),
        BarColumn(),
        TextColumn("{task.percentage:>5.1f}%"),
        TextColumn("{task.fields[rows]} rows"),
        TimeElapsedColumn(),
        console=err_console,
    ) as progress:
        task = progress.add_task("transform", total=100, rows=0)

        def on_log(message: str) -> None:
            match = pattern.match(message)
            if match:
                progress.update(task, completed=float(match.group(1)), rows=int(match.group(2)))
            else:
                progress.console.print(Text(f"  {message}", style="dim"))

        yield on_log
        progress.update(task, completed=100)


def parse_key_values(items: list[str] | None, *, option: str) -> dict[str, str]:
    from kiln.errors import ConfigError

    out = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(
                f"{option} takes key=value, e.g. {option} max_depth=4. Got {item!r}.",
                code="cli.bad-option",
            )
        out[key.strip()] = value.strip()
    return out


def parse_ratios(text: str) -> tuple[float, float, float]:
    from kiln.errors import ConfigError

    try:
        values = tuple(float(x) for x in text.split(","))
    except ValueError:
        raise ConfigError(
            f"--ratios takes three numbers train,validation,test, e.g. 0.7,0.1,0.2. Got {text!r}.",
            code="split.bad-ratios",
        ) from None
    return values  # type: ignore[return-value]


def parse_share(text: str, *, what: str) -> float:
    """``"10%"`` → 0.1; ``"0.1"`` → 0.1 (the SDK checks the range)."""
    from kiln.errors import ConfigError

    try:
        text = text.strip()
        return float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        raise ConfigError(
            f"{what} takes a percentage or a share, e.g. 10% or 0.1. Got {text!r}.",
            code="endpoints.bad-sample",
        ) from None
