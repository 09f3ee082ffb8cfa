"""``kiln models`` and ``kiln algorithms``: the registry and the algorithm catalog."""

from __future__ import annotations

from pathlib import Path

import typer

from kiln.cli._common import (
    App,
    JsonOption,
    console,
    err_console,
    fields,
    metrics_table,
    print_json,
    table,
    workspace,
)

app = App(help="The model registry.", no_args_is_help=True)
RefArgument = typer.Argument(..., help="GROUP:VERSION or GROUP@ALIAS")
ReasonOption = typer.Option("", "--reason", help="Why (recorded with who and when).")
UndeployOption = typer.Option(
    False,
    "--undeploy",
    help="Roll the endpoints that serve it back to their previous Approved version.",
)
algorithms_app = App(help="The built-in algorithms.", no_args_is_help=True)


def _headline(versions) -> tuple[list[str], list[list]]:
    """The model list's metric columns, one per source that any version has (test, validation,
    cv mean, out-of-fold), and each version's cells: the headline metric's name, then its value
    from each source, blank where the version has none."""
    from kiln.problems import METRIC_SOURCES, headline_metrics

    headlines = [headline_metrics(v.metrics) for v in versions]
    sources = [s for s in METRIC_SOURCES if any(s in values for _, values in headlines)]
    rows = [
        [name or "", *[_fmt_metric(values.get(s)) for s in sources]] for name, values in headlines
    ]
    return ["metric", *[METRIC_SOURCES[s] for s in sources]], rows


def _fmt_metric(value) -> str:
    return "" if value is None else f"{value:.4f}"


@app.command("list")
def list_(
    ctx: typer.Context,
    group: str = typer.Argument(None, help="Only this model group."),
    as_json: bool = JsonOption,
) -> None:
    """List model versions, with one headline metric from each source it was measured on."""
    versions = workspace(ctx).models.list(group)
    if as_json:
        print_json([v.to_dict() for v in versions])
        return
    metric_columns, metric_cells = _headline(versions)
    table(
        "Models",
        ["model", "algorithm", "problem", *metric_columns, "status", "created"],
        [
            [
                v.ref,
                v.algorithm,
                v.problem_type,
                *cells,
                v.approval_status,
                f"{v.created_at:%Y-%m-%d %H:%M}",
            ]
            for v, cells in zip(versions, metric_cells, strict=True)
        ],
    )


def _compiled_summary(compiled: dict | None) -> str | None:
    """One line per compiled form (kiln compile): target, parity, one-row latency."""
    lines = []
    for target, record in sorted((compiled or {}).items()):
        parity = record.get("parity", {})
        figure = (
            f"max |Δp| {parity['max_abs_diff']:.1e}"
            if "max_abs_diff" in parity
            else f"max rel. diff {parity.get('max_rel_diff', float('nan')):.1e}"
        )
        latency = record.get("latency_ms", {})
        serving = " (serving)" if record.get("serving", True) else ""
        lines.append(
            f"{target}{serving}: parity {figure} on {parity.get('rows', '?')} rows; one row "
            f"{latency.get('compiled', float('nan')):.3f} ms (pipeline "
            f"{latency.get('pipeline', float('nan')):.3f} ms); {record.get('compiled_at', '')}"
        )
    return "\n".join(lines) or None


@app.command()
def show(
    ctx: typer.Context,
    ref: str = typer.Argument(..., help="GROUP or GROUP:VERSION"),
    as_json: bool = JsonOption,
) -> None:
    """Show a model version: signature, metrics, lineage, approval."""
    from kiln.reports import format_value

    ws = workspace(ctx)
    version = ws.models.get(ref)
    approvals = ws.models.approvals(version.ref)
    aliases = [a for a, r in ws.models.aliases(version.group).items() if r == version.ref]
    serving = ws.models.serving(version.ref)
    if as_json:
        print_json(
            version.to_dict() | {"approvals": approvals, "aliases": aliases, "served_by": serving}
        )
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
            "aliases": ", ".join(aliases) or None,
            "served by": ", ".join(serving) or None,
            "sha256": version.digest,
            "hyperparameters": format_value(version.hyperparameters)
            if version.algorithm != "automl"
            else "an ensemble: see automl",
            "early stopping": _early_stopping(version.details),
            "automl": _automl_summary(version.details) if version.algorithm == "automl" else None,
            "retraining": _retraining_summary(version.details),
            "problem": (version.details or {}).get("problem"),
            "criteria": _criteria_summary(version.details),
            "compiled": _compiled_summary(version.compiled),
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
    if approvals:
        table(
            "Approval history",
            ["when", "status", "by", "reason"],
            [[a["at"], a["status"], a["by"], a["reason"]] for a in approvals],
        )
    checked = (version.details or {}).get("criteria")
    if checked:
        from kiln.cli._problems import CRITERIA_COLUMNS, criteria_rows

        table("Success criteria", CRITERIA_COLUMNS, criteria_rows(checked["results"]))
    metrics_table(version.metrics)


