"""``ws.labeling``: labelling jobs (the Ground Truth analogue), their annotators' tasks and
answers."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from kiln.errors import NotFound
from kiln.labeling._jobs import (
    LabelingItem,
    LabelingJob,
    LabelingTask,
    add_items,
    answers_frame,
    create_job,
    get_job,
    items_page,
    list_jobs,
    next_item,
    progress,
    record_answer,
)
from kiln.labeling._review import review_answered, review_dataset, start_review, stop_review
from kiln.store import LabelingItemRow

if TYPE_CHECKING:
    import pandas as pd

    from kiln.context import Context
    from kiln.data import DatasetVersion
    from kiln.endpoints import Endpoint
    from kiln.store import Page

__all__ = ["LabelingService"]


class LabelingService:
    """Create labelling jobs, hand their items to annotators and record the answers; see
    docs/labeling.md."""

    def __init__(self, workspace: Context):
        self._ws = workspace

    def create(
        self,
        name: str,
        *,
        data: str,
        task: str,
        labels: list[str],
        annotators_per_item: int = 1,
        instructions: str = "",
        columns: list[str] | None = None,
        content: str | None = None,
        id_column: str | None = None,
    ) -> LabelingJob:
        """A labelling job over data set ``data`` (``name``, ``name:3``): one item per row.

        ``task``: classification, multi-label, text-spans or bounding-boxes; ``labels``: the label
        set. ``content`` names the column holding the text or the image (a path or URL) to
        label — required for spans and boxes; ``columns`` the columns an annotator is shown
        (default: ``content``, else every column); ``id_column`` a column identifying rows
        (default: rows are numbered).
        """
        return create_job(
            self._ws,
            name,
            data=data,
            task=task,
            labels=labels,
            annotators_per_item=annotators_per_item,
            instructions=instructions,
            columns=columns,
            content=content,
            id_column=id_column,
        )

    def add_items(self, name: str, items: list[dict]) -> int:
        """Add items to an open job (``{"item", "payload", "prior"}`` each; an id the job has is
        skipped). Returns how many were added."""
        return add_items(self._ws, name, items)

    def status(self, name: str) -> dict:
        """Progress, cost in human answers, the automatic share and each annotator's answers."""
        return progress(self._ws, name)

    def get(self, name: str) -> LabelingJob:
        return get_job(self._ws, name)

    def page(
        self,
        *,
        limit: int | None = 50,
        offset: int = 0,
        sort: str = "-created_at",
        q: str | None = None,
    ) -> Page:
        """Labelling jobs, newest first, paged; ``q`` filters by name."""
        return list_jobs(self._ws, limit=limit, offset=offset, sort=sort, q=q)

    def list(self) -> list[LabelingJob]:
        return self.page(limit=None).items

    def next_item(self, name: str, annotator: str) -> LabelingItem | None:
        """The item ``annotator`` answers next (handed to them), or None when none is left
        for them."""
        return next_item(self._ws, name, annotator)

    def answer(
        self, name: str, item: str, annotator: str, value: Any, *, seconds: float | None = None
    ) -> LabelingTask:
        """Record ``annotator``'s answer to ``item`` (checked against the task and labels)."""
        task = record_answer(self._ws, name, item, annotator, value, seconds=seconds)
        if (job := self.get(name)).kind == "review":  # the label becomes the endpoint's truth
            review_answered(self._ws, job, str(item))
        return task

    def item(self, name: str, item: str) -> LabelingItem:
        """One item of a job, by its id."""
        job = self.get(name)
        with self._ws.store.read() as session:
            row = session.scalar(
                select(LabelingItemRow).where(
                    (LabelingItemRow.job_id == job.id) & (LabelingItemRow.item == str(item))
                )
            )
            if row is None:
                raise NotFound(
                    f"Labelling job {name!r} has no item {item!r}.",
                    code="labeling.unknown-item",
                    field="item",
                )
            return LabelingItem._from_row(row)

    # -- human review of an endpoint's predictions (kiln.labeling._review) ----------------------
    def start_review(
        self,
        endpoint: str,
        *,
        when: str | None,
        sample: str | float | None = None,
        annotators_per_item: int = 1,
        job: str | None = None,
        instructions: str = "",
    ) -> LabelingJob:
        """Send endpoint ``endpoint``'s live predictions meeting ``when`` (``"confidence <
        0.6"``), and a ``sample`` (``"1%"``) of the others, to review job ``job`` (default
        ``{endpoint}-review``); see docs/human-review.md."""
        return start_review(
            self._ws,
            endpoint,
            when=when,
            sample=sample,
            annotators_per_item=annotators_per_item,
            job=job,
            instructions=instructions,
        )

    def stop_review(
        self, endpoint: str, *, when: str | None = None, sample: str | float | None = None
    ) -> Endpoint:
        """Send no more of the endpoint's predictions for review (the job stays); a ``when``
        or ``sample`` given with it is refused."""
        return stop_review(self._ws, endpoint, when=when, sample=sample)

    def review_dataset(self, name: str, *, dataset: str | None = None) -> DatasetVersion:
        """A data set version of review job ``name``'s reviewed rows with their labels (named
        as the model's target), for retraining."""
        return review_dataset(self._ws, name, dataset=dataset)

    def items(
        self,
        name: str,
        *,
        status: str | None = None,
        limit: int | None = 50,
        offset: int = 0,
        sort: str = "position",
    ) -> Page:
        """A job's items, paged, optionally of one status (open, answered, labeled)."""
        return items_page(self._ws, name, status=status, limit=limit, offset=offset, sort=sort)

    def answers(self, name: str) -> pd.DataFrame:
        """Every answer given in a job: item, annotator, answer, answered_at, seconds."""
        return answers_frame(self._ws, name)
