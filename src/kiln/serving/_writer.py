"""The batch writer behind data capture and human review: requests queue, one thread writes.

A request hands an item to :meth:`BatchWriter._enqueue`, which never blocks: a queue full by count
(or, where the writer bounds it so, by its items' bytes) drops the item and counts it in
``<metric>_dropped_total``. One daemon thread hands what was queued to the subclass's
:meth:`~BatchWriter._write_batch` at least every ``flush_seconds`` (sooner once ``max_batch`` are
waiting): one write a flush interval, since under load one batch of a second's items costs the
serving threads far less than many small writes. :meth:`~BatchWriter.stop` writes everything still
queued, so a graceful stop (SIGTERM ending the app's lifespan) loses nothing. A write that fails
is the subclass's to count in ``<metric>_failures_total``, and :meth:`~BatchWriter._log_once`
logs it once per distinct error.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from abc import ABC, abstractmethod
from typing import ClassVar, Generic, TypeVar

from prometheus_client import CollectorRegistry, Counter

from kiln.serving._validation import cut

__all__ = ["BatchWriter"]

FLUSH_SECONDS = 1.0
MAX_QUEUE = 10_000  # items waiting to be written; more are dropped (and counted)

Item = TypeVar("Item")


class BatchWriter(ABC, Generic[Item]):
    """Queues items on the request path and writes them in batches in a daemon thread.

    A subclass names itself in the class attributes, queues with :meth:`_enqueue` in its own
    ``offer``, and writes a batch in :meth:`_write_batch`, counting what it wrote in
    ``written`` and what it could not in ``failures``. The three counters (by endpoint) go to
    ``registry`` (the app's ``/metrics``; a private one when omitted) as
    ``<metric>_<written_name>_total``, ``<metric>_dropped_total`` and
    ``<metric>_failures_total``.
    """

    thread_name: ClassVar[str]
    log: ClassVar[logging.Logger]
    metric: ClassVar[str]  # the counters' prefix, e.g. "kiln_capture"
    written_name: ClassVar[str]  # what a written item is, e.g. "records"
    written_help: ClassVar[str]
    dropped_help: ClassVar[str]
    failures_help: ClassVar[str]
    max_batch: ClassVar[int | None] = None  # a batch this long is written before its interval

    def __init__(
        self,
        *,
        registry: CollectorRegistry | None = None,
        flush_seconds: float = FLUSH_SECONDS,
        max_queue: int = MAX_QUEUE,
        max_queue_bytes: int | None = None,
    ):
        self.registry = registry = registry if registry is not None else CollectorRegistry()
        self.flush_seconds = flush_seconds
        self.max_queue_bytes = max_queue_bytes
        self.written = Counter(
            f"{self.metric}_{self.written_name}", self.written_help, ["endpoint"], registry=registry
        )
        self.dropped = Counter(
            f"{self.metric}_dropped", self.dropped_help, ["endpoint"], registry=registry
        )
        self.failures = Counter(
            f"{self.metric}_failures", self.failures_help, ["endpoint"], registry=registry
        )
        self.last_failure: tuple[float, str] | None = None  # (time.monotonic(), what failed)
        self._queue: queue.Queue[tuple[Item, int]] = queue.Queue(maxsize=max_queue)
        self._queued_bytes = 0  # of the items in the queue
        self._bytes_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._errors_logged: set[str] = set()

    @abstractmethod
    def _write_batch(self, batch: list[Item]) -> None:
        """Write ``batch``, counting (not raising) what cannot be written."""

    def _refresh(self) -> None:
        """Re-read what the writer follows: before the thread starts and after each flush."""

    # -- the request path -------------------------------------------------------------------
    def _enqueue(self, endpoint: str, item: Item, size: int = 0) -> bool:
        """Queue ``item`` of ``size`` bytes for ``endpoint`` without blocking; False (and
        counted as dropped) when the queue is full by count or by bytes."""
        with self._bytes_lock:
            room = self.max_queue_bytes is None or (
                self._queued_bytes + size <= self.max_queue_bytes
            )
            if room:
                try:
                    self._queue.put_nowait((item, size))
                except queue.Full:
                    room = False
                else:
                    self._queued_bytes += size
        if not room:
            self.dropped.labels(endpoint).inc()
        return room

    # -- the writer thread ------------------------------------------------------------------
    def start(self) -> None:
        """Refresh, then write in a daemon thread (idempotent)."""
        with self._lock:
            if self._thread is not None:
                return
            self._refresh()
            self._stop = stop = threading.Event()
            self._thread = threading.Thread(
                target=self._run, args=(stop,), name=self.thread_name, daemon=True
            )
            self._thread.start()

    def stop(self) -> None:
        """Write everything queued, then end the thread (a later ``start`` begins again)."""
        with self._lock:
            if self._thread is None:
                return
            self._stop.set()
            self._thread.join(timeout=60)
            self._thread = None
        self.flush()  # anything offered while the thread was ending

    def flush(self) -> None:
        """Write everything queued now (the thread does it every ``flush_seconds``)."""
        self._write_batch(self._drain())

    def _run(self, stop: threading.Event) -> None:
        next_flush = time.monotonic() + self.flush_seconds
        batch: list[Item] = []
        while not stop.is_set():
            with contextlib.suppress(queue.Empty):
                entry = self._queue.get(timeout=max(0.0, next_flush - time.monotonic()))
                batch.append(self._taken(entry))
            full = self.max_batch is not None and len(batch) >= self.max_batch
            if full or time.monotonic() >= next_flush:
                self._write_batch(batch + self._drain())
                batch = []
                self._refresh()
                next_flush = time.monotonic() + self.flush_seconds
        self._write_batch(batch + self._drain())

    def _taken(self, entry: tuple[Item, int]) -> Item:
        item, size = entry
        with self._bytes_lock:
            self._queued_bytes -= size
        return item

    def _drain(self) -> list[Item]:
        items = []
        while True:
            try:
                items.append(self._taken(self._queue.get_nowait()))
            except queue.Empty:
                return items

    def _log_once(self, what: str, exc: Exception) -> None:
        message = f"{what}: {type(exc).__name__}: {cut(str(exc), 300)}"
        self.last_failure = (time.monotonic(), message)  # /ping reports capture's (degraded)
        if message not in self._errors_logged:  # once per distinct error, not per request
            self._errors_logged.add(message)
            self.log.error("%s (counted in %s_failures_total; logged once)", message, self.metric)
