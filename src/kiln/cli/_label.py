"""``kiln label``: labelling jobs — create, label from a terminal, consolidate, verify, label
automatically, export."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from kiln.cli._common import (
    App,
    JsonOption,
    console,
    err_console,
    fields,
    print_json,
    table,
    workspace,
)
from kiln.errors import ConfigError

app = App(help="Labelling jobs (Ground Truth).", no_args_is_help=True)

AsOption = typer.Option(None, "--as", help="The annotator (default: you).")


@app.command("create")
def label_create(
    ctx: typer.Context,
    name: str = typer.Argument(...),
    data: str = typer.Option(None, "--data", help="The data set (version) whose rows to label."),
    task: str = typer.Option(
        "classification",
        "--task",
        help="classification, multi-label, text-spans or bounding-boxes.",
    ),
    labels: str = typer.Option(..., "--labels", help="The label set, comma-separated."),
    annotators_per_item: int = typer.Option(1, "--annotators-per-item"),
    instructions: Path = typer.Option(None, "--instructions", help="A file of instructions."),
    content: str = typer.Option(None, "--content", help="The column with the text or image."),
    columns: str = typer.Option(None, "--columns", help="Columns shown, comma-separated."),
    id_column: str = typer.Option(None, "--id-column", help="A column identifying rows."),
    auto_label: bool = typer.Option(False, "--auto-label", help="Label confident items by model."),
    target_accuracy: float = typer.Option(0.95, "--target-accuracy"),
    min_labels: int = typer.Option(50, "--min-labels", help="Human labels before a model."),
    from_job: str = typer.Option(None, "--from-job", help="Label this job's output (chain)."),
    as_json: bool = JsonOption,
) -> None:
    """Create a labelling job over a data set's rows (or another job's output)."""
    text = ""
    if instructions is not None:
        if not instructions.is_file():
            raise ConfigError(
                f"--instructions {instructions}: no such file. Give a text or Markdown file.",
                code="labeling.bad-instructions",
                field="instructions",
            )
        text = instructions.read_text(encoding="utf-8")
    job = workspace(ctx).labeling.create(
        name,
        data=data,
        task=task,
        labels=_split(labels),
        annotators_per_item=annotators_per_item,
        instructions=text,
        columns=_split(columns) if columns else None,
        content=content,
        id_column=id_column,
        from_job=from_job,
        auto_label={"target_accuracy": target_accuracy, "min_labels": min_labels}
        if auto_label
        else None,
    )
    if as_json:
        print_json(job.to_dict())
        return
    source = f"{job.dataset} (from job {job.parent})" if job.parent else job.dataset
    console.print(
        f"Created labelling job {job.name}: {job.task} of {source} into "
        f"{', '.join(job.labels)}, {job.annotators_per_item} annotator(s) per item."
    )


@app.command("list")
def label_list(ctx: typer.Context, as_json: bool = JsonOption) -> None:
    """List labelling jobs with their progress."""
    service = workspace(ctx).labeling
    jobs = service.list()
    if as_json:
        print_json([j.to_dict() for j in jobs])
        return
    rows = []
    for job in jobs:
        status = service.status(job.name)
        rows.append(
            [
                job.name,
                job.kind,
                job.task,
                job.dataset or "",
                job.status,
                f"{status['labeled']}/{status['items']}",
                f"{status['automatic_share']:.0%}",
            ]
        )
    table(
        "Labelling jobs", ["job", "kind", "task", "data", "status", "labelled", "automatic"], rows
    )


@app.command("status")
def label_status(
    ctx: typer.Context, name: str = typer.Argument(...), as_json: bool = JsonOption
) -> None:
    """Show a job's progress, agreement, cost in human answers and automatic share."""
    status = workspace(ctx).labeling.status(name)
    if as_json:
        print_json(status)
        return
    agreement = status["agreement"]
    fields(
        f"Labelling job {name}",
        {
            "status": status["status"],
            "items": f"{status['items']} ({status['open']} open, {status['answered']} answered, "
            f"{status['labeled']} labelled)",
            "labelled by": ", ".join(f"{m} {n}" for m, n in status["by_method"].items()),
            "automatic share": f"{status['automatic_share']:.1%}",
            "cost": f"{status['human_answers']} human answers, {status['human_seconds']:.0f} s",
            "Fleiss' kappa": _number(agreement["fleiss_kappa"]),
            "Krippendorff's alpha": _number(agreement["krippendorff_alpha"]),
        }
        | ({"note": agreement["note"]} if agreement.get("note") else {}),
    )
    table(
        "Annotators",
        ["annotator", "answers", "seconds", "accuracy vs consensus"],
        [
            [a["name"], a["answers"], f"{a['seconds']:.0f}", _number(a["accuracy"])]
            for a in status["annotators"]
        ],
    )
    if status["auto_rounds"]:
        table(
            "Automated labelling rounds",
            ["at", "human labels", "threshold", "est. accuracy", "labelled", "left", "note"],
            [
                [
                    r["at"][:19],
                    r["human_labels"],
                    _number(r.get("threshold")),
                    _number(r.get("estimated_accuracy")),
                    r.get("labeled", 0),
                    r.get("left_for_humans", ""),
                    r.get("error") or r.get("skipped") or r.get("note") or "",
                ]
                for r in status["auto_rounds"]
            ],
        )


