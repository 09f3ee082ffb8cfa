"""``kiln train --script``: a user's training script as a job (the rest of 'kiln train' is in
_root.py)."""

from __future__ import annotations

from pathlib import Path

import typer

from kiln.cli._common import console, job_progress, metrics_table, parse_key_values, print_json

# The training options a script takes; the others ('kiln train --validation', --ratios, ...) are
# for --algorithm only: a script splits and fits by itself.
SCRIPT_OPTIONS = ("target", "hyperparameters", "name")


def train_with_script(
    ctx: typer.Context,
    ws,
    script: Path | None,
    *,
    algorithm: str | None,
    data: list[str],
    target: str | None,
    name: str | None,
    hp: list[str] | None,
    as_json: bool,
) -> None:
    """Run ``script`` on the data set versions ``data`` and print the registered model."""
    if (algorithm is None) == (script is None):
        raise typer.BadParameter("Give --algorithm or --script (one of them).")
    from dataclasses import fields

    from kiln.training import TrainingOptions

    given = [
        f"--{f.name.replace('_', '-')}"
        for f in fields(TrainingOptions)
        if f.name not in SCRIPT_OPTIONS
        and getattr(ctx.get_parameter_source(f.name), "name", "") == "COMMANDLINE"
    ]
    if given:
        raise typer.BadParameter(
            f"{', '.join(given)} do not apply to --script: the script splits, preprocesses and "
            "fits by itself (it takes --data, --target, --name and --hp)."
        )
    with job_progress(f"Running {script} on {', '.join(data)}", quiet=as_json) as on_log:
        result = ws.train(
            data,
            script=script,
            target=target,
            name=name,
            params=parse_key_values(hp, option="--hp"),
            on_log=on_log,
        )
    if as_json:
        print_json(result.to_dict())
        return
    if result.metrics.get("script"):
        metrics_table({"script": result.metrics["script"]}, title=f"Metrics of {result.model.ref}")
    console.print(
        f"Job [bold]{result.job.id}[/] completed in {result.job.duration_seconds:.1f}s; registered "
        f"model [bold]{result.model.ref}[/] ({result.model.approval_status})."
    )
