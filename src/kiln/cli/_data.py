"""``kiln data``: ingest, list, show, head, query and split data sets."""

from __future__ import annotations

from pathlib import Path

import typer

from kiln.cli._common import (
    App,
    JsonOption,
    console,
    fields,
    parse_ratios,
    print_json,
    table,
    workspace,
)

app = App(help="The versioned data lake.", no_args_is_help=True)


def _frame_json(frame) -> list[dict]:
    import json

    return json.loads(frame.to_json(orient="records", date_format="iso"))


def _frame_table(frame, title: str | None = None) -> None:
    table(
        title,
        [str(c) for c in frame.columns],
        frame.astype(object).where(frame.notna(), None).values.tolist(),
    )


@app.command()
def ingest(
    ctx: typer.Context,
    source: Path = typer.Argument(None, help="A CSV, Parquet or JSON-lines file."),
    name: str = typer.Option(..., "--name", "-n", help="The data set name."),
    sql: str = typer.Option(None, "--sql", help="Ingest the result of this SQL query instead."),
    conn: str = typer.Option(None, "--conn", help="SQLAlchemy URL of the database for --sql."),
    format: str = typer.Option(
        None, "--format", help="csv, parquet or jsonl (default: from the name)."
    ),
    delimiter: str = typer.Option(None, "--delimiter", help="CSV delimiter (default: detected)."),
    encoding: str = typer.Option(
        None,
        "--encoding",
        help="Encoding of a CSV or JSON-lines file, e.g. cp1252, latin-1, utf-16 "
        "(default: utf-8; other bytes are refused).",
    ),
    as_json: bool = JsonOption,
) -> None:
    """Ingest a file or a SQL query as a new immutable version of a data set."""
    ws = workspace(ctx)
    before = {v.id for v in ws.data.list(name)} if _exists(ws, name) else set()
    version = ws.data.ingest(
        source,
        name=name,
        sql=sql,
        conn=conn,
        format=format,
        delimiter=delimiter,
        encoding=encoding,
    )
    if as_json:
        print_json(version.to_dict() | {"created": version.id not in before})
        return
    verb = "Ingested" if version.id not in before else "Unchanged content; existing version"
    console.print(
        f"{verb} [bold]{version.ref}[/]: {version.row_count} rows × "
        f"{version.column_count} columns, "
        f"sha256 {version.digest[:12]}…"
    )
    _schema_table(version)


def _exists(ws, name: str) -> bool:
    from kiln.errors import NotFound

    try:
        ws.data.get(name)
        return True
    except NotFound:
        return False


def _schema_table(version) -> None:
    table(
        None,
        ["column", "type", "dtype", "missing"],
        [[c["name"], c["type"], c["dtype"], c["missing"]] for c in version.schema["columns"]],
    )


@app.command("list")
def list_(
    ctx: typer.Context,
    name: str = typer.Argument(None, help="List every version of this data set."),
    as_json: bool = JsonOption,
) -> None:
    """List data sets (latest versions), or the versions of one."""
    versions = workspace(ctx).data.list(name)
    if as_json:
        print_json([v.to_dict() for v in versions])
        return
    table(
        "Data sets" if name is None else f"Versions of {name}",
        ["data set", "rows", "columns", "sha256", "created", "source"],
        [
            [
                v.ref,
                v.row_count,
                v.column_count,
                v.digest[:12],
                f"{v.created_at:%Y-%m-%d %H:%M}",
                v.source,
            ]
            for v in versions
        ],
    )


@app.command()
def show(
    ctx: typer.Context,
    ref: str = typer.Argument(..., help="NAME or NAME:VERSION"),
    as_json: bool = JsonOption,
) -> None:
    """Show a data set version: schema, size, hash, source, and the profiles stored with it."""
    from kiln.profile import stored_profiles

    ws = workspace(ctx)
    version = ws.data.get(ref)
    profiles = stored_profiles(ws, version)
    if as_json:
        print_json(version.to_dict() | {"profiles": profiles})
        return
    fields(
        f"Data set {version.ref}",
        {
            "id": version.id,
            "rows": version.row_count,
            "columns": version.column_count,
            "sha256": version.digest,
            "size": f"{version.size_bytes:,} bytes",
            "source": version.source,
            "created": f"{version.created_at:%Y-%m-%d %H:%M:%S} by {version.created_by}",
            "profiles": ", ".join(
                f"target {p['target'] or 'none'} ({p['warnings']} "
                f"warning{'' if p['warnings'] == 1 else 's'}, {p['created_at'][:10]})"
                for p in profiles
            )
            or f"none (kiln data profile {version.ref})",
        },
    )
    _schema_table(version)


