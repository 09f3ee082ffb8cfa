"""What happens to a job's answers: consolidation into labels (written in one transaction),
the output data set version, completing or stopping a job, verification jobs and chaining."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING

from sqlalchemy import select, update

from kiln.errors import ConfigError, NotFound, StateError
from kiln.labeling._consolidate import METHODS, consolidate_answers
from kiln.labeling._jobs import (
    LabelingJob,
    add_items,
    answers_frame,
    create_job,
    get_job,
)
from kiln.store import LabelingItemRow, LabelingJobRow, now

if TYPE_CHECKING:
    import pandas as pd

    from kiln.context import Context
    from kiln.data import DatasetVersion

__all__ = [
    "OUTPUT_COLUMNS",
    "complete_job",
    "consolidate_job",
    "export_job",
    "stop_job",
    "update_settings",
    "verify_job",
]

# The columns an export adds to the input's. An input column of the same name (a chained job's
# input is an earlier export) is kept, renamed with ``_input`` appended.
OUTPUT_COLUMNS = ("label", "label_confidence", "label_method", "label_annotators")
_CORRECTIONS_LISTED = 1000


def consolidate_job(ctx: Context, name: str, *, method: str = "dawid-skene") -> dict:
    """Label every item whose answers are all in from those answers, in one transaction, and
    record the agreement, the annotators' accuracy (and, for a verification job, the
    corrections) on the job. Returns that record."""
    if method not in METHODS:
        raise ConfigError(
            f"Consolidation method {method!r} is not one of: {', '.join(METHODS)}.",
            code="labeling.bad-method",
            field="method",
        )
    job = get_job(ctx, name)
    with ctx.store.read() as session:
        done = dict(
            session.execute(
                select(LabelingItemRow.item, LabelingItemRow.id).where(
                    (LabelingItemRow.job_id == job.id)
                    & (
                        (LabelingItemRow.status == "answered")
                        | (
                            (LabelingItemRow.status == "labeled")
                            & (LabelingItemRow.method != "automatic")
                        )
                    )
                )
            ).all()
        )
        priors = {}
        if job.kind == "verification":
            priors = dict(
                session.execute(
                    select(LabelingItemRow.item, LabelingItemRow.prior).where(
                        LabelingItemRow.job_id == job.id
                    )
                ).all()
            )
    # Read after the items whose answers are all in, never before: an item completed in
    # between is then left for the next consolidation, not labelled from part of its answers.
    answers = answers_frame(ctx, name)
    answers = answers[answers["item"].isin(done)]
    result = consolidate_answers(answers, task=job.task, labels=job.labels, method=method)
    record = {
        "method": method,
        "at": now().isoformat() + "Z",
        "items": len(result.labels),
        "single_annotator_items": result.single,
        "agreement": result.agreement,
        "accuracy": result.accuracy,
    }
    if job.kind == "verification":
        changed = [
            item
            for item, label in zip(result.labels["item"], result.labels["label"], strict=True)
            if priors.get(item) is not None and priors[item].get("value") != label
        ]
        record["corrections"] = {
            "count": len(changed),
            "items": changed[:_CORRECTIONS_LISTED],
            "share": len(changed) / len(result.labels) if len(result.labels) else 0.0,
        }
    stamp = now()
    with ctx.store.write() as session:
        if len(result.labels):
            session.execute(
                update(LabelingItemRow),
                [
                    {
                        "id": done[item],
                        "status": "labeled",
                        "label": {"value": label},
                        "confidence": float(confidence),
                        "method": method_used,
                        "updated_at": stamp,
                    }
                    for item, label, confidence, method_used in zip(
                        result.labels["item"],
                        result.labels["label"],
                        result.labels["confidence"],
                        result.labels["method"],
                        strict=True,
                    )
                ],
            )
        row = session.get(LabelingJobRow, job.id)
        row.settings = {**row.settings, "consolidation": record}
    return record


def export_job(
    ctx: Context, name: str, *, dataset: str | None = None, label_only: bool = False
) -> DatasetVersion:
    """The job's labelled items as a new data set version (default name ``<job>_labels``): the
    input's rows with :data:`OUTPUT_COLUMNS` added, lineage to the input version; remembered as
    the job's output. ``label_only`` adds ``label`` alone: a training set whose features do not
    include how the label was made (the confidence and method would leak it)."""
    import pandas as pd

    job = get_job(ctx, name)
    with ctx.store.read() as session:
        rows = session.execute(
            select(
                LabelingItemRow.item,
                LabelingItemRow.position,
                LabelingItemRow.payload,
                LabelingItemRow.label,
                LabelingItemRow.confidence,
                LabelingItemRow.method,
                LabelingItemRow.answers,
            )
            .where((LabelingItemRow.job_id == job.id) & (LabelingItemRow.status == "labeled"))
            .order_by(LabelingItemRow.position)
        ).all()
    if not rows:
        raise StateError(
            f"Labelling job {name!r} has no labelled items to export. Answer items, then run "
            f"'kiln label consolidate {name}' (or 'kiln label auto {name}').",
            code="labeling.nothing-labeled",
        )
    if dataset is None:
        dataset = _default_output(ctx, job)
    labels = pd.DataFrame(
        [
            (
                item,
                _cell(label["value"]),
                confidence,
                method,
                answers if method != "automatic" else 0,
            )
            for item, _, _, label, confidence, method, answers in rows
        ],
        columns=["item", *OUTPUT_COLUMNS],
    )
    if job.dataset_version is None:
        frame = pd.DataFrame([payload for _, _, payload, *_ in rows])
        lineage: tuple = ()
    else:
        version = ctx.data.get_by_id(job.dataset_version)
        source = ctx.data.load(version)
        frame = _rows_of(source, labels["item"], job.settings.get("id_column"))
        lineage = (("dataset_version", version.id, "labeled"),)
    frame = frame.rename(columns=_renames(list(frame.columns))).reset_index(drop=True)
    for column in OUTPUT_COLUMNS[:1] if label_only else OUTPUT_COLUMNS:
        frame[column] = labels[column].to_numpy()
    out = ctx.data.ingest(
        frame,
        name=dataset,
        description=f"labelling job {job.name}",
        lineage=lineage,
    )
    with ctx.store.write() as session:
        session.get(LabelingJobRow, job.id).output = out.id
    return out


def _default_output(ctx: Context, job: LabelingJob) -> str:
    """Where an export names no data set: the data set of the job's earlier export, else
    ``<job>_labels`` — refused when that exists and is not this job's: jobs "a-b" and "a_b"
    both default to "a_b_labels", and the second's labels must not silently become a version
    of the first's data set."""
    if job.output is not None:
        try:
            return ctx.data.get_by_id(job.output).name
        except NotFound:  # the earlier export was deleted
            pass
    name = default_output_name(job.name)
    try:
        existing = ctx.data.get(name)
    except NotFound:
        return name
    raise StateError(
        f"Data set {name!r}, the default name for job {job.name!r}'s labels, exists already "
        f"and is not this job's export (its latest version is {existing.ref}). Name the "
        f"output: 'kiln label export {job.name} --dataset NAME' (dataset=NAME).",
        code="labeling.output-taken",
        field="dataset",
    )


