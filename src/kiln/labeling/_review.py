"""Human review of an endpoint's predictions (the Augmented AI analogue): the review job and the
endpoint setting that turns it on, which rows a server sends for review, and what the
reviewers' answers become — ground truth for the endpoint and a data set version for retraining.

The review job is a labelling job of kind ``review``: task classification, the model's classes
as labels, the model's input columns as what an item shows, one item per reviewed row, named
``{inference_id}:{row}`` (the ids ``ws.endpoints.ground_truth`` joins to the capture), with the
predicted label as its prior. The endpoint's ``human_review`` configuration section names the
job, the condition and the sample; servers follow it like any configuration change.
"""

from __future__ import annotations

import math
import random
import re
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from kiln.errors import ConfigError, NotFound, StateError
from kiln.labeling._jobs import LabelingJob, answers_frame, create_job, get_job
from kiln.store import LabelingItemRow

if TYPE_CHECKING:
    from kiln.context import Context
    from kiln.data import DatasetVersion
    from kiln.endpoints import Endpoint

__all__ = [
    "REVIEW_SECTION",
    "ReviewCondition",
    "confidence_of",
    "parse_condition",
    "parse_sample",
    "review_answered",
    "review_dataset",
    "rows_for_review",
    "start_review",
    "stop_review",
]

REVIEW_SECTION = "human_review"  # the endpoint configuration section
_UNKNOWN_ENDPOINT = "serving.unknown-endpoint"
_GRAMMAR = "'confidence < X' (or <=, >, >=) with X from 0 to 1, e.g. 'confidence < 0.6'"
_CONDITION = re.compile(r"^\s*confidence\s*(<=|>=|<|>)\s*([0-9]*\.?[0-9]+)\s*$")
_SAMPLE = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*%?\s*$")


@dataclass(frozen=True)
class ReviewCondition:
    """``confidence OP threshold``, where confidence is a prediction's top class probability."""

    op: str
    threshold: float

    @property
    def text(self) -> str:
        return f"confidence {self.op} {self.threshold:g}"

    def holds(self, confidence: float) -> bool:
        if self.op == "<":
            return confidence < self.threshold
        if self.op == "<=":
            return confidence <= self.threshold
        if self.op == ">":
            return confidence > self.threshold
        return confidence >= self.threshold


def parse_condition(text: str | None) -> ReviewCondition:
    """The condition in ``text``, parsed strictly: anything but the grammar is refused."""
    match = _CONDITION.match(text) if isinstance(text, str) else None
    threshold = float(match.group(2)) if match else math.nan
    if not match or not 0 <= threshold <= 1:
        said = "No review condition was given" if text is None else f"Cannot read {text!r}"
        raise ConfigError(
            f"{said}: write the condition as {_GRAMMAR}.",
            code="review.bad-condition",
            field="when",
        )
    return ReviewCondition(match.group(1), threshold)


def parse_sample(value: str | float | None) -> float:
    """A sample as a percentage from 0 to 100 (``"1%"``, ``"0.5"``, ``2``); None is 0."""
    if value is None:
        return 0.0
    match = _SAMPLE.match(str(value))
    percent = float(match.group(1)) if match else math.nan
    if not 0 <= percent <= 100:
        raise ConfigError(
            f"Cannot read the sample {value!r}: give a percentage from 0 to 100, e.g. '1%'.",
            code="review.bad-sample",
            field="sample",
        )
    return percent


def confidence_of(prediction: Any) -> float | None:
    """A classifier's prediction's top class probability (None for other predictions)."""
    probabilities = prediction.get("probabilities") if isinstance(prediction, dict) else None
    return max(probabilities.values()) if probabilities else None


