"""``kiln compile``: a model version's compiled form, gated by parity with its pipeline."""

from __future__ import annotations

import typer

from kiln.cli._common import JsonOption, console, fields, job_progress, print_json, workspace


def compile_command(
    ctx: typer.Context,
    model: str = typer.Argument(..., help="GROUP:VERSION (or GROUP, GROUP@ALIAS)"),
    target: str = typer.Option(
        None,
        "--target",
        help="native (NumPy recipe + the estimator's own predict) or onnx (ONNX Runtime, from "
        "kiln's compile extra). Default: each that can, the fastest passing parity serves.",
    ),
    as_json: bool = JsonOption,
) -> None:
    """Compile a model version for faster endpoints and batch transform (docs/compile.md).

    The compiled form is checked against the pipeline (parity) and recorded on the version only
    if it matches; endpoints serving the version pick it up at their next look.
    """
    from kiln.compiler import check_target

    ws = workspace(ctx)
    if target is not None:
        target = check_target(target)
    with job_progress(f"Compiling {model}", quiet=as_json) as on_log:
        record = ws.compile(model, target=target, on_log=on_log)
    target = record["target"]
    if as_json:
        print_json({"model": ws.models.get(model).ref} | record)
        return
    parity = record["parity"]
    figure = (
        f"max |Δp| {parity['max_abs_diff']:.2e} (≤ {parity['tolerance']:g}), labels identical"
        if "max_abs_diff" in parity
        else f"max relative difference {parity['max_rel_diff']:.2e} (≤ {parity['tolerance']:g})"
    )
    latency = record["latency_ms"]
    fields(
        f"Compiled {ws.models.get(model).ref} ({target})",
        {
            "parity": f"{figure} on {parity['rows_from']}",
            "one row": f"{latency['compiled']:.3f} ms (pipeline {latency['pipeline']:.3f} ms)",
            "artifact": record["digest"],
        },
    )
    console.print(f"Endpoints and batch transforms of this version now use its {target} form.")