@app.command()
def head(
    ctx: typer.Context,
    ref: str = typer.Argument(..., help="NAME or NAME:VERSION"),
    rows: int = typer.Option(10, "--rows", "-n", help="How many rows."),
    as_json: bool = JsonOption,
) -> None:
    """Print the first rows of a data set version."""
    frame = workspace(ctx).data.head(ref, rows)
    if as_json:
        print_json(_frame_json(frame))
    else:
        _frame_table(frame)


@app.command()
def preview(
    ctx: typer.Context,
    ref: str = typer.Argument(..., help="NAME or NAME:VERSION"),
    recipe: Path = typer.Option(..., "--recipe", help="The recipe (YAML) to try."),
    target: str = typer.Option(None, "--target", help="Needed by steps that learn from it."),
    rows: int = typer.Option(5, "--rows", "-n", help="How many rows to show."),
    as_json: bool = JsonOption,
) -> None:
    """Fit a recipe on a data set as training would; show its features before and after.

    Prints the output schema and the first rows before and after the recipe."""
    with console.status("Fitting the recipe", spinner="dots") if not as_json else _nothing():
        result = workspace(ctx).preview(ref, recipe, target=target, rows=rows)
    if as_json:
        print_json(result.to_dict())
        return
    _frame_table(result.before, title=f"Before: {result.dataset}")
    _frame_table(result.after, title=f"After: {' → '.join(result.steps)}")
    table("Output schema", ["column", "type"], [[c["name"], c["type"]] for c in result.schema])
    fitted = f"{result.fitted_rows} rows" + (
        f" (a uniform sample of {result.total_rows})" if result.sampled else ""
    )
    console.print(
        f"Fit on {fitted}; {result.training_rows_after} training rows after the recipe's row "
        f"steps; {len(result.features)} model inputs once the default recipe has encoded what "
        "the steps left raw."
    )


def _nothing():
    from contextlib import nullcontext

    return nullcontext()


@app.command()
def query(
    ctx: typer.Context,
    sql: str = typer.Argument(
        ..., help='SQL over data set names, e.g. "SELECT * FROM churn@2 LIMIT 5".'
    ),
    external_access: bool = typer.Option(
        True,
        "--external-access/--no-external-access",
        help="Let the query read and write files (read_csv, COPY ... TO), attach databases and "
        "load extensions, as you can. Turn it off for SQL that someone else wrote.",
    ),
    as_json: bool = JsonOption,
) -> None:
    """Query the lake with SQL (DuckDB). A name is its latest version; name@3 a given version.

    The query runs as you: it can read any file you can (read_csv('...')) unless
    --no-external-access is given.
    """
    frame = workspace(ctx).data.query(sql, external_access=external_access)
    if as_json:
        print_json(_frame_json(frame))
    else:
        _frame_table(frame)
        console.print(f"[dim]{len(frame)} row(s)[/]")


@app.command()
def split(
    ctx: typer.Context,
    ref: str = typer.Argument(..., help="NAME or NAME:VERSION"),
    target: str = typer.Option(None, "--target", help="Stratify on this column (classification)."),
    ratios: str = typer.Option("0.7,0.1,0.2", "--ratios", help="train,validation,test shares."),
    time_column: str = typer.Option(
        None, "--time-column", help="Order by this column instead: train earliest, test latest."
    ),
    seed: int = typer.Option(42, "--seed"),
    as_json: bool = JsonOption,
) -> None:
    """Split a data set version into NAME_train, NAME_validation and NAME_test versions."""
    parts = workspace(ctx).data.split(
        ref, target=target, ratios=parse_ratios(ratios), time_column=time_column, seed=seed
    )
    if as_json:
        print_json({part: v.to_dict() for part, v in parts.items()})
        return
    table(
        "Split", ["part", "data set", "rows"], [[p, v.ref, v.row_count] for p, v in parts.items()]
    )