def rows_for_review(config: dict, predictions: list, draw: random.Random) -> list[int]:
    """The rows of one response a server sends for review under ``config`` (the endpoint's
    ``human_review`` section): those meeting the condition, and a random ``sample_percent`` of
    all the others. Cheap: it runs on the response path."""
    condition = ReviewCondition(config["op"], config["threshold"])
    percent = config.get("sample_percent") or 0.0
    chosen = []
    for row, prediction in enumerate(predictions):
        confidence = confidence_of(prediction)
        if confidence is None:
            continue
        if condition.holds(confidence) or (percent and draw.random() * 100 < percent):
            chosen.append(row)
    return chosen


def start_review(
    ctx: Context,
    endpoint: str,
    *,
    when: str | None,
    sample: str | float | None = None,
    annotators_per_item: int = 1,
    job: str | None = None,
    instructions: str = "",
) -> LabelingJob:
    """Send the endpoint's predictions meeting ``when`` (and a ``sample`` of the rest) to
    review job ``job`` (default ``{endpoint}-review``), made on first use; a job kept from an
    earlier review of the same endpoint is taken up again."""
    condition = parse_condition(when)
    percent = parse_sample(sample)
    described = ctx.endpoints.get(endpoint)
    version = ctx.models.get(described.model)
    outputs = version.signature.get("outputs") or {}
    classes = outputs.get("labels")
    if not classes:
        raise ConfigError(
            f"Endpoint {endpoint!r} serves {version.ref}, a {version.problem_type} model: human "
            "review sends predictions whose top class probability is low, so it needs a "
            "classifier.",
            code="review.not-a-classifier",
            field="endpoint",
        )
    name = job or f"{endpoint}-review"
    review = _existing_review(ctx, name, endpoint, [str(c) for c in classes])
    if review is None:
        review = create_job(
            ctx,
            name,
            data=None,
            task="classification",
            labels=[str(c) for c in classes],
            annotators_per_item=annotators_per_item,
            instructions=instructions
            or f"Is the prediction of {version.ref} right? Choose the true {version.target}.",
            columns=[c["name"] for c in version.signature["inputs"]],
            kind="review",
            endpoint=endpoint,
            settings={"target": version.target, "model": version.ref, "classes": classes},
        )
    setting = {
        "job": review.name,
        "when": condition.text,
        "op": condition.op,
        "threshold": condition.threshold,
        "sample_percent": percent,
    }
    sampled = f", and {percent:g}% of the rest" if percent else ""
    ctx.endpoints.set_config(
        endpoint, REVIEW_SECTION, setting, note=f"human review on: {condition.text}{sampled}"
    )
    return review


def _existing_review(
    ctx: Context, name: str, endpoint: str, labels: list[str]
) -> LabelingJob | None:
    """The open review job ``name`` of ``endpoint`` to take up again, None when there is none;
    refused when the name is another job's, or when the endpoint's model now predicts other
    classes than the job's labels."""
    try:
        found = get_job(ctx, name)
    except NotFound:
        return None
    if found.kind != "review" or found.endpoint != endpoint or found.status != "InProgress":
        raise StateError(
            f"Labelling job {name!r} exists and is not an open review of endpoint {endpoint!r}. "
            "Name another job for the review (--job NAME).",
            code="review.job-taken",
            field="job",
        )
    if found.labels != labels:
        raise StateError(
            f"Review job {name!r} labels {', '.join(found.labels)}, but endpoint {endpoint!r}'s "
            f"model now predicts {', '.join(labels)}. Name a new job for its review (--job NAME).",
            code="review.labels-changed",
            field="job",
        )
    return found


def stop_review(
    ctx: Context, endpoint: str, *, when: str | None = None, sample: str | float | None = None
) -> Endpoint:
    """Send no more of the endpoint's predictions for review (the job and its answers stay).
    ``when`` and ``sample`` are refused: they are for turning review on."""
    if when is not None or sample is not None:
        raise ConfigError(
            "Turning human review off takes no condition or sample; drop --when and --sample, "
            "or drop --off to change them.",
            code="endpoints.off-with-settings",
            field="when",
        )
    return ctx.endpoints.set_config(endpoint, REVIEW_SECTION, None, note="human review off")


