"""``kiln models`` and ``kiln algorithms``: the registry and the algorithm catalog."""

from __future__ import annotations

import typer

from kiln.cli._common import (
    App,
    JsonOption,
    console,
    fields,
    format_hyperparameters,
    metrics_table,
    print_json,
    table,
    workspace,
)

app = App(help="The model registry.", no_args_is_help=True)
algorithms_app = App(help="The built-in algorithms.", no_args_is_help=True)


def _headline(version) -> str:
    part = version.metrics.get("test") or version.metrics.get("validation") or {}
    for name in ("roc_auc", "roc_auc_macro", "accuracy", "rmse", "r2"):
        if part.get(name) is not None:
            return f"{name}={part[name]:.4f}"
    return ""


@app.command("list")
def list_(
    ctx: typer.Context,
    group: str = typer.Argument(None, help="Only this model group."),
    as_json: bool = JsonOption,
) -> None:
    """List model versions."""
    versions = workspace(ctx).models.list(group)
    if as_json:
        print_json([v.to_dict() for v in versions])
        return
    table(
        "Models",
        ["model", "algorithm", "problem", "test", "status", "created"],
        [
            [
                v.ref,
                v.algorithm,
                v.problem_type,
                _headline(v),
                v.approval_status,
                f"{v.created_at:%Y-%m-%d %H:%M}",
            ]
            for v in versions
        ],
    )


@app.command()
def show(
    ctx: typer.Context,
    ref: str = typer.Argument(..., help="GROUP or GROUP:VERSION"),
    as_json: bool = JsonOption,
) -> None:
    """Show a model version: signature, metrics, lineage, approval."""
    ws = workspace(ctx)
    version = ws.models.get(ref)
    if as_json:
        print_json(version.to_dict())
        return
    dataset = (
        ws.data.get_by_id(version.dataset_version_id).ref if version.dataset_version_id else None
    )
    fields(
        f"Model {version.ref}",
        {
            "id": version.id,
            "algorithm": version.algorithm,
            "problem type": version.problem_type,
            "target": version.target,
            "data set": dataset,
            "training job": version.job_id,
            "status": version.approval_status,
            "approval": f"{version.approval_by} at {version.approval_at:%Y-%m-%d %H:%M}: "
            f"{version.approval_reason}"
            if version.approval_at
            else None,
            "sha256": version.digest,
            "hyperparameters": format_hyperparameters(version.hyperparameters or {}),
            "automl": _automl_summary(version.details) if version.details else None,
            "libraries": ", ".join(f"{k} {v}" for k, v in version.library_versions.items()),
            "created": f"{version.created_at:%Y-%m-%d %H:%M:%S} by {version.created_by}",
        },
    )
    table(
        "Signature (inputs)",
        ["column", "type", "dtype", "categories"],
        [
            [c["name"], c["type"], c["dtype"], ", ".join(map(str, c.get("categories", [])[:8]))]
            for c in version.signature["inputs"]
        ],
    )
    metrics_table(version.metrics)


def _decide(ctx: typer.Context, ref: str, reason: str, approve: bool, as_json: bool) -> None:
    models = workspace(ctx).models
    version = models.approve(ref, reason=reason) if approve else models.reject(ref, reason=reason)
    if as_json:
        print_json(version.to_dict())
    else:
        console.print(f"Model [bold]{version.ref}[/] is now {version.approval_status}.")


@app.command()
def approve(
    ctx: typer.Context,
    ref: str = typer.Argument(..., help="GROUP:VERSION"),
    reason: str = typer.Option("", "--reason", help="Why (recorded with who and when)."),
    as_json: bool = JsonOption,
) -> None:
    """Approve a model version for deployment."""
    _decide(ctx, ref, reason, True, as_json)


@app.command()
def reject(
    ctx: typer.Context,
    ref: str = typer.Argument(..., help="GROUP:VERSION"),
    reason: str = typer.Option("", "--reason", help="Why (recorded with who and when)."),
    as_json: bool = JsonOption,
) -> None:
    """Reject a model version: it can no longer be deployed."""
    _decide(ctx, ref, reason, False, as_json)


@algorithms_app.command("list")
def algorithms_list(as_json: bool = JsonOption) -> None:
    """List the built-in algorithms."""
    from kiln.algorithms import ALGORITHMS

    if as_json:
        print_json([a.to_dict() for a in ALGORITHMS.values()])
        return
    table(
        "Algorithms",
        ["algorithm", "problem types", "summary"],
        [[a.name, ", ".join(a.problem_types), a.summary] for a in ALGORITHMS.values()],
    )


@algorithms_app.command("show")
def algorithms_show(name: str = typer.Argument(...), as_json: bool = JsonOption) -> None:
    """Show an algorithm's hyperparameters: type, range, default, meaning."""
    from kiln.algorithms import get_algorithm

    algorithm = get_algorithm(name)
    if as_json:
        print_json(algorithm.to_dict())
        return
    console.print(f"[bold]{algorithm.name}[/]: {algorithm.summary}")
    table(
        "Hyperparameters (--hp name=value)",
        ["name", "allowed", "default", "meaning"],
        [[p.name, p.describe(), p.default, p.help] for p in algorithm.params],
    )


def _automl_summary(details: dict) -> str:
    members = ", ".join(f"{m['algorithm']} × {m['weight']:.2f}" for m in details["ensemble"])
    return (
        f"ensemble of {members}; {len(details['leaderboard']) - 1} candidates tried "
        f"({details['validation']}); leaderboard and explanation in 'kiln models show --json'"
    )