def _criteria_summary(details: dict | None) -> str | None:
    checked = (details or {}).get("criteria")
    if not checked:
        return None
    passed = sum(bool(r["passed"]) for r in checked["results"])
    verdict = "all passed" if checked["passed"] else "FAILED"
    return f"{passed} of {len(checked['results'])} passed ({verdict})"


def _decide(
    ctx: typer.Context, ref: str, reason: str, status: str, as_json: bool, undeploy: bool = False
) -> None:
    ws = workspace(ctx)
    models = ws.models
    serving = models.serving(ref) if undeploy else []
    if status == "Approved":
        version = models.approve(ref, reason=reason)
    elif status == "Rejected":
        version = models.reject(ref, reason=reason, undeploy=undeploy)
    else:
        version = models.archive(ref, reason=reason, undeploy=undeploy)
    rolled_back = {name: ws.endpoints.get(name).model for name in serving}
    if as_json:
        print_json(version.to_dict() | {"rolled_back": rolled_back})
        return
    console.print(f"Model [bold]{version.ref}[/] is now {version.approval_status}.")
    for name, model in rolled_back.items():
        console.print(f"Endpoint [bold]{name}[/] rolled back to [bold]{model}[/].")


@app.command()
def approve(
    ctx: typer.Context,
    ref: str = RefArgument,
    reason: str = ReasonOption,
    as_json: bool = JsonOption,
) -> None:
    """Approve a model version for deployment."""
    _decide(ctx, ref, reason, "Approved", as_json)


@app.command()
def reject(
    ctx: typer.Context,
    ref: str = RefArgument,
    reason: str = ReasonOption,
    undeploy: bool = UndeployOption,
    as_json: bool = JsonOption,
) -> None:
    """Reject a model version: it can no longer be deployed.

    Refused while an endpoint serves it, unless --undeploy."""
    _decide(ctx, ref, reason, "Rejected", as_json, undeploy)


@app.command()
def archive(
    ctx: typer.Context,
    ref: str = RefArgument,
    reason: str = ReasonOption,
    undeploy: bool = UndeployOption,
    as_json: bool = JsonOption,
) -> None:
    """Archive a model version: kept with its history, never deployed.

    Refused while an endpoint serves it, unless --undeploy."""
    _decide(ctx, ref, reason, "Archived", as_json, undeploy)


@app.command()
def delete(
    ctx: typer.Context,
    ref: str = typer.Argument(..., help="GROUP:VERSION"),
    yes: bool = typer.Option(False, "--yes", help="Do not ask for confirmation."),
    as_json: bool = JsonOption,
) -> None:
    """Delete a model version's record (refused while deployed); 'kiln gc' frees its file."""
    ws = workspace(ctx)
    version = ws.models.get(ref)
    if not yes:
        typer.confirm(f"Delete model {version.ref} and its approval history?", abort=True)
    deleted = ws.models.delete(ref)
    if as_json:
        print_json(deleted.to_dict())
        return
    console.print(
        f"Deleted model [bold]{deleted.ref}[/]. Its file stays until 'kiln gc --delete' finds "
        "no record refers to it."
    )