def review_answered(ctx: Context, job: LabelingJob, item: str) -> None:
    """Once a review item has all its answers, its label (the majority, see :func:`_majority`)
    is the endpoint's ground truth for that row. The item itself stays ``answered``: labelling
    it (consolidation) is the job's own business, as for any job."""
    with ctx.store.read() as session:
        status = session.scalar(
            select(LabelingItemRow.status).where(
                (LabelingItemRow.job_id == job.id) & (LabelingItemRow.item == item)
            )
        )
    if status != "answered" or job.endpoint is None:  # one made without an endpoint: no truth
        return
    label = _majority(ctx, job.name, item=item).get(item)
    truth = [{"inference_id": item, "label": _native(job, label)}]
    # The ids are the server's own: not checked against the capture (a read of all of it).
    try:
        ctx.endpoints.ground_truth(job.endpoint, truth, count_unknown=False)
    except NotFound as exc:
        if exc.code != _UNKNOWN_ENDPOINT:
            raise
        # The endpoint was deleted: the answer stands in the job (and its data set), with no
        # endpoint left to be the ground truth of.


def _majority(ctx: Context, name: str, *, item: str | None = None) -> dict[str, Any]:
    """``{item: label}`` of a job's items with answers (or of ``item`` alone: an answer reads
    its own item's answers, not the whole job's): the label most answers gave, the first given
    winning a tie."""
    answers = answers_frame(ctx, name, item=item).sort_values("answered_at", kind="stable")
    return {
        item: Counter(group["answer"]).most_common(1)[0][0]
        for item, group in answers.groupby("item", sort=False)
    }


def _native(job: LabelingJob, label: str) -> Any:
    """The model's own class value for a label shown as text (``True`` for ``"True"``)."""
    for value in job.settings.get("classes") or []:
        if str(value) == label:
            return value
    return label


def review_dataset(ctx: Context, name: str, *, dataset: str | None = None) -> DatasetVersion:
    """A data set version of a review job's reviewed rows: the model's input columns and the
    reviewers' label under the model's target name, for retraining; lineage to the endpoint.
    ``dataset`` names the data set (default: the job's name with ``_reviewed``, ``-`` as ``_``)."""
    import pandas as pd

    job = get_job(ctx, name)
    if job.kind != "review":
        raise StateError(
            f"Labelling job {name!r} is a {job.kind} job, not a review of an endpoint's "
            "predictions.",
            code="review.not-a-review",
            field="job",
        )
    with ctx.store.read() as session:
        rows = session.execute(
            select(LabelingItemRow.item, LabelingItemRow.payload, LabelingItemRow.label)
            .where(
                (LabelingItemRow.job_id == job.id)
                & LabelingItemRow.status.in_(("answered", "labeled"))
            )
            .order_by(LabelingItemRow.position)
        ).all()
    if not rows:
        raise StateError(
            f"No item of review job {name!r} has its answers yet; review some first (Studio's "
            f"labelling page, #/labeling/{name}/annotate).",
            code="review.nothing-reviewed",
            field="job",
        )
    majority = _majority(ctx, name)
    # A consolidated label (an item labelled) stands; else the reviewers' majority.
    labels = [label["value"] if label else majority[item] for item, _, label in rows]
    target = job.settings.get("target") or "label"
    frame = pd.DataFrame([payload for _, payload, _ in rows], columns=job.columns)
    frame[target] = [_native(job, label) for label in labels]
    made_by = ()
    if job.endpoint:
        try:
            made_by = (("endpoint", ctx.endpoints.get(job.endpoint).id, "reviewed"),)
        except NotFound as exc:  # the endpoint was deleted: the rows stand without the edge
            if exc.code != _UNKNOWN_ENDPOINT:
                raise
    return ctx.data.ingest(
        frame,
        name=dataset or re.sub(r"\W", "_", f"{name}_reviewed"),
        description=f"rows of endpoint {job.endpoint} reviewed in labelling job {name}",
        lineage=made_by,
    )
