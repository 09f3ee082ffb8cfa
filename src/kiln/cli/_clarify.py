"""``kiln clarify``: bias metrics and SHAP explanations."""

from __future__ import annotations

from pathlib import Path

import typer

from kiln.cli._common import App, JsonOption, console, err_console, print_json, table, workspace

app = App(
    help="Bias metrics of data and models, and SHAP explanations (the SageMaker Clarify "
    "analogue; docs/clarify.md).",
    no_args_is_help=True,
)


@app.command()
def bias(
    ctx: typer.Context,
    data: str = typer.Option(..., "--data", help="The data set version: NAME or NAME@VERSION."),
    facet: str = typer.Option(
        ...,
        "--facet",
        help="The disfavoured group d: COLUMN=VALUE (sex=female), a threshold COLUMN<NUMBER "
        "(age<25; also <=, >, >=), or a 0/1 COLUMN (d: 1). Every other row is a.",
    ),
    label_value: str = typer.Option(
        ...,
        "--label-value",
        help="The positive outcome: a value of the label (Yes), or a threshold (>0.5).",
    ),
    model: str = typer.Option(
        None, "--model", help="A model version: adds the post-training metrics."
    ),
    label: str = typer.Option(None, "--label", help="The label column (default: the target)."),
    group: str = typer.Option(None, "--group", help="The column CDDL and CDDPL condition on."),
    out: Path = typer.Option(None, "--out", help="Also write an HTML report to this file."),
    as_json: bool = JsonOption,
) -> None:
    """Bias metrics of a data set's labels, and of a model's predictions with --model.

    Pre-training metrics (CI, DPL, KL, JS, LP, TVD, KS, CDDL) always; post-training metrics
    (DPPL, DI, DCAcc, DCR, SD, RD, DAR, DRR, AD, TE, CDDPL, FT, GE) with --model. Formulas and
    readings: docs/clarify.md."""
    ws = workspace(ctx)
    report = ws.clarify.bias(
        data, facet=facet, label_value=label_value, model=model, label=label, group=group
    )
    path = report.write(out) if out is not None else None
    if as_json:
        print_json(report.to_dict() | {"report": str(path) if path else None})
        return
    facts = report.facts
    console.print(
        f"[bold]{report.data}[/]{f' with {report.model}' if report.model else ''}: facet d = "
        f"{facts['facet']} ({facts['rows_d']} rows), a = the other {facts['rows_a']}; positive "
        f"label {facts['label']}."
        + (
            f" {facts['rows_left_out']} rows without a facet value or label left out."
            if facts["rows_left_out"]
            else ""
        ),
        highlight=False,
    )
    for stage in ("pre-training", "post-training"):
        rows = [
            [
                m.name,
                "—" if m.value is None else f"{m.value:.4f}",
                m.info.range,
                m.info.reading if m.value is not None else f"undefined: {m.reason}",
            ]
            for m in report.metrics
            if m.info.stage == stage
        ]
        if rows:
            table(f"{stage.capitalize()} bias", ["metric", "value", "range", "reading"], rows)
    if path is not None:
        console.print(f"Report written to [bold]{path}[/].")


@app.command()
def explain(
    ctx: typer.Context,
    model: str = typer.Option(..., "--model", help="The model version (NAME:VERSION)."),
    data: str = typer.Option(..., "--data", help="The data set version: NAME or NAME@VERSION."),
    rows: int = typer.Option(
        10, "--rows", help="How many rows (the first ones) get per-row attributions."
    ),
    top: int = typer.Option(5, "--top", help="Contributions shown per row."),
    out: Path = typer.Option(None, "--out", help="Also write an HTML report to this file."),
    as_json: bool = JsonOption,
) -> None:
    """SHAP attributions of a model: per input column, and each row's largest contributions.

    Global: the mean |SHAP value| of each input column over the data (a sample of 2,000 rows
    when there are more). Per row: the first --rows rows, their --top largest contributions."""
    ws = workspace(ctx)
    with err_console.status(f"Explaining {model} on {data}"):
        explanation = ws.clarify.explain(model, data, rows=rows, top=top)
    path = explanation.write(out) if out is not None else None
    if as_json:
        print_json(explanation.to_dict() | {"report": str(path) if path else None})
        return
    console.print(
        f"[bold]{explanation.model}[/] on {explanation.data}: SHAP values from "
        f"{explanation.method}, in {explanation.units}; global over {explanation.rows} rows.",
        highlight=False,
    )
    table(
        "Global attributions",
        ["column", "mean |SHAP|"],
        [[c, f"{v:.4f}"] for c, v in explanation.attributions.items()],
    )
    if explanation.row_explanations:
        shown = []
        for row in explanation.row_explanations:
            prediction = row["prediction"]
            shown.append(
                [
                    row["row"],
                    prediction.get("label", prediction.get("value")),
                    "; ".join(
                        f"{c['column']}={c['value']} {c['attribution']:+.3f}"
                        for c in row["contributions"]
                    ),
                ]
            )
        table("Per-row attributions", ["row", "prediction", "largest contributions"], shown)
    if path is not None:
        console.print(f"Report written to [bold]{path}[/].")