def default_output_name(job: str) -> str:
    """``<job>_labels``, made a valid data set name (letters, digits, underscores)."""
    safe = re.sub(r"\W", "_", job)
    return f"{'job_' if safe[0].isdigit() else ''}{safe}_labels"


def complete_job(ctx: Context, name: str, *, method: str = "dawid-skene") -> LabelingJob:
    """Consolidate what is answered, export the labels and close the job (Completed)."""
    consolidate_job(ctx, name, method=method)
    export_job(ctx, name)
    return _set_status(ctx, name, "Completed")


def stop_job(ctx: Context, name: str) -> LabelingJob:
    """Close the job to further answers (Stopped); its labels so far can still be exported."""
    return _set_status(ctx, name, "Stopped")


def verify_job(
    ctx: Context,
    name: str,
    *,
    from_job: str,
    annotators_per_item: int = 1,
    instructions: str = "",
) -> LabelingJob:
    """A verification job over ``from_job``'s labelled items: each shows the item with its label
    (the prior); an answer is the label as it should be. Its export is the corrected labels, over
    the same input rows."""
    source = get_job(ctx, from_job)
    if source.task != "classification":
        raise ConfigError(
            f"Job {from_job!r} is a {source.task} job; verification jobs are for classification "
            "labels (to re-check spans or boxes, chain a new job with from_job).",
            code="labeling.cannot-verify",
            field="from_job",
        )
    with ctx.store.read() as session:
        items = session.execute(
            select(LabelingItemRow.item, LabelingItemRow.payload, LabelingItemRow.label)
            .where((LabelingItemRow.job_id == source.id) & (LabelingItemRow.status == "labeled"))
            .order_by(LabelingItemRow.position)
        ).all()
    if not items:
        raise StateError(
            f"Labelling job {from_job!r} has no labelled items to verify yet. Run "
            f"'kiln label consolidate {from_job}' first.",
            code="labeling.nothing-labeled",
            field="from_job",
        )
    job = create_job(
        ctx,
        name,
        data=None,
        task=source.task,
        labels=source.labels,
        annotators_per_item=annotators_per_item,
        instructions=instructions,
        columns=source.columns,
        content=source.content,
        kind="verification",
        parent=source.name,
    )
    with ctx.store.write() as session:
        row = session.get(LabelingJobRow, job.id)
        row.dataset, row.dataset_version = source.dataset, source.dataset_version
        row.settings = {
            **row.settings,
            "media": source.media,
            "id_column": source.settings.get("id_column"),
        }
    add_items(
        ctx,
        name,
        [{"item": i, "payload": p, "prior": label["value"]} for i, p, label in items],
    )
    return get_job(ctx, name)


