"""``kiln lineage``: what a record was made from and what was made from it."""

from __future__ import annotations

from pathlib import Path

import typer

from kiln.cli._common import JsonOption, console, err_console, print_json, workspace


def lineage(
    ctx: typer.Context,
    entity: str = typer.Argument(
        ...,
        metavar="ENTITY",
        help="A data set version (churn:1), model version (churn:2, churn@production), job id, "
        "endpoint name or inference id; 'data:' or 'model:' before a reference that names both.",
    ),
    upstream: bool = typer.Option(False, "--upstream", help="Only what it was made from."),
    downstream: bool = typer.Option(False, "--downstream", help="Only what was made from it."),
    depth: int = typer.Option(
        None, "--depth", min=0, help="At most this many edges away (default: all)."
    ),
    html_file: Path = typer.Option(
        None, "--html", help="Also write the graph as a self-contained HTML page to this file."
    ),
    as_json: bool = JsonOption,
) -> None:
    """Show where a record came from and what it led to, as a tree (or --json, --html FILE).

    The graph runs data → jobs → model → approval → deployment → endpoint → captured predictions.
    """
    both = upstream == downstream  # neither flag, or both: the two directions
    graph = workspace(ctx).lineage.graph(
        entity, upstream=both or upstream, downstream=both or downstream, depth=depth
    )
    if html_file is not None:
        from kiln.reports import write

        write(html_file, graph.html())
        err_console.print(f"Wrote the lineage graph to {html_file}")
    if as_json:
        print_json(graph.to_dict())
        return
    console.print(graph.tree())
