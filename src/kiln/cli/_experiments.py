"""``kiln experiments``: list, show and compare groups of training runs."""

from __future__ import annotations

from pathlib import Path

import typer

from kiln.cli._common import App, JsonOption, console, print_json, table, workspace

app = App(help="Experiments: named groups of training runs.", no_args_is_help=True)


@app.command("list")
def list_(ctx: typer.Context, as_json: bool = JsonOption) -> None:
    """List experiments with their run count and best model."""
    experiments = workspace(ctx).experiments.list()
    if as_json:
        print_json(experiments)
        return
    table(
        "Experiments",
        ["experiment", "runs", "best model", "best score", "last run"],
        [
            [
                e["name"],
                e["runs"],
                (e["best"] or {}).get("model"),
                f"{e['best']['metric']}={e['best']['value']:.4f} ({e['best']['split']})"
                if e["best"]
                else None,
                (e["last_run_at"] or "")[:19],
            ]
            for e in experiments
        ],
    )


@app.command()
def show(ctx: typer.Context, name: str = typer.Argument(...), as_json: bool = JsonOption) -> None:
    """The runs of an experiment, oldest first."""
    runs = workspace(ctx).experiments.runs(name)
    if as_json:
        print_json([job.to_dict() for job in runs])
        return
    table(
        f"Experiment {name}",
        ["job", "status", "algorithm", "validation", "model", "seconds"],
        [
            [
                j.id,
                j.status,
                j.spec.get("algorithm"),
                j.spec.get("validation", "holdout"),
                j.result.get("model"),
                f"{j.duration_seconds or 0:.1f}",
            ]
            for j in runs
        ],
    )


@app.command()
def compare(
    ctx: typer.Context,
    name: str = typer.Argument(...),
    out: Path = typer.Option(None, "--out", help="Also write an HTML comparison with plots."),
    as_json: bool = JsonOption,
) -> None:
    """Runs side by side, ranked on validation metrics (else out-of-fold, else cv mean).

    Test metrics are shown, never used to rank; hyperparameters beside them."""
    service = workspace(ctx).experiments
    frame = service.compare(name)
    path = service.report(name, out) if out else None
    if as_json:
        import json

        payload = {"runs": json.loads(frame.to_json(orient="records")), "best": service.best(name)}
        if path:
            payload["report"] = path
        print_json(payload)
        return
    _print_comparison(name, frame, service.best(name))
    if path:
        console.print(f"Wrote {path}")


def _print_comparison(name: str, frame, best: dict | None) -> None:
    """Runs side by side (one column each): what ranks them (the split named, never test), their
    test metrics below, then their hyperparameters with the rounds early stopping chose."""
    from kiln.problems import METRIC_SOURCES
    from kiln.reports import format_value

    if frame.empty:
        console.print(f"Experiment {name} has no runs yet.")
        return
    frame = frame.set_index("job")
    info = ["rank", "status", "algorithm", "model", "data", "validation", "split", "seconds"]
    tests = [c for c in frame.columns if c.startswith("test.")]
    chosen = [c for c in frame.columns if c.startswith("chosen.")]
    hps = [c for c in frame.columns if c.startswith("hp.")]
    metrics = [c for c in frame.columns if c not in {*info, *tests, *chosen, *hps}]

    def cell(value, metric: bool = False):
        if value is None or (not isinstance(value, str) and _missing(value)):
            return None
        if metric and isinstance(value, float):
            return f"{value:.4f}"
        return format_value(value)

    def labelled(column: str) -> str:
        return {"split": "ranked on"}.get(column, column)

    rows = [[labelled(c), *[cell(v) for v in frame[c]]] for c in info if c in frame]
    for row in rows:
        if row[0] == "ranked on":
            row[1:] = [METRIC_SOURCES.get(v, v) if v else None for v in row[1:]]
    rows += [[c, *[cell(v, metric=True) for v in frame[c]]] for c in metrics]
    rows += [[c.replace(".", " ", 1), *[cell(v, metric=True) for v in frame[c]]] for c in tests]
    table(f"Experiment {name}", ["", *frame.index], rows)
    if best:
        console.print(
            "Each run is ranked on its validation metrics, else out-of-fold, else cv mean (the "
            "'ranked on' row); test metrics are shown, never used to choose. Best: "
            f"{best['model']} ({best['metric']} {best['value']:.4f} on "
            f"{METRIC_SOURCES.get(best['split'], best['split'])})."
        )
    else:
        console.print("No completed run has validation, out-of-fold or cv mean metrics to rank.")
    if hps:
        params = []
        for column in hps:
            param = column.removeprefix("hp.")
            values = []
            for job in frame.index:
                shown = cell(frame.at[job, column])
                used = frame.at[job, f"chosen.{param}"] if f"chosen.{param}" in frame else None
                if shown is not None and cell(used) is not None:
                    shown += f" (early stopping: {cell(used)})"
                values.append(shown)
            params.append([param, *values])
        table("Hyperparameters", ["", *frame.index], params)


def _missing(value) -> bool:
    import pandas as pd

    return bool(pd.isna(value))
