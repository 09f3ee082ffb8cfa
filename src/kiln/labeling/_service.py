"""``ws.labeling``: labelling jobs (the Ground Truth analogue), their annotators' tasks and
answers."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from kiln.errors import ConfigError, NotFound
from kiln.labeling import _auto, _workflow
from kiln.labeling._jobs import (
    LabelingItem,
    LabelingJob,
    LabelingTask,
    _check_open,
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
from kiln.store import MAX_PAGE_SIZE, LabelingItemRow, LabelingTaskRow

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
        data: str | None = None,
        task: str,
        labels: list[str],
        annotators_per_item: int = 1,
        instructions: str = "",
        columns: list[str] | None = None,
        content: str | None = None,
        id_column: str | None = None,
        from_job: str | None = None,
        auto_label: dict | bool | None = None,
    ) -> LabelingJob:
        """A labelling job over data set ``data`` (``name``, ``name:3``): one item per row.

        ``task``: classification, multi-label, text-spans or bounding-boxes; ``labels``: the label
        set. ``content`` names the column holding the text or the image (a path or URL) to
        label — required for spans and boxes; ``columns`` the columns an annotator is shown
        (default: ``content``, else every column); ``id_column`` a column identifying rows
        (default: rows are numbered).

        ``from_job`` chains: the job labels every row of that job's output (exported now if it
        has none) instead of ``data``. ``auto_label`` (``True`` or ``{"target_accuracy": 0.95,
        "min_labels": 50, "batch": 25}``) labels confident items automatically once enough human
        labels exist (classification only).
        """
        if (data is None) == (from_job is None):
            raise ConfigError(
                "Give the data to label (data=..., --data) or the job whose output to label "
                "(from_job=..., --from-job), one of the two.",
                code="labeling.data-needed",
                field="data",
            )
        automatic = None
        if auto_label:
            automatic = _auto.auto_label_settings(
                task, **({} if auto_label is True else dict(auto_label))
            )
        if from_job is not None:
            data = _workflow.chained_input(self._ws, from_job)
        job = create_job(
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
            parent=from_job,
            settings={"auto_label": automatic} if automatic else None,
        )
        if automatic:
            _auto.shuffle_queue(self._ws, job, check_size=automatic["check_size"])
        return job

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
        status: str | None = None,
    ) -> Page:
        """Labelling jobs, newest first, paged; ``q`` filters by name, ``status`` by status
        (InProgress, Completed, Stopped)."""
        return list_jobs(self._ws, limit=limit, offset=offset, sort=sort, q=q, status=status)

    def list(self) -> list[LabelingJob]:
        """Every labelling job, newest first (read a page at a time)."""
        jobs: list[LabelingJob] = []
        while True:
            page = self.page(limit=MAX_PAGE_SIZE, offset=len(jobs))
            jobs.extend(page.items)
            if not page.items or len(jobs) >= page.total:
                return jobs

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

    def was_given(self, name: str, item: str, annotator: str) -> bool:
        """Whether ``annotator`` was given ``item`` (answered or not): what an annotator may
        look at of a job's items."""
        job = self.get(name)
        with self._ws.store.read() as session:
            return (
                session.scalar(
                    select(LabelingTaskRow.id).where(
                        (LabelingTaskRow.job_id == job.id)
                        & (LabelingTaskRow.item == str(item))
                        & (LabelingTaskRow.annotator == annotator)
                    )
                )
                is not None
            )

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

    def consolidate(self, name: str, *, method: str = "dawid-skene") -> dict:
        """Label every fully answered item from its answers (``dawid-skene`` or ``majority``),
        in one transaction; returns the agreement, each annotator's accuracy against the
        consensus, how many items had a single annotator (their label is unchecked) and, for a
        verification job, the corrections."""
        return _workflow.consolidate_job(self._ws, name, method=method)

    def export(
        self, name: str, *, dataset: str | None = None, label_only: bool = False
    ) -> DatasetVersion:
        """The labelled items as a new data set version (the input's columns plus ``label``,
        ``label_confidence``, ``label_method``, ``label_annotators``; ``label`` alone with
        ``label_only``, for training), lineage to the input."""
        return _workflow.export_job(self._ws, name, dataset=dataset, label_only=label_only)

    def complete(self, name: str, *, method: str = "dawid-skene") -> LabelingJob:
        """Consolidate, export and close the job."""
        return _workflow.complete_job(self._ws, name, method=method)

    def stop(self, name: str) -> LabelingJob:
        """Close the job to further answers; what is labelled can still be exported."""
        return _workflow.stop_job(self._ws, name)

    def verify(
        self,
        name: str,
        *,
        from_job: str,
        annotators_per_item: int = 1,
        instructions: str = "",
    ) -> LabelingJob:
        """A verification job: ``from_job``'s labelled items, each shown with its label, to be
        confirmed or corrected; consolidating it records the corrections."""
        return _workflow.verify_job(
            self._ws,
            name,
            from_job=from_job,
            annotators_per_item=annotators_per_item,
            instructions=instructions,
        )

    def auto_label(
        self,
        name: str,
        *,
        target_accuracy: float | None = None,
        min_labels: int | None = None,
        batch: int | None = None,
        check_size: int | None = None,
    ) -> dict:
        """Run an automated-labelling round now (turning automated labelling on for the job,
        with the settings given, when it is off); returns the round."""
        job = get_job(self._ws, name)
        _check_open(job)
        current = job.settings.get("auto_label") or {}
        wanted = {
            "target_accuracy": target_accuracy or current.get("target_accuracy", 0.95),
            "min_labels": min_labels or current.get("min_labels", 50),
            "batch": batch or current.get("batch"),
            "check_size": check_size or current.get("check_size", 200),
        }
        settings = _auto.auto_label_settings(job.task, **wanted)
        if settings != current:
            _workflow.update_settings(self._ws, name, auto_label=settings)
            if not current and not job.settings.get("auto_rounds"):
                _auto.shuffle_queue(self._ws, job, check_size=settings["check_size"])
        return _auto.run_round(self._ws, name)

    def wait_for_rounds(self, timeout: float | None = None) -> None:
        """Wait for automated-labelling rounds started in this process by answers."""
        _auto.wait_for_rounds(timeout)