def _series_line(series: dict | None) -> dict:
    """The time-series facts in a line or two of the profile's summary."""
    if not series:
        return {}
    length = series["length"]
    return {
        "time series": f"{series['series']:,} series, frequency {series['frequency']!r}, season "
        f"{series['season_length']}, lengths {length['min']}–{length['max']}, "
        f"{series['series_with_gaps']} with gaps",
        **({"hints": " ".join(series["hints"])} if series["hints"] else {}),
    }


@app.command()
def profile(
    ctx: typer.Context,
    ref: str = typer.Argument(..., help="NAME or NAME:VERSION"),
    target: str = typer.Option(
        None,
        "--target",
        help="The column to predict (adds target plots, "
        "leakage and imbalance checks, and a quick model).",
    ),
    out: Path = typer.Option(
        None,
        "--out",
        help="Where to write the HTML report (default: "
        "<workspace>/reports/profile_NAME_VERSION[_TARGET].html).",
    ),
    refresh: bool = typer.Option(False, "--refresh", help="Recompute a stored profile."),
    sample_rows: int = typer.Option(
        50_000,
        "--sample-rows",
        min=1,
        help="Row limit of the sample used for plots and the quick model.",
    ),
    no_model: bool = typer.Option(False, "--no-model", help="Skip the quick model."),
    series_id: list[str] = typer.Option(
        None, "--id", help="Time series: the series id column(s) (repeatable, or a,b)."
    ),
    timestamp: str = typer.Option(
        None, "--timestamp", help="Profile as time series with this time column (and --target)."
    ),
    frequency: str = typer.Option(
        None, "--frequency", help="Time series: D, W, MS, h, ... (default: inferred)."
    ),
    as_json: bool = JsonOption,
) -> None:
    """Profile a data set version: statistics, warnings, plots and a quick model, as HTML."""
    from kiln.cli._common import job_progress

    ws = workspace(ctx)
    ids = [c.strip() for item in series_id or [] for c in item.split(",") if c.strip()]
    timeseries = None
    if timestamp is not None or ids or frequency is not None:
        timeseries = {"id": ids, "timestamp": timestamp, "frequency": frequency}
    with job_progress(f"Profiling {ref}", quiet=as_json) as on_stage:
        result = ws.profile(
            ref,
            target=target,
            refresh=refresh,
            sample_rows=sample_rows,
            model=not no_model,
            progress=on_stage,
            **({"timeseries": timeseries} if timeseries else {}),
        )
    path = result.write_html(out or Path(ws.home) / "reports" / result.default_filename)
    if as_json:
        print_json(result.facts | result.to_dict() | {"report": str(path)})
        return
    facts = result.facts
    quick = facts["quick_model"]
    model_line = (
        ", ".join(f"{k} {v['mean']:.4f} ± {v['std']:.4f}" for k, v in quick["metrics"].items())
        if quick["status"] == "ok"
        else f"skipped ({quick['reason']})"
    )
    fields(
        f"Profile of {result.dataset}" + (" (stored, reused)" if result.reused else ""),
        {
            "rows": f"{facts['rows']:,}",
            "columns": facts["columns"],
            "sample": f"{facts['sample']['rows']:,} rows for plots and the quick model"
            if facts["sample"]["sampled"]
            else "all rows",
            "missing cells": f"{facts['missing_cells']:,} ({facts['missing_cells_pct']:.2f}%)",
            "duplicated rows": f"{facts['duplicate_rows']:,}",
            "target": target or "none",
            "quick model": model_line,
            **_series_line(facts.get("timeseries")),
            "report": str(path),
        },
    )
    if facts["warnings"]:
        table(
            f"Warnings ({len(facts['warnings'])})",
            ["warning", "columns", "evidence"],
            [[w["kind"], ", ".join(w["columns"]), w["message"]] for w in facts["warnings"]],
        )
    else:
        console.print("No warnings.")
