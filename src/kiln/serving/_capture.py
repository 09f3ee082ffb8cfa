"""Data capture: what endpoints were asked and answered, written off the response path.

A request hands its body and its response's body to :meth:`CaptureWriter.offer`, which only
samples and queues them (never blocks: a queue full by count or by bytes drops and counts). One
background thread parses, tokenises PII columns, and writes the records at least once a second,
so a killed server loses at most the last second; a graceful stop (the app's lifespan ending)
writes everything.

Files go to the artifact store under ``capture/<endpoint>/date=YYYY-MM-DD/hour=HH/`` as
``<host>-<pid>-<seq>.jsonl`` (appended to each flush, rotated by hour and size) or ``.parquet``
(one file per flush). A write that fails (a full or unwritable disk) is counted and logged once
per distinct error; serving goes on.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import random
import socket
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson
from prometheus_client import CollectorRegistry, Counter

from kiln.data import CAPTURE_FORMATS, capture_file_name, csv_bytes_to_table
from kiln.recipe import pii_columns, pii_token
from kiln.serving._validation import cut

if TYPE_CHECKING:
    from kiln.context import Context

__all__ = ["CaptureWriter"]

log = logging.getLogger("kiln.serving.capture")

FLUSH_SECONDS = 1.0
MAX_QUEUE = 10_000  # invocations waiting to be written; more are dropped (and counted)
MAX_QUEUE_BYTES = 256 * 1024 * 1024  # and their bodies' bytes: memory stays bounded
MAX_FILE_BYTES = 64 * 1024 * 1024  # a JSON-lines file is rotated past this size
_JSON_TYPES = ("application/json", "", "*/*", "application/x-www-form-urlencoded")


@dataclass(frozen=True)
class _Offered:
    endpoint: str
    variant: str
    model: str
    pipeline: Any
    inference_id: str
    body: bytes
    content_type: str
    response: bytes
    status: int
    latency_ms: float
    timestamp: float  # time.time() when the request arrived


class CaptureWriter:
    """Samples, queues and writes the invocations of a workspace's endpoints that capture.

    Parameters
    ----------
    workspace
        The workspace whose endpoints' capture settings are followed (re-read every flush) and
        whose artifact store receives the files.
    registry
        Where the counters ``kiln_capture_records_total``, ``kiln_capture_dropped_total`` and
        ``kiln_capture_failures_total`` (each by endpoint) are registered: the app's
        ``/metrics`` registry. A private one when omitted.
    seed
        Seeds the sampling of endpoints that capture less than 100 %.
    """

    def __init__(
        self,
        workspace: Context,
        *,
        registry: CollectorRegistry | None = None,
        flush_seconds: float = FLUSH_SECONDS,
        max_queue: int = MAX_QUEUE,
        max_queue_bytes: int = MAX_QUEUE_BYTES,
        max_file_bytes: int = MAX_FILE_BYTES,
        seed: int | None = None,
    ):
        self.workspace = workspace
        self.flush_seconds = flush_seconds
        self.max_file_bytes = max_file_bytes
        self.registry = registry if registry is not None else CollectorRegistry()
        self.records = Counter(
            "kiln_capture_records",
            "Invocations written to the data capture.",
            ["endpoint"],
            registry=self.registry,
        )
        self.dropped = Counter(
            "kiln_capture_dropped",
            "Sampled invocations not captured because the capture queue was full.",
            ["endpoint"],
            registry=self.registry,
        )
        self.failures = Counter(
            "kiln_capture_failures",
            "Sampled invocations whose capture could not be written (a full or unwritable "
            "artifact store) or read back from the request.",
            ["endpoint"],
            registry=self.registry,
        )
        # {endpoint: {"percent": ..., "format": ...}} of endpoints that capture; replaced whole
        # by the writer thread, read lock-free by requests.
        self.settings: dict[str, dict] = {}
        self._queue: queue.Queue[_Offered] = queue.Queue(maxsize=max_queue)
        self.max_queue_bytes = max_queue_bytes
        self._queued_bytes = 0  # of the bodies in the queue
        self._bytes_lock = threading.Lock()
        self._random = random.Random(seed)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._errors_logged: set[str] = set()
        self._stem = f"{_safe(socket.gethostname())}-{os.getpid()}"
        self._seq = 0
        self.last_failure: tuple[float, str] | None = None  # (time.monotonic(), what failed)
        self._open: dict[tuple[str, str], tuple[str, int]] = {}  # (endpoint, hour) → (name, size)
        self._pii: dict[str, list[str]] = {}  # model ref → its PII columns

    # -- the request path -------------------------------------------------------------------
    def offer(
        self,
        *,
        endpoint: str,
        variant: str,
        model: str,
        inference_id: str,
        body: bytes,
        content_type: str,
        response: bytes,
        latency_ms: float,
        timestamp: float | None = None,
        status: int = 200,
        pipeline: Any = None,
    ) -> bool:
        """Queue one answered invocation if its endpoint captures and the sample takes it.

        ``body`` is the request body as received (JSON or CSV, by ``content_type``), ``response``
        the response body; ``pipeline`` the fitted model, whose recipe's ``hash_pii`` columns
        are tokenised in the capture. Never blocks; False when not queued.
        """
        settings = self.settings.get(endpoint)
        if not settings:
            return False
        percent = float(settings.get("percent") or 0.0)
        if percent <= 0 or (percent < 100 and self._random.random() * 100 >= percent):
            return False
        item = _Offered(
            endpoint,
            variant,
            model,
            pipeline,
            inference_id,
            body,
            content_type,
            response,
            status,
            latency_ms,
            time.time() if timestamp is None else timestamp,
        )
        size = len(body) + len(response)
        with self._bytes_lock:
            room = self._queued_bytes + size <= self.max_queue_bytes
            if room:
                try:
                    self._queue.put_nowait(item)
                except queue.Full:
                    room = False
                else:
                    self._queued_bytes += size
        if not room:
            self.dropped.labels(endpoint).inc()
        return room

    # -- the writer thread ------------------------------------------------------------------
    def start(self) -> None:
        """Read the capture settings, then write in a daemon thread (idempotent)."""
        with self._lock:
            if self._thread is not None:
                return
            self.refresh_settings()
            self._stop = stop = threading.Event()
            self._thread = threading.Thread(
                target=self._run, args=(stop,), name="kiln-capture-writer", daemon=True
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
        self._flush(self._drain())  # anything offered while the thread was ending

    def refresh_settings(self) -> None:
        """Re-read which endpoints capture (the writer thread does it every flush)."""
        try:
            found = self.workspace.endpoints.capture_settings()
        except Exception as exc:  # the store is down: keep capturing as before
            self._log_once("Could not read the endpoints' capture settings", exc)
            return
        self.settings = {name: dict(c) for name, c in found.items() if c and c.get("percent")}

    def _run(self, stop: threading.Event) -> None:
        next_flush = time.monotonic() + self.flush_seconds
        batch: list[_Offered] = []
        while not stop.is_set():
            with contextlib.suppress(queue.Empty):
                item = self._queue.get(timeout=max(0.0, next_flush - time.monotonic()))
                batch.append(self._taken(item))
            if time.monotonic() >= next_flush or len(batch) >= 5000:
                batch += self._drain()
                self._flush(batch)
                batch = []
                self.refresh_settings()
                next_flush = time.monotonic() + self.flush_seconds
        self._flush(batch + self._drain())

    def _taken(self, item: _Offered) -> _Offered:
        with self._bytes_lock:
            self._queued_bytes -= len(item.body) + len(item.response)
        return item

    def _drain(self) -> list[_Offered]:
        items = []
        while True:
            try:
                items.append(self._taken(self._queue.get_nowait()))
            except queue.Empty:
                return items

    def _flush(self, batch: list[_Offered]) -> None:
        """Write ``batch``: per endpoint and hour, one append (JSON lines) or one file."""
        groups: dict[tuple[str, str, str], list[bytes | dict]] = defaultdict(list)
        for item in batch:
            try:
                record = self._record(item)
            except Exception as exc:  # a body the writer cannot read back: counted, not fatal
                self.failures.labels(item.endpoint).inc()
                self._log_once(f"Could not capture an invocation of {item.endpoint}", exc)
                continue
            format = self.settings.get(item.endpoint, {}).get("format", "jsonl")
            format = format if format in CAPTURE_FORMATS else "jsonl"
            hour = record["timestamp"][:13]  # YYYY-MM-DDTHH
            groups[(item.endpoint, hour, format)].append(record)
        for (endpoint, hour, format), records in groups.items():
            try:
                self._write(endpoint, hour, format, records)
            except Exception as exc:
                self.failures.labels(endpoint).inc(len(records))
                self._log_once(f"Could not write the capture of endpoint {endpoint}", exc)
                # A failed append may have left half a line: later records go to a new file.
                self._open.pop((endpoint, hour), None)
            else:
                self.records.labels(endpoint).inc(len(records))

    def _record(self, item: _Offered) -> dict:
        rows = _request_rows(item.body, item.content_type)
        pii = self._pii_of(item.model, item.pipeline)
        if pii and rows:
            for row in rows:
                for column in pii:
                    if isinstance(row, dict) and row.get(column) is not None:
                        row[column] = pii_token(row[column])
        predictions = orjson.loads(item.response).get("predictions")
        when = datetime.fromtimestamp(item.timestamp, UTC)
        return {
            "inference_id": item.inference_id,
            "endpoint": item.endpoint,
            "variant": item.variant,
            "model": item.model,
            "timestamp": when.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "latency_ms": round(item.latency_ms, 3),
            "status": item.status,
            "input": rows,
            "output": predictions,
        }

    def _pii_of(self, model: str, pipeline: Any) -> list[str]:
        if model not in self._pii:
            self._pii[model] = pii_columns(pipeline) if pipeline is not None else []
        return self._pii[model]

    def _write(self, endpoint: str, hour: str, format: str, records: list[dict]) -> None:
        artifacts = self.workspace.artifacts
        when = datetime.strptime(hour, "%Y-%m-%dT%H")
        if format == "parquet":
            artifacts.append_named(self._new_name(endpoint, when, format), _parquet(records))
            return
        data = b"".join(orjson.dumps(r, option=orjson.OPT_SERIALIZE_NUMPY) + b"\n" for r in records)
        name, size = self._open.get((endpoint, hour), (None, 0))
        if name is None or size > self.max_file_bytes or not artifacts.can_append:
            for key in [k for k in self._open if k[0] == endpoint]:
                del self._open[key]  # the hour or the file is over: later records go elsewhere
            name, size = self._new_name(endpoint, when, format), 0
        artifacts.append_named(name, data)
        self._open[(endpoint, hour)] = (name, size + len(data))

    def _new_name(self, endpoint: str, when: datetime, format: str) -> str:
        self._seq += 1
        return capture_file_name(endpoint, when, f"{self._stem}-{self._seq:06d}", format)

    def _log_once(self, what: str, exc: Exception) -> None:
        message = f"{what}: {type(exc).__name__}: {cut(str(exc), 300)}"
        self.last_failure = (time.monotonic(), message)  # /ping reports it (degraded)
        if message not in self._errors_logged:  # once per distinct error, not per request
            self._errors_logged.add(message)
            log.error("%s (counted in kiln_capture_failures_total; logged once)", message)


def _request_rows(body: bytes, content_type: str) -> list | None:
    """The request's rows as records, as the endpoint read them."""
    if content_type in _JSON_TYPES:
        parsed = orjson.loads(body)
        if isinstance(parsed, dict):
            # {"instances": rows}; a forecast request object is kept whole, as one record
            parsed = parsed.get("instances", [parsed])
        return parsed if isinstance(parsed, list) else [parsed]
    return csv_bytes_to_table(body).to_pylist()


def _parquet(records: list[dict]) -> bytes:
    """Records as a Parquet file; the input and output, whose columns vary, as JSON text."""
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [
        r
        | {
            "input": orjson.dumps(r["input"], option=orjson.OPT_SERIALIZE_NUMPY).decode(),
            "output": orjson.dumps(r["output"], option=orjson.OPT_SERIALIZE_NUMPY).decode(),
        }
        for r in records
    ]
    sink = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows), sink, compression="zstd")
    return sink.getvalue()


def _safe(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text)[:64] or "host"
