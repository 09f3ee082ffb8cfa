"""Shared CLI plumbing: the workspace option, JSON output, tables and progress."""

from __future__ import annotations

import json
import re
import sys
from contextlib import contextmanager
from datetime import date, datetime
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

console = Console()
err_console = Console(stderr=True)

JsonOption = typer.Option(False, "--json", help="Print machine-readable JSON only.")


def workspace(ctx: typer.Context | None = None):
    from kiln.workspace import Workspace

    home = None
    if ctx is not None:
        root = ctx.find_root()
        home = (root.obj or {}).get("home")
    return Workspace(home)


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
    out = Table(title=title, title_justify="left", header_style="bold")
    for column in columns:
        out.add_column(column)
    for row in rows:
        out.add_row(*["" if v is None else escape(str(v)) for v in row])
    console.print(out)


def fields(title: str, values: dict[str, Any]) -> None:
    out = Table(title=title, title_justify="left", show_header=False, box=None, padding=(0, 2))
    out.add_column(style="bold")
    out.add_column()
    for key, value in values.items():
        out.add_row(key, "" if value is None else str(value))
    console.print(out)


def metrics_table(metrics: dict[str, dict], title: str = "Metrics") -> None:
    """Metrics by source (columns: train, cv mean, cv std, out-of-fold, validation, test) and name
    (rows); the last source's confusion matrix below."""
    from kiln.problems import METRIC_SOURCES

    labels = {"train": "train", "cv_std": "cv std", **METRIC_SOURCES}
    order = ("train", "cv_mean", "cv_std", "oof", "validation", "test")
    parts = [p for p in order if metrics.get(p)]
    names: list[str] = []
    for part in parts:
        names += [n for n, v in metrics[part].items() if not isinstance(v, list) and n not in names]
    rows = [[name, *[_fmt(metrics[p].get(name)) for p in parts]] for name in names]
    table(title, ["metric", *[labels[p] for p in parts]], rows)
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