def chained_input(ctx: Context, from_job: str) -> str:
    """The data set version a job chained after ``from_job`` labels: its output (exported now
    when it has none)."""
    source = get_job(ctx, from_job)
    if source.output is None:
        return export_job(ctx, from_job).ref
    return ctx.data.get_by_id(source.output).ref


def update_settings(ctx: Context, name: str, **values) -> None:
    """Merge ``values`` into the job's settings."""
    job = get_job(ctx, name)
    with ctx.store.write() as session:
        row = session.get(LabelingJobRow, job.id)
        row.settings = {**row.settings, **values}


def _set_status(ctx: Context, name: str, status: str) -> LabelingJob:
    job = get_job(ctx, name)
    if job.status != "InProgress":
        raise StateError(
            f"Labelling job {name!r} is {job.status} already.",
            code="labeling.closed",
        )
    with ctx.store.write() as session:
        session.get(LabelingJobRow, job.id).status = status
    return get_job(ctx, name)


def _rows_of(source: pd.DataFrame, items: pd.Series, id_column: str | None) -> pd.DataFrame:
    """The input rows of ``items``, in their order: by the id column, or by row number."""
    if id_column:
        index = source[id_column].astype(str)
        return source.set_axis(index).loc[items.to_numpy()]
    return source.iloc[items.astype(int).to_numpy()]


def _renames(columns: list[str]) -> dict[str, str]:
    renames = {}
    for column in OUTPUT_COLUMNS:
        if column in columns:
            new = f"{column}_input"
            while new in columns or new in renames.values():
                new += "_input"
            renames[column] = new
    return renames


def _cell(value):
    """A classification label as is; a multi-label list, spans or boxes as JSON text (a data
    set column holds one type)."""
    return value if isinstance(value, str) else json.dumps(value)
