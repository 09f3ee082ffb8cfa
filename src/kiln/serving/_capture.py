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

import logging
import os
import random
import socket
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson
from prometheus_client import CollectorRegistry

from kiln.data import CAPTURE_FORMATS, capture_file_name, csv_bytes_to_table
from kiln.recipe import pii_columns, pii_token
from kiln.serving._writer import FLUSH_SECONDS, MAX_QUEUE, BatchWriter

if TYPE_CHECKING:
    from kiln.context import Context

__all__ = ["CaptureWriter"]

MAX_QUEUE_BYTES = 256 * 1024 * 1024  # of queued bodies; more are dropped: memory stays bounded
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


class CaptureWriter(BatchWriter[_Offered]):
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

    thread_name = "kiln-capture-writer"
    log = logging.getLogger("kiln.serving.capture")
    metric = "kiln_capture"
    written_name = "records"
    written_help = "Invocations written to the data capture."
    dropped_help = "Sampled invocations not captured because the capture queue was full."
    failures_help = (
        "Sampled invocations whose capture could not be written (a full or unwritable "
        "artifact store) or read back from the request."
    )
    max_batch = 5000

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
        super().__init__(
            registry=registry,
            flush_seconds=flush_seconds,
            max_queue=max_queue,
            max_queue_bytes=max_queue_bytes,
        )
        self.workspace = workspace
        self.max_file_bytes = max_file_bytes
        # {endpoint: {"percent": ..., "format": ...}} of endpoints that capture; replaced whole
        # by the writer thread, read lock-free by requests.
        self.settings: dict[str, dict] = {}
        self._random = random.Random(seed)
        self._stem = f"{_safe(socket.gethostname())}-{os.getpid()}"
        self._seq = 0
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
        return self._enqueue(endpoint, item, len(body) + len(response))

    # -- the writer thread ------------------------------------------------------------------
    def refresh_settings(self) -> None:
        """Re-read which endpoints capture (the writer thread does it every flush)."""
        try:
            found = self.workspace.endpoints.capture_settings()
        except Exception as exc:  # the store is down: keep capturing as before
            self._log_once("Could not read the endpoints' capture settings", exc)
            return
        self.settings = {name: dict(c) for name, c in found.items() if c and c.get("percent")}

    def _refresh(self) -> None:
        self.refresh_settings()

    def _write_batch(self, batch: list[_Offered]) -> None:
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
                self.written.labels(endpoint).inc(len(records))

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
