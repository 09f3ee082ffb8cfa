"""Labelling jobs: items from a data set version handed to annotators one at a time, and their
answers checked against the task's label set.

An item goes to annotators who have not been given it, until it has ``annotators_per_item``
answers; an item handed out and not answered within ``LEASE_SECONDS`` stops counting against that
total, so an abandoned task does not hold an item back (the annotator who abandoned it still never
gets it again). Writes are serialised by the store, so two annotators asking at once never take
the last place on one item twice.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, exists, func, select, update

from kiln.data import json_rows, unknown_column
from kiln.errors import ConfigError, DataError, NotFound, StateError
from kiln.store import (
    LabelingItemRow,
    LabelingJobRow,
    LabelingTaskRow,
    Page,
    Record,
    new_id,
    now,
    paged,
    who,
)

if TYPE_CHECKING:
    import pandas as pd

    from kiln.context import Context

__all__ = [
    "KINDS",
    "LEASE_SECONDS",
    "TASKS",
    "LabelingItem",
    "LabelingJob",
    "LabelingTask",
    "add_items",
    "check_answer",
    "create_job",
    "next_item",
    "progress",
    "record_answer",
]

TASKS = ("classification", "multi-label", "text-spans", "bounding-boxes")
# labeling: items labelled from scratch; verification: labels given a second look (the answer is
# the label as it should be: the same as shown, or corrected); review: an endpoint's predictions.
KINDS = ("labeling", "verification", "review")
LEASE_SECONDS = 600.0
ITEM_STATUSES = ("open", "answered", "labeled")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".webp", ".bmp")
_URL = re.compile(r"^https?://", re.IGNORECASE)


@dataclass(frozen=True)
class LabelingJob(Record):
    """A labelling job as stored."""

    id: str
    name: str
    kind: str
    task: str
    labels: list
    dataset: str | None
    dataset_version: str | None
    columns: list
    content: str | None
    annotators_per_item: int
    instructions: str
    parent: str | None
    endpoint: str | None
    settings: dict
    status: str
    output: str | None
    created_at: datetime
    created_by: str

    @property
    def media(self) -> str:
        """What an annotator looks at: ``image`` (the content column holds image paths or
        URLs), ``text`` (it holds text) or ``row`` (the shown columns of a table row)."""
        return self.settings.get("media", "row")

    def to_dict(self) -> dict:
        return {**self._plain(), "media": self.media}


@dataclass(frozen=True)
class LabelingItem(Record):
    """One item of a job: what is shown (``payload``), the label under verification or the
    prediction under review (``prior``), and its label once it has one."""

    item: str
    position: int
    payload: dict
    prior: dict | None
    status: str  # open, answered (every answer in), labeled
    answers: int
    priority: float
    label: dict | None
    confidence: float | None
    method: str | None
    updated_at: datetime

    def to_dict(self) -> dict:
        return self._plain()


@dataclass(frozen=True)
class LabelingTask(Record):
    """One item given to one annotator, and the answer once given."""

    item: str
    annotator: str
    assigned_at: datetime
    answer: dict | None
    answered_at: datetime | None
    seconds: float | None

    def to_dict(self) -> dict:
        return self._plain()


def create_job(
    ctx: Context,
    name: str,
    *,
    data: str | None,
    task: str,
    labels: list[str],
    annotators_per_item: int = 1,
    instructions: str = "",
    columns: list[str] | None = None,
    content: str | None = None,
    id_column: str | None = None,
    prior_column: str | None = None,
    kind: str = "labeling",
    parent: str | None = None,
    endpoint: str | None = None,
    settings: dict | None = None,
) -> LabelingJob:
    """Check the request against the data set version and write the job with one item per row,
    in one transaction (nothing is written when any check fails).

    With ``data`` None the job starts empty and takes its items from :func:`add_items` as they
    come (human review of an endpoint's predictions); ``columns`` then names what items show.
    """
    _check_name(name)
    task = _check_choice(task, TASKS, "task")
    kind = _check_choice(kind, KINDS, "kind")
    labels = _check_labels(labels, task)
    if (
        not isinstance(annotators_per_item, int)
        or isinstance(annotators_per_item, bool)
        or not 1 <= annotators_per_item <= 100
    ):
        raise ConfigError(
            f"annotators_per_item={annotators_per_item!r}: give a whole number from 1 to 100 "
            "(how many people answer each item; 3 lets a majority and Dawid-Skene work).",
            code="labeling.bad-annotator-count",
            field="annotators_per_item",
        )
    if data is None:
        import pandas as pd

        if not columns:
            raise ConfigError(
                "A labelling job without a data set needs columns=[...]: what its items show.",
                code="labeling.columns-needed",
                field="columns",
            )
        version, frame = None, pd.DataFrame(columns=list(columns))
    else:
        version = ctx.data.get(data)
        frame = ctx.data.load(version)
    wanted = [c for c in (*(columns or []), content, id_column, prior_column) if c]
    for column in wanted:
        if column not in frame.columns:
            raise unknown_column(column, version)
    if task in ("text-spans", "bounding-boxes") and content is None:
        what = "text" if task == "text-spans" else "image paths or URLs"
        raise ConfigError(
            f"A {task} job needs the column that holds the {what}: give content=COLUMN "
            "(--content on the command line).",
            code="labeling.content-needed",
            field="content",
        )
    media = _media(frame, content, task)
    if media == "image" and version is not None:
        _check_files(frame[content], version.ref, content)
    shown = list(columns) if columns else ([content] if content else list(frame.columns))
    ids = _item_ids(frame, id_column, version.ref) if version else []
    stamp, by = now(), who()
    job_id = new_id("label")
    with ctx.store.write() as session:
        taken = session.scalar(select(LabelingJobRow.id).where(LabelingJobRow.name == name))
        if taken is not None:
            raise StateError(
                f"A labelling job named {name!r} exists already. Choose another name, or see it "
                f"with 'kiln label status {name}'.",
                code="labeling.name-taken",
                field="name",
            )
        session.add(
            LabelingJobRow(
                id=job_id,
                name=name,
                kind=kind,
                task=task,
                labels=labels,
                dataset=version.name if version else None,
                dataset_version=version.id if version else None,
                columns=shown,
                content=content,
                annotators_per_item=annotators_per_item,
                instructions=instructions,
                parent=parent,
                endpoint=endpoint,
                settings={**(settings or {}), "media": media, "id_column": id_column},
                status="InProgress",
                output=None,
                created_at=stamp,
                created_by=by,
            )
        )
        session.flush()
        records = [dict(zip(shown, row, strict=True)) for row in json_rows(frame[shown])]
        priors = [row[0] for row in json_rows(frame[[prior_column]])] if prior_column else None
        _insert_items(
            session,
            job_id,
            [
                (item, record, None if priors is None else {"value": priors[position]})
                for position, (item, record) in enumerate(zip(ids, records, strict=True))
            ],
            start=0,
            stamp=stamp,
        )
        return LabelingJob._from_row(session.get(LabelingJobRow, job_id))


def add_items(ctx: Context, name: str, items: list[dict]) -> int:
    """Add items to an open job: each ``{"item": id, "payload": {...}, "prior": value}``
    (``prior`` optional: a prediction under review, a label under verification). An item id the
    job has already is skipped, so a retried delivery adds nothing twice. Returns how many were
    added."""
    job = get_job(ctx, name)
    _check_open(job)
    stamp = now()
    with ctx.store.write() as session:
        wanted = [str(i["item"]) for i in items]
        known = set(
            session.scalars(
                select(LabelingItemRow.item).where(
                    (LabelingItemRow.job_id == job.id) & LabelingItemRow.item.in_(wanted)
                )
            )
        )
        start = session.scalar(
            select(func.coalesce(func.max(LabelingItemRow.position) + 1, 0)).where(
                LabelingItemRow.job_id == job.id
            )
        )
        fresh, seen = [], set(known)
        for entry in items:
            item = str(entry["item"])
            if item in seen:
                continue
            seen.add(item)
            prior = {"value": entry["prior"]} if entry.get("prior") is not None else None
            fresh.append((item, {c: entry["payload"].get(c) for c in job.columns}, prior))
        _insert_items(session, job.id, fresh, start=start, stamp=stamp)
        return len(fresh)


def _insert_items(session, job_id: str, items: list[tuple], *, start: int, stamp) -> None:
    if not items:
        return
    session.execute(
        LabelingItemRow.__table__.insert(),
        [
            {
                "job_id": job_id,
                "item": item,
                "position": start + offset,
                "payload": payload,
                "prior": prior,
                "status": "open",
                "answers": 0,
                "priority": float(start + offset),
                "label": None,
                "confidence": None,
                "method": None,
                "updated_at": stamp,
            }
            for offset, (item, payload, prior) in enumerate(items)
        ],
    )


def get_job(ctx: Context, name: str) -> LabelingJob:
    with ctx.store.read() as session:
        row = session.scalar(select(LabelingJobRow).where(LabelingJobRow.name == name))
        if row is None:
            raise NotFound(
                f"No labelling job named {name!r}. See 'kiln label list', or create one with "
                f"'kiln label create {name} --data D --task classification --labels a,b'.",
                code="labeling.unknown-job",
            )
        return LabelingJob._from_row(row)


def list_jobs(
    ctx: Context,
    *,
    limit: int | None = 50,
    offset: int = 0,
    sort: str = "-created_at",
    q: str | None = None,
    status: str | None = None,
) -> Page:
    """The labelling jobs, newest first by default, paged on the server; ``q`` filters by
    name, ``status`` by status (InProgress, Completed, Stopped)."""
    from kiln.store import like_pattern

    query = select(LabelingJobRow)
    if q:
        query = query.where(LabelingJobRow.name.ilike(like_pattern(q)))
    if status:
        query = query.where(LabelingJobRow.status == status)
    with ctx.store.read() as session:
        page = paged(
            session,
            query,
            limit=limit,
            offset=offset,
            sort=sort,
            columns={"created_at": LabelingJobRow.created_at, "name": LabelingJobRow.name},
            default_sort="-created_at",
        )
        return page.with_items([LabelingJob._from_row(r) for r in page.items])


def next_item(ctx: Context, name: str, annotator: str) -> LabelingItem | None:
    """The item ``annotator`` should answer now, handed to them (recorded), or None when the job
    has nothing left for them. An item they were given and have not answered comes back first,
    so reloading the page shows the same item."""
    job = get_job(ctx, name)
    _check_open(job)
    stamp = now()
    cutoff = stamp - timedelta(seconds=LEASE_SECONDS)
    with ctx.store.write() as session:
        # A task whose lease lapsed comes back only while its item still wants answers: others
        # may have given them meanwhile.
        pending = session.scalar(
            select(LabelingTaskRow.item)
            .join(
                LabelingItemRow,
                (LabelingItemRow.job_id == LabelingTaskRow.job_id)
                & (LabelingItemRow.item == LabelingTaskRow.item),
            )
            .where(
                (LabelingTaskRow.job_id == job.id)
                & (LabelingTaskRow.annotator == annotator)
                & LabelingTaskRow.answered_at.is_(None)
                & (LabelingItemRow.answers < job.annotators_per_item)
            )
            .order_by(LabelingTaskRow.assigned_at)
            .limit(1)
        )
        if pending is not None:
            return _item(session, job.id, pending)
        task = LabelingTaskRow
        given = exists().where(
            (task.job_id == LabelingItemRow.job_id)
            & (task.item == LabelingItemRow.item)
            & (task.annotator == annotator)
        )
        outstanding = (
            select(func.count())
            .where(
                and_(
                    task.job_id == LabelingItemRow.job_id,
                    task.item == LabelingItemRow.item,
                    task.answered_at.is_(None),
                    task.assigned_at > cutoff,
                )
            )
            .scalar_subquery()
        )
        item = session.scalar(
            select(LabelingItemRow.item)
            .where(
                (LabelingItemRow.job_id == job.id)
                & (LabelingItemRow.status == "open")
                & ~given
                & (LabelingItemRow.answers + outstanding < job.annotators_per_item)
            )
            .order_by(LabelingItemRow.priority, LabelingItemRow.position)
            .limit(1)
        )
        if item is None:
            return None
        session.add(
            LabelingTaskRow(job_id=job.id, item=item, annotator=annotator, assigned_at=stamp)
        )
        return _item(session, job.id, item)


def record_answer(
    ctx: Context,
    name: str,
    item: str,
    annotator: str,
    value: Any,
    *,
    seconds: float | None = None,
) -> LabelingTask:
    """Record ``annotator``'s answer to an item they were given. The answer is checked against
    the task and label set; a second answer to the same item is refused (the first stands)."""
    job = get_job(ctx, name)
    _check_open(job)
    with ctx.store.write() as session:
        # Checked again under the write lock: the job may have closed since it was read.
        _check_open(replace(job, status=session.get(LabelingJobRow, job.id).status))
        row = session.scalar(
            select(LabelingTaskRow).where(
                (LabelingTaskRow.job_id == job.id)
                & (LabelingTaskRow.item == str(item))
                & (LabelingTaskRow.annotator == annotator)
            )
        )
        if row is None:
            raise StateError(
                f"{annotator} was not given item {item!r} of labelling job {name!r}. Ask for "
                "the next item first ('kiln label next', or the Studio labelling page).",
                code="labeling.not-assigned",
                field="item",
            )
        if row.answered_at is not None:
            raise StateError(
                f"{annotator} answered item {item!r} of {name!r} already (at "
                f"{row.answered_at.isoformat()}Z); an answer is given once and the first stands.",
                code="labeling.answered-twice",
                field="item",
            )
        payload, answers = session.execute(
            select(LabelingItemRow.payload, LabelingItemRow.answers).where(
                (LabelingItemRow.job_id == job.id) & (LabelingItemRow.item == str(item))
            )
        ).one()
        if answers >= job.annotators_per_item:
            raise StateError(
                f"Item {item!r} of {name!r} has all its {job.annotators_per_item} answers: it was "
                f"given to {annotator} at {row.assigned_at.isoformat()}Z and not answered within "
                f"{LEASE_SECONDS / 60:.0f} minutes, so it went to others. Ask for the next item.",
                code="labeling.item-complete",
                field="item",
            )
        text = payload.get(job.content) if job.content and job.media == "text" else None
        row.answer = {"value": check_answer(job.task, job.labels, value, text=text)}
        row.answered_at = now()
        row.seconds = None if seconds is None else float(seconds)
        session.execute(
            update(LabelingItemRow)
            .where((LabelingItemRow.job_id == job.id) & (LabelingItemRow.item == str(item)))
            .values(
                answers=LabelingItemRow.answers + 1,
                status=_status_after_answer(job.annotators_per_item),
                updated_at=row.answered_at,
            )
        )
        session.flush()
        task = LabelingTask._from_row(row)
        if job.settings.get("auto_label"):
            # Imported here: automated labelling builds on this module.
            from kiln.labeling import _auto

            humans = _auto.human_label_count(session, job.id)
    if job.settings.get("auto_label"):
        _auto.maybe_start_round(ctx, job, humans)
    return task


def _status_after_answer(per_item: int):
    """``answered`` once the item has its count of answers (this one included), else ``open``."""
    from sqlalchemy import case

    return case((LabelingItemRow.answers + 1 >= per_item, "answered"), else_=LabelingItemRow.status)


def check_answer(task: str, labels: list, value: Any, *, text: str | None = None) -> Any:
    """``value`` checked as an answer to a ``task`` with label set ``labels``, in its stored
    form: a label (classification), a list of labels (multi-label), a list of
    ``{start, end, label}`` character spans of ``text`` (text-spans), or a list of
    ``{x, y, width, height, label}`` boxes in pixels (bounding-boxes)."""
    if task == "classification":
        return _check_label(value, labels)
    if not isinstance(value, list):
        raise DataError(
            f"A {task} answer is a list, not {value!r}.",
            code="labeling.bad-answer",
            field="answer",
        )
    if task == "multi-label":
        chosen = [_check_label(v, labels) for v in value]
        if len(set(chosen)) != len(chosen):
            raise DataError(
                f"Labels {chosen} name one label twice; give each once.",
                code="labeling.bad-answer",
                field="answer",
            )
        return sorted(chosen, key=labels.index)
    keys = ("start", "end") if task == "text-spans" else ("x", "y", "width", "height")
    checked = []
    for part in value:
        if not isinstance(part, dict) or any(not _is_number(part.get(k)) for k in keys):
            raise DataError(
                f"Each {task} answer part is {{{', '.join(keys)}, label}} with numbers; got "
                f"{part!r}.",
                code="labeling.bad-answer",
                field="answer",
            )
        shape = {k: float(part[k]) for k in keys}
        if task == "text-spans":
            if not (shape["start"].is_integer() and shape["end"].is_integer()):
                raise DataError(
                    f"Span {shape['start']:g}..{shape['end']:g}: give whole character offsets "
                    "(start and end count characters of the text, end not included).",
                    code="labeling.bad-answer",
                    field="answer",
                )
            start, end = int(shape["start"]), int(shape["end"])
            limit = len(text) if text is not None else math.inf
            if not 0 <= start < end <= limit:
                raise DataError(
                    f"Span {start}..{end} is not inside the text (0..{limit}, start before end).",
                    code="labeling.bad-answer",
                    field="answer",
                )
            shape = {"start": start, "end": end}
        elif min(shape["x"], shape["y"]) < 0 or min(shape["width"], shape["height"]) <= 0:
            raise DataError(
                f"Box {shape} has a negative corner or an empty size.",
                code="labeling.bad-answer",
                field="answer",
            )
        checked.append({**shape, "label": _check_label(part.get("label"), labels)})
    return checked


def _check_label(value: Any, labels: list) -> str:
    if value not in labels:
        raise DataError(
            f"{value!r} is not one of this job's labels: {', '.join(labels)}.",
            code="labeling.unknown-label",
            field="answer",
        )
    return value


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def items_page(
    ctx: Context,
    name: str,
    *,
    status: str | None = None,
    limit: int | None = 50,
    offset: int = 0,
    sort: str = "position",
) -> Page:
    """A job's items, paged on the server, optionally of one status."""
    if status and status not in ITEM_STATUSES:
        raise ConfigError(
            f"Item status {status!r} is not one of: {', '.join(ITEM_STATUSES)}.",
            code="labeling.bad-status",
            field="status",
        )
    job = get_job(ctx, name)
    query = select(LabelingItemRow).where(LabelingItemRow.job_id == job.id)
    if status:
        query = query.where(LabelingItemRow.status == status)
    with ctx.store.read() as session:
        page = paged(
            session,
            query,
            limit=limit,
            offset=offset,
            sort=sort,
            columns={
                "position": LabelingItemRow.position,
                "priority": LabelingItemRow.priority,
                "confidence": LabelingItemRow.confidence,
                "updated_at": LabelingItemRow.updated_at,
            },
            default_sort="position",
        )
        return page.with_items([LabelingItem._from_row(r) for r in page.items])


def answers_frame(ctx: Context, name: str, *, item: str | None = None) -> pd.DataFrame:
    """Every answer of a job (or of its ``item`` alone): one row per (item, annotator) with
    ``answer`` (the value), ``answered_at`` and ``seconds`` — what consolidation and agreement
    are computed from."""
    import pandas as pd

    job = get_job(ctx, name)
    query = select(
        LabelingTaskRow.item,
        LabelingTaskRow.annotator,
        LabelingTaskRow.answer,
        LabelingTaskRow.answered_at,
        LabelingTaskRow.seconds,
    ).where((LabelingTaskRow.job_id == job.id) & LabelingTaskRow.answered_at.isnot(None))
    if item is not None:
        query = query.where(LabelingTaskRow.item == str(item))
    with ctx.store.read() as session:
        rows = session.execute(query).all()
    return pd.DataFrame(
        [(i, a, answer["value"], at, s) for i, a, answer, at, s in rows],
        columns=["item", "annotator", "answer", "answered_at", "seconds"],
    )


def progress(ctx: Context, name: str) -> dict:
    """How far a job is: items by status and by label method, the human answers given (the
    cost), the seconds they took, each annotator's count of answers and accuracy against the
    consensus, the agreement (as of the last consolidation) and the automated-labelling rounds."""
    job = get_job(ctx, name)
    with ctx.store.read() as session:
        by_status = dict(
            session.execute(
                select(LabelingItemRow.status, func.count())
                .where(LabelingItemRow.job_id == job.id)
                .group_by(LabelingItemRow.status)
            ).all()
        )
        by_method = dict(
            session.execute(
                select(LabelingItemRow.method, func.count())
                .where((LabelingItemRow.job_id == job.id) & LabelingItemRow.method.isnot(None))
                .group_by(LabelingItemRow.method)
            ).all()
        )
        annotators = session.execute(
            select(
                LabelingTaskRow.annotator,
                func.count(LabelingTaskRow.answered_at),
                func.sum(LabelingTaskRow.seconds),
            )
            .where(LabelingTaskRow.job_id == job.id)
            .group_by(LabelingTaskRow.annotator)
            .order_by(LabelingTaskRow.annotator)
        ).all()
    items = sum(by_status.values())
    labeled = by_status.get("labeled", 0)
    consolidation = job.settings.get("consolidation", {})
    return {
        "job": job.name,
        "status": job.status,
        "items": items,
        "open": by_status.get("open", 0),
        "answered": by_status.get("answered", 0),
        "labeled": labeled,
        "by_method": {m: by_method.get(m, 0) for m in ("human", "consolidated", "automatic")},
        "automatic_share": by_method.get("automatic", 0) / labeled if labeled else 0.0,
        "human_answers": sum(n for _, n, _ in annotators),
        "human_seconds": float(sum(s or 0.0 for _, _, s in annotators)),
        "annotators": [
            {
                "name": a,
                "answers": n,
                "seconds": float(s or 0.0),
                "accuracy": consolidation.get("accuracy", {}).get(a),
            }
            for a, n, s in annotators
        ],
        "agreement": consolidation.get(
            "agreement",
            {
                "fleiss_kappa": None,
                "krippendorff_alpha": None,
                "note": f"Not consolidated yet: run 'kiln label consolidate {job.name}'.",
            },
        ),
        "consolidation": consolidation or None,
        "auto_label": job.settings.get("auto_label"),
        "auto_rounds": job.settings.get("auto_rounds", []),
    }


def _item(session, job_id: str, item: str) -> LabelingItem:
    row = session.scalar(
        select(LabelingItemRow).where(
            (LabelingItemRow.job_id == job_id) & (LabelingItemRow.item == item)
        )
    )
    return LabelingItem._from_row(row)


def _check_open(job: LabelingJob) -> None:
    if job.status != "InProgress":
        raise StateError(
            f"Labelling job {job.name!r} is {job.status}; it takes no more answers.",
            code="labeling.closed",
        )


def _check_name(name: str) -> None:
    if not isinstance(name, str) or not _NAME.match(name):
        raise ConfigError(
            f"{name!r} is not a usable labelling job name: use up to 100 letters, digits, '_', "
            "'.' or '-', starting with a letter or digit.",
            code="labeling.bad-name",
            field="name",
        )


def _check_choice(value: str, choices: tuple[str, ...], field: str) -> str:
    if value not in choices:
        raise ConfigError(
            f"{field} {value!r} is not one of: {', '.join(choices)}.",
            code=f"labeling.bad-{field}",
            field=field,
        )
    return value


def _check_labels(labels: list[str], task: str) -> list[str]:
    if not isinstance(labels, list | tuple):
        # A string would otherwise be taken a character at a time ("a,b" as a, ",", b).
        raise ConfigError(
            f"labels={labels!r}: give the label set as a list, e.g. ['pos', 'neg'] (on the "
            "command line, --labels pos,neg).",
            code="labeling.bad-labels",
            field="labels",
        )
    labels = [str(label).strip() for label in labels]
    least = 2 if task == "classification" else 1
    if len(labels) < least or any(not label for label in labels):
        raise ConfigError(
            f"A {task} job needs at least {least} non-empty labels; got {labels!r}. Give them "
            "as --labels a,b,c.",
            code="labeling.bad-labels",
            field="labels",
        )
    if len(set(labels)) != len(labels):
        twice = sorted({label for label in labels if labels.count(label) > 1})
        raise ConfigError(
            f"Label {', '.join(map(repr, twice))} is given twice; each label once.",
            code="labeling.bad-labels",
            field="labels",
        )
    return labels


def _media(frame: pd.DataFrame, content: str | None, task: str) -> str:
    if content is None:
        return "row"
    sample = frame[content].dropna().astype(str).head(100)
    looks_like_images = len(sample) > 0 and sample.str.lower().str.endswith(_IMAGE_SUFFIXES).all()
    if task == "bounding-boxes" or looks_like_images:
        return "image"
    return "text"


def _check_files(values: pd.Series, ref: str, column: str) -> None:
    """Every image a job refers to by local path exists (URLs are the browser's to fetch)."""
    missing = [
        str(v)
        for v in values
        if v is None or (not _URL.match(str(v)) and not Path(str(v)).is_file())
    ]
    if missing:
        raise DataError(
            f"{len(missing)} of the {len(values)} files column {column!r} of {ref} refers to "
            f"cannot be found, e.g. {missing[0]!r}. Give absolute paths (or http(s) URLs) of "
            "files that exist.",
            code="labeling.missing-files",
            field="content",
        )


def _item_ids(frame: pd.DataFrame, id_column: str | None, ref: str) -> list[str]:
    if id_column is None:
        return [str(i) for i in range(len(frame))]
    ids = frame[id_column].astype(str)
    if frame[id_column].isna().any() or ids.duplicated().any():
        bad = ids[ids.duplicated()].head(1).tolist() or ["(missing)"]
        raise DataError(
            f"Column {id_column!r} of {ref} does not identify rows: {bad[0]!r} is missing or "
            "repeated. Give a column with one distinct value per row, or none (rows are then "
            "numbered).",
            code="labeling.bad-id-column",
            field="id_column",
        )
    return ids.tolist()
