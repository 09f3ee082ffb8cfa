"""``kiln problem``: create, show, list and trace versions of problem specs."""

from __future__ import annotations

from pathlib import Path

import typer

from kiln.cli._common import App, JsonOption, console, fields, print_json, table, workspace

app = App(help="Problem specs: the goal, target, success criteria and owner.", no_args_is_help=True)


def criteria_rows(results: list[dict]) -> list[list]:
    """Rows of a criteria table: criterion, kind, value, threshold, pass/FAIL."""
    return [
        [
            r["criterion"],
            r["kind"],
            r.get("split") or (f"{r['rows']} rows" if r.get("rows") else None),
            r["value"] if r["value"] is not None else r.get("note", "none"),
            r.get("threshold"),
            "pass" if r["passed"] else "FAIL",
        ]
        for r in results
    ]


CRITERIA_COLUMNS = ["criterion", "kind", "on", "value", "threshold", "result"]


def _summary(spec: dict) -> list[str]:
    """The criteria of a spec in words, one per line."""
    lines = list(spec["criteria"])
    cost = spec.get("cost")
    if cost:
        limits = []
        if cost.get("max_per_1000") is not None:
            limits.append(f"at most {cost['max_per_1000']:g}")
        if cost.get("beat_baseline_by") is not None:
            baseline = cost["baseline"]
            if isinstance(baseline, dict):
                baseline = f"predict {baseline['predict']!r}"
            limits.append(f"{cost['beat_baseline_by']:.0%} below the baseline ({baseline})")
        lines.append(f"cost per 1,000 predictions {' and '.join(limits)}")
    if spec.get("latency"):
        lines.append(f"p99 single-row latency <= {spec['latency']['p99_ms']:g} ms")
    return lines


@app.command()
def create(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="The problem's name, e.g. churn."),
    file: Path = typer.Option(..., "--file", "-f", help="The spec, a YAML file."),
    as_json: bool = JsonOption,
) -> None:
    """Record a problem spec; a changed spec is a new version, the same one is not."""
    ws = workspace(ctx)
    before = {p.name: p.version for p in ws.problems.list()}
    problem = ws.problems.create(name, file)
    if as_json:
        print_json(problem.to_dict())
        return
    if before.get(name) == problem.version:
        console.print(f"Problem [bold]{problem.ref}[/] is unchanged (same spec, same version).")
    else:
        console.print(f"Created problem [bold]{problem.ref}[/] (digest {problem.digest[:12]}).")


@app.command()
def show(
    ctx: typer.Context,
    ref: str = typer.Argument(..., help="NAME (the latest version) or NAME:VERSION"),
    as_json: bool = JsonOption,
) -> None:
    """Show a problem spec: goal, target, criteria, cost, latency budget, data and owner."""
    problem = workspace(ctx).problems.get(ref)
    if as_json:
        print_json(problem.to_dict())
        return
    spec = problem.spec
    fields(
        f"Problem {problem.ref}",
        {
            "description": spec["description"].strip() or None,
            "target": spec["target"],
            "problem type": spec["problem_type"] or "inferred from the target",
            "data": ", ".join(spec["data"]) or None,
            "owner": spec["owner"],
            "auto approve": "yes" if spec["auto_approve"] else "no",
            "created": f"{problem.created_at:%Y-%m-%d %H:%M:%S} by {problem.created_by}",
            "digest": problem.digest,
        },
    )
    criteria = _summary(spec)
    if criteria:
        table("Success criteria", ["criterion"], [[c] for c in criteria])
    cost = spec.get("cost")
    if cost:
        classes = list(cost["matrix"])
        table(
            "Cost matrix (rows: actual, columns: predicted)",
            ["actual", *classes],
            [[a, *(f"{cost['matrix'][a][p]:g}" for p in classes)] for a in classes],
        )


@app.command("list")
def list_(ctx: typer.Context, as_json: bool = JsonOption) -> None:
    """The latest version of each problem."""
    problems = workspace(ctx).problems.list()
    if as_json:
        print_json([p.to_dict() for p in problems])
        return
    table(
        "Problems",
        ["problem", "target", "type", "criteria", "owner", "created"],
        [
            [
                p.ref,
                p.spec["target"],
                p.spec["problem_type"],
                len(_summary(p.spec)),
                p.spec["owner"],
                f"{p.created_at:%Y-%m-%d %H:%M}",
            ]
            for p in problems
        ],
    )


@app.command()
def history(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="The problem's name."),
    as_json: bool = JsonOption,
) -> None:
    """Every version of a problem: who made it, when, and what changed from the one before."""
    from kiln.problems import spec_changes

    versions = workspace(ctx).problems.history(name)
    rows = []
    for previous, current in zip([None, *versions], versions, strict=False):
        changes = (
            ["first version"] if previous is None else spec_changes(previous.spec, current.spec)
        )
        rows.append(
            {
                "ref": current.ref,
                "created_at": current.created_at.isoformat() + "Z",
                "created_by": current.created_by,
                "digest": current.digest,
                "changes": changes,
            }
        )
    if as_json:
        print_json(rows)
        return
    table(
        f"History of problem {name}",
        ["version", "created", "by", "changes"],
        [[r["ref"], r["created_at"][:19], r["created_by"], "\n".join(r["changes"])] for r in rows],
    )