@app.command()
def alias(
    ctx: typer.Context,
    ref: str = typer.Argument(..., help="GROUP:VERSION (or GROUP@ALIAS to remove with --delete)"),
    name: str = typer.Argument(None, help="The alias, e.g. production."),
    delete_: bool = typer.Option(False, "--delete", help="Remove the alias GROUP@ALIAS."),
    as_json: bool = JsonOption,
) -> None:
    """Point an alias (churn@production) at a version; usable wherever a version is."""
    from kiln.errors import ConfigError

    models = workspace(ctx).models
    if delete_:
        models.remove_alias(ref)
        if as_json:
            print_json({"removed": ref})
        else:
            console.print(f"Removed alias [bold]{ref}[/].")
        return
    if name is None:
        raise ConfigError(
            "Give the alias after the version, e.g. 'kiln models alias churn:3 production'.",
            code="cli.bad-option",
        )
    version = models.set_alias(ref, name)
    if as_json:
        print_json({"alias": f"{version.group}@{name}", "model": version.ref})
        return
    console.print(f"[bold]{version.group}@{name}[/] now names [bold]{version.ref}[/].")


@app.command()
def export(
    ctx: typer.Context,
    ref: str = typer.Argument(..., help="GROUP:VERSION or GROUP@ALIAS"),
    output: Path = typer.Option(..., "--output", "-o", help="File (or folder) to write."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing file."),
    as_json: bool = JsonOption,
) -> None:
    """Write a model version as a plain file, loadable with kiln.load_model(PATH)."""
    ws = workspace(ctx)
    version = ws.models.get(ref)
    path = ws.models.export(version.ref, output, overwrite=force)
    if as_json:
        print_json({"model": version.ref, "path": str(path), "sha256": version.digest})
        return
    console.print(f"Wrote model [bold]{version.ref}[/] to {path} (SHA-256 {version.digest}).")
    err_console.print(
        "[yellow]warning:[/] the file is a Python pickle: loading it runs code. Load only files "
        "you trust, with kiln.load_model(path), where the library versions in "
        f"'kiln models show {version.ref}' are installed. ONNX export is not available yet."
    )


@algorithms_app.command("list")
def algorithms_list(
    problem_type: str = typer.Option(
        None, "--problem-type", help="Only the algorithms of this problem type (forecasting, ...)."
    ),
    as_json: bool = JsonOption,
) -> None:
    """List the built-in algorithms, the forecasting ones included."""
    from kiln.algorithms import ALGORITHMS
    from kiln.forecasting import FORECASTERS
    from kiln.problems import FORECASTING

    entries = [a.to_dict() for a in ALGORITHMS.values()] + [
        {"name": name, "summary": summary, "problem_types": [FORECASTING]}
        for name, (_path, summary) in FORECASTERS.items()
    ]
    if problem_type is not None:
        entries = [e for e in entries if problem_type in e["problem_types"]]
    if as_json:
        print_json(entries)
        return
    table(
        "Algorithms",
        ["algorithm", "problem types", "summary"],
        [[e["name"], ", ".join(e["problem_types"]), e["summary"]] for e in entries],
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


def _early_stopping(details: dict | None) -> str | None:
    """``n_estimators 98 chosen of 300 configured``, from what the training job recorded."""
    stopped = (details or {}).get("early_stopping")
    if not stopped:
        return None
    return f"{stopped['param']} {stopped['chosen']} chosen of {stopped['configured']} configured"


def _retraining_summary(details: dict | None) -> str | None:
    """A retrained version's comparison with the model it would replace, on the same test rows."""
    found = (details or {}).get("retraining")
    if not found:
        return None
    pairs = ", ".join(
        f"{name} {row['candidate']:.4g} vs {row['deployed']:.4g}"
        for name, row in list(found.get("comparison", {}).items())[:4]
    )
    return (
        f"retrained from {found.get('replaces')} ({found.get('reason') or 'requested'}); "
        f"on the same {found.get('test_rows')} test rows: {pairs}"
    )


def _automl_summary(details: dict) -> str:
    members = ", ".join(
        f"{m['algorithm']} (trial {m['trial']}) × {m['weight']:.2f}" for m in details["ensemble"]
    )
    ran = sum(r["state"] != "out of time" for r in details["leaderboard"][1:])
    return (
        f"ensemble of {members}; {ran} candidates ran ({details['validation']}); "
        "leaderboard and explanation in 'kiln models show --json'"
    )
