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
    """Side-by-side parameters and held-out metrics of an experiment's runs."""
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
    shown = frame.drop(columns=[c for c in frame.columns if c.startswith("hp.")])
    transposed = shown.set_index("job").T
    table(
        f"Experiment {name}",
        ["", *transposed.columns],
        [
            [index, *row]
            for index, row in zip(
                transposed.index,
                transposed.astype(object).where(transposed.notna(), None).values.tolist(),
                strict=True,
            )
        ],
    )
    hps = sorted({c for c in frame.columns if c.startswith("hp.")})
    if hps:
        params = frame.set_index("job")[hps].T
        table(
            "Hyperparameters",
            ["", *params.columns],
            [
                [index, *row]
                for index, row in zip(
                    params.index,
                    params.astype(object).where(params.notna(), None).values.tolist(),
                    strict=True,
                )
            ],
        )
    if path:
        console.print(f"Wrote {path}")