@app.command("next")
def label_next(
    ctx: typer.Context,
    name: str = typer.Argument(...),
    annotator: str = AsOption,
    as_json: bool = JsonOption,
) -> None:
    """Take the next item to label (shown with what to answer)."""
    from kiln.store import who

    item = workspace(ctx).labeling.next_item(name, annotator or who())
    if as_json:
        print_json(item.to_dict() if item else None)
        return
    if item is None:
        console.print(f"Nothing left for you in {name}.")
        return
    fields(
        f"Item {item.item}",
        {**item.payload, **({"current label": item.prior["value"]} if item.prior else {})},
    )
    console.print(f"Answer with: kiln label answer {name} {item.item} LABEL")


@app.command("answer")
def label_answer(
    ctx: typer.Context,
    name: str = typer.Argument(...),
    item: str = typer.Argument(...),
    value: str = typer.Argument(
        ..., help="A label; labels comma-separated (multi-label); JSON (spans, boxes)."
    ),
    annotator: str = AsOption,
    as_json: bool = JsonOption,
) -> None:
    """Answer an item you were given."""
    from kiln.store import who

    service = workspace(ctx).labeling
    task = service.get(name).task
    if task == "classification":
        answer = value
    elif task == "multi-label":
        answer = _split(value)
    else:
        try:
            answer = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ConfigError(
                f"A {task} answer is JSON, e.g. "
                '\'[{"start": 0, "end": 5, "label": "PER"}]\'; '
                f"{value!r} is not JSON ({exc.msg}).",
                code="labeling.bad-answer",
                field="answer",
            ) from exc
    done = service.answer(name, item, annotator or who(), answer)
    if as_json:
        print_json(done.to_dict())
        return
    console.print(f"Recorded {done.annotator}'s answer to item {done.item}.")


@app.command("consolidate")
def label_consolidate(
    ctx: typer.Context,
    name: str = typer.Argument(...),
    method: str = typer.Option("dawid-skene", "--method", help="dawid-skene or majority."),
    as_json: bool = JsonOption,
) -> None:
    """Label the answered items from their answers; report agreement."""
    with err_console.status(f"Consolidating {name}"):
        record = workspace(ctx).labeling.consolidate(name, method=method)
    if as_json:
        print_json(record)
        return
    agreement = record["agreement"]
    console.print(
        f"Labelled {record['items']} item(s) by {method} "
        f"({record['single_annotator_items']} with one annotator). Fleiss' kappa "
        f"{_number(agreement['fleiss_kappa'])}, Krippendorff's alpha "
        f"{_number(agreement['krippendorff_alpha'])}."
    )
    if agreement.get("note"):
        console.print(agreement["note"])
    if "corrections" in record:
        corrections = record["corrections"]
        console.print(
            f"Corrections: {corrections['count']} ({corrections['share']:.1%})"
            + (f": {', '.join(corrections['items'][:20])}" if corrections["items"] else "")
        )


