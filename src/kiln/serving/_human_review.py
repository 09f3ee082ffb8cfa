"""Human review in the server: an answered invocation's rows that meet the endpoint's review
condition (or its random sample) are queued on the response path and added to the review job
by a background thread, so the response is never slowed or changed by the review.

What to send comes from the endpoint's ``human_review`` configuration section (see
``kiln.labeling``'s ``start_review``), which the server re-reads with any configuration change.
The queue is bounded: a full queue drops the invocation and counts it; a write that fails (the
store is down, the job was closed) is counted and logged once per distinct error.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import random
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter

from kiln.labeling import REVIEW_SECTION, LabelingService, rows_for_review
from kiln.serving._capture import _request_rows
from kiln.serving._validation import cut

if TYPE_CHECKING:
    from kiln.context import Context

__all__ = ["ReviewQueue"]

log = logging.getLogger("kiln.serving.review")

FLUSH_SECONDS = 1.0
MAX_QUEUE = 10_000  # invocations waiting to be added to their review jobs; more are dropped


@dataclass(frozen=True)
class _Offered:
    endpoint: str
    job: str
    inference_id: str
    body: bytes
    content_type: str
    rows: list[int]
    predictions: list


class ReviewQueue:
    """Queues the rows of answered invocations that go to human review, and adds them to their
    review jobs (``ws.labeling.add_items``) in a daemon thread about once a second.

    The counters ``kiln_review_items_total``, ``kiln_review_dropped_total`` and
    ``kiln_review_failures_total`` (by endpoint) go to ``registry``: the app's ``/metrics``."""

    def __init__(
        self,
        workspace: Context,
        *,
        registry: CollectorRegistry | None = None,
        flush_seconds: float = FLUSH_SECONDS,
        max_queue: int = MAX_QUEUE,
        seed: int | None = None,
    ):
        self.workspace = workspace
        self._labeling = LabelingService(workspace)
        self.flush_seconds = flush_seconds
        self.registry = registry = registry if registry is not None else CollectorRegistry()
        self.items = Counter(
            "kiln_review_items",
            "Predictions added to a human review job.",
            ["endpoint"],
            registry=registry,
        )
        self.dropped = Counter(
            "kiln_review_dropped",
            "Invocations meeting the review condition not reviewed: the review queue was full.",
            ["endpoint"],
            registry=registry,
        )
        self.failures = Counter(
            "kiln_review_failures",
            "Predictions meeting the review condition that could not be added to the job.",
            ["endpoint"],
            registry=registry,
        )
        self._queue: queue.Queue[_Offered] = queue.Queue(maxsize=max_queue)
        self._random = random.Random(seed)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._errors_logged: set[str] = set()

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
        try:
            self._queue.put_nowait(offered)
        except queue.Full:
            self.dropped.labels(endpoint).inc()
            return 0
        return len(rows)

    # -- the writer thread ------------------------------------------------------------------
    def start(self) -> None:
        """Add queued rows to their jobs in a daemon thread (idempotent)."""
        with self._lock:
            if self._thread is not None:
                return
            self._stop = stop = threading.Event()
            self._thread = threading.Thread(
                target=self._run, args=(stop,), name="kiln-human-review", daemon=True
            )
            self._thread.start()

    def stop(self) -> None:
        """Add everything queued, then end the thread."""
        with self._lock:
            if self._thread is None:
                return
            self._stop.set()
            self._thread.join(timeout=60)
            self._thread = None
        self.flush()

    def flush(self) -> None:
        """Add everything queued now (the thread does it about once a second)."""
        self._write(self._drain())

    def _run(self, stop: threading.Event) -> None:
        # One write a flush interval at most: each is a transaction, and under load a batch of
        # a second's predictions costs the serving threads far less than many small ones.
        next_flush = time.monotonic() + self.flush_seconds
        batch: list[_Offered] = []
        while not stop.is_set():
            with contextlib.suppress(queue.Empty):
                batch.append(self._queue.get(timeout=max(0.0, next_flush - time.monotonic())))
            if time.monotonic() >= next_flush:
                self._write(batch + self._drain())
                batch = []
                next_flush = time.monotonic() + self.flush_seconds
        self._write(batch + self._drain())

    def _drain(self) -> list[_Offered]:
        items = []
        while True:
            try:
                items.append(self._queue.get_nowait())
            except queue.Empty:
                return items

    def _write(self, batch: list[_Offered]) -> None:
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
                self.items.labels(endpoint).inc(added)

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

    def _log_once(self, what: str, exc: Exception) -> None:
        message = f"{what}: {type(exc).__name__}: {cut(str(exc), 300)}"
        if message not in self._errors_logged:  # once per distinct error, not per request
            self._errors_logged.add(message)
            log.error("%s (counted in kiln_review_failures_total; logged once)", message)
