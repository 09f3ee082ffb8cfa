"""Human review in the server: an answered invocation's rows that meet the endpoint's review
condition (or its random sample) are queued on the response path and added to the review job
by a background thread, so the response is never slowed or changed by the review.

What to send comes from the endpoint's ``human_review`` configuration section (see
``kiln.labeling``'s ``start_review``), which the server re-reads with any configuration change.
The queue is bounded: a full queue drops the invocation and counts it; a write that fails (the
store is down, the job was closed) is counted and logged once per distinct error.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry

from kiln.labeling import REVIEW_SECTION, LabelingService, rows_for_review
from kiln.serving._capture import _request_rows
from kiln.serving._writer import FLUSH_SECONDS, MAX_QUEUE, BatchWriter

if TYPE_CHECKING:
    from kiln.context import Context

__all__ = ["ReviewQueue"]


@dataclass(frozen=True)
class _Offered:
    endpoint: str
    job: str
    inference_id: str
    body: bytes
    content_type: str
    rows: list[int]
    predictions: list


class ReviewQueue(BatchWriter[_Offered]):
    """Queues the rows of answered invocations that go to human review, and adds them to their
    review jobs (``ws.labeling.add_items``) in a daemon thread about once a second.

    The counters ``kiln_review_items_total``, ``kiln_review_dropped_total`` and
    ``kiln_review_failures_total`` (by endpoint) go to ``registry``: the app's ``/metrics``."""

    thread_name = "kiln-human-review"
    log = logging.getLogger("kiln.serving.review")
    metric = "kiln_review"
    written_name = "items"
    written_help = "Predictions added to a human review job."
    dropped_help = (
        "Invocations meeting the review condition not reviewed: the review queue was full."
    )
    failures_help = "Predictions meeting the review condition that could not be added to the job."

    def __init__(
        self,
        workspace: Context,
        *,
        registry: CollectorRegistry | None = None,
        flush_seconds: float = FLUSH_SECONDS,
        max_queue: int = MAX_QUEUE,
        seed: int | None = None,
    ):
        super().__init__(registry=registry, flush_seconds=flush_seconds, max_queue=max_queue)
        self.workspace = workspace
        self._labeling = LabelingService(workspace)
        self._random = random.Random(seed)

    # -- the request path -------------------------------------------------------------------
    def offer(
        self,
        *,
        endpoint: str,
        config: dict,
        inference_id: str,
        body: bytes,
        content_type: str,
        predictions: list,
    ) -> int:
        """Queue the rows of one answered invocation that go to review under the endpoint's
        configuration ``config``. Never blocks; returns how many rows were queued."""
        setting = config.get(REVIEW_SECTION)
        if not setting:
            return 0
        rows = rows_for_review(setting, predictions, self._random)
        if not rows:
            return 0
        offered = _Offered(
            endpoint,
            setting["job"],
            inference_id,
            body,
            content_type,
            rows,
            [predictions[r] for r in rows],
        )
        return len(rows) if self._enqueue(endpoint, offered) else 0

    # -- the writer thread ------------------------------------------------------------------
    def _write_batch(self, batch: list[_Offered]) -> None:
        """Add ``batch``'s rows to their review jobs: one ``add_items`` per endpoint and job."""
        by_job: dict[tuple[str, str], list[dict]] = {}
        for offered in batch:
            try:
                inputs = _request_rows(offered.body, offered.content_type) or []
            except Exception as exc:  # a body the queue cannot read back: counted, not fatal
                self.failures.labels(offered.endpoint).inc(len(offered.rows))
                self._log_once(f"Could not read an invocation of {offered.endpoint}", exc)
                continue
            items = by_job.setdefault((offered.endpoint, offered.job), [])
            for row, prediction in zip(offered.rows, offered.predictions, strict=True):
                payload = inputs[row] if row < len(inputs) and isinstance(inputs[row], dict) else {}
                items.append(
                    {
                        "item": f"{offered.inference_id}:{row}",
                        "payload": payload,
                        "prior": prediction.get("label"),
                    }
                )
        for (endpoint, job), items in by_job.items():
            try:
                items = self._known_classes(endpoint, job, items)
                added = self._labeling.add_items(job, items) if items else 0
            except Exception as exc:
                self.failures.labels(endpoint).inc(len(items))
                self._log_once(f"Could not add predictions of {endpoint} to review job {job}", exc)
            else:
                self.written.labels(endpoint).inc(added)

    def _known_classes(self, endpoint: str, job: str, items: list[dict]) -> list[dict]:
        """The items whose predicted class is one of the job's labels. The others (the
        endpoint's model changed classes since the review began) are counted as failures and
        logged: their reviewers could only answer the old labels."""
        labels = set(self._labeling.get(job).labels)
        known = [i for i in items if i["prior"] is None or str(i["prior"]) in labels]
        if len(known) < len(items):
            unknown = sorted({str(i["prior"]) for i in items} - labels)
            self.failures.labels(endpoint).inc(len(items) - len(known))
            self._log_once(
                f"Predictions of {endpoint} not added to review job {job}",
                ValueError(
                    f"the model now predicts {', '.join(map(repr, unknown))}, not among the "
                    f"job's labels ({', '.join(sorted(labels))}); start a review job for the "
                    f"new classes: 'kiln endpoints human-review {endpoint} --when ... --job NAME'"
                ),
            )
        return known