@app.command("verify")
def label_verify(
    ctx: typer.Context,
    name: str = typer.Argument(...),
    from_job: str = typer.Option(..., "--from-job", help="The job whose labels to check."),
    annotators_per_item: int = typer.Option(1, "--annotators-per-item"),
    as_json: bool = JsonOption,
) -> None:
    """Create a verification job: another look at a job's labels."""
    job = workspace(ctx).labeling.verify(
        name, from_job=from_job, annotators_per_item=annotators_per_item
    )
    if as_json:
        print_json(job.to_dict())
        return
    console.print(f"Created verification job {job.name} over the labels of {from_job}.")


@app.command("auto")
def label_auto(
    ctx: typer.Context,
    name: str = typer.Argument(...),
    target_accuracy: float = typer.Option(None, "--target-accuracy"),
    min_labels: int = typer.Option(None, "--min-labels"),
    as_json: bool = JsonOption,
) -> None:
    """Run an automated-labelling round now."""
    with err_console.status(f"Training on the human labels of {name}"):
        record = workspace(ctx).labeling.auto_label(
            name, target_accuracy=target_accuracy, min_labels=min_labels
        )
    if as_json:
        print_json(record)
        return
    if "skipped" in record:
        console.print(f"No round: {record['skipped']}")
        return
    if record["threshold"] is None:
        console.print(record["note"])
        return
    console.print(
        f"Labelled {record['labeled']} item(s) automatically at confidence >= "
        f"{_number(record['threshold'])} (estimated accuracy "
        f"{_number(record['estimated_accuracy'])} on {record['check_size']} human labels); "
        f"{record['left_for_humans']} left for people, least confident first."
    )


@app.command("export")
def label_export(
    ctx: typer.Context,
    name: str = typer.Argument(...),
    dataset: str = typer.Option(None, "--dataset", help="Data set to write (default NAME_labels)."),
    label_only: bool = typer.Option(False, "--label-only", help="Add the label column alone."),
    as_json: bool = JsonOption,
) -> None:
    """Write the labelled items as a new data set version."""
    version = workspace(ctx).labeling.export(name, dataset=dataset, label_only=label_only)
    if as_json:
        print_json(version.to_dict())
        return
    console.print(f"Wrote {version.ref} ({version.row_count} labelled rows).")
    if workspace(ctx).labeling.get(name).task != "classification":
        return  # spans, boxes and label sets are JSON text: not a target to train on as is
    if label_only:
        console.print(
            f"Train on it with: kiln train --data {version.ref} --target label --algorithm linear"
        )
    else:
        # The confidence, method and annotator count say how each label was made: as features
        # they would leak it, so the training hint is for the label-only export.
        console.print(
            "For a training set, export with --label-only (the label_confidence, label_method "
            "and label_annotators columns say how each label was made, and would leak it)."
        )


@app.command("complete")
def label_complete(ctx: typer.Context, name: str = typer.Argument(...)) -> None:
    """Consolidate, export and close a job."""
    job = workspace(ctx).labeling.complete(name)
    console.print(f"Completed {job.name}; its labels are data set version {job.output}.")


@app.command("stop")
def label_stop(ctx: typer.Context, name: str = typer.Argument(...)) -> None:
    """Close a job to further answers."""
    workspace(ctx).labeling.stop(name)
    console.print(f"Stopped {name}.")


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _number(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"
