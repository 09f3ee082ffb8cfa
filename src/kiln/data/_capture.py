"""What endpoints capture, read back: the files' layout and the table they make.

Servers write each captured invocation as one record (``CaptureWriter`` in ``kiln.serving``) to
``capture/<endpoint>/date=YYYY-MM-DD/hour=HH/<host>-<pid>-<seq>.jsonl`` (or ``.parquet``) in the
artifact store. Read back, a record becomes one table row per predicted row: the request's input
columns, the prediction's columns (``predicted_*``), and the invocation's metadata, with the
ground-truth label joined by inference id when one was uploaded.
"""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import orjson

from kiln.errors import ConfigError

if TYPE_CHECKING:
    import pandas as pd

    from kiln.artifacts import ArtifactStore

__all__ = [
    "CAPTURE_FORMATS",
    "CAPTURE_PREFIX",
    "META_COLUMNS",
    "capture_file_name",
    "capture_records",
    "capture_rows",
    "parse_since",
]

CAPTURE_PREFIX = "capture"
CAPTURE_FORMATS = ("jsonl", "parquet")
# The columns every captured row has besides its inputs and predictions, in this order.
META_COLUMNS = (
    "inference_id",
    "row",
    "variant",
    "model",
    "timestamp",
    "latency_ms",
    "label",
)
_PARTITION = re.compile(r"date=(\d{4}-\d{2}-\d{2})/hour=(\d{2})/")
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def capture_file_name(endpoint: str, when: datetime, stem: str, format: str) -> str:
    """The artifact-store name of a capture file of ``endpoint`` for the hour of ``when``."""
    return f"{CAPTURE_PREFIX}/{endpoint}/date={when:%Y-%m-%d}/hour={when:%H}/{stem}.{format}"


def parse_since(since: str | datetime | None, *, now: datetime | None = None) -> datetime | None:
    """A UTC time from ``since``: a datetime, an ISO 8601 date or time (UTC unless it says
    otherwise), or a duration back from now (``30m``, ``24h``, ``7d``)."""
    if since is None or isinstance(since, datetime):
        return _utc(since) if since is not None else None
    text = since.strip()
    duration = _DURATION.fullmatch(text)
    if duration:
        seconds = float(duration.group(1)) * _UNITS[duration.group(2)]
        return (now or datetime.now(UTC)) - timedelta(seconds=seconds)
    try:
        return _utc(datetime.fromisoformat(text))
    except ValueError:
        raise ConfigError(
            f"Cannot read since={since!r}. Give an ISO 8601 date or time (2026-12-05, "
            "2026-12-05T08:00, UTC unless it has an offset) or a duration back from now "
            "(30m, 24h, 7d).",
            code="capture.bad-since",
        ) from None


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def capture_records(
    artifacts: ArtifactStore,
    endpoint: str,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    skipped: dict[str, int] | None = None,
) -> list[dict]:
    """Every captured invocation of ``endpoint`` (one dict per invocation, as written), oldest
    file first; with ``since`` / ``until``, only those at or after / before them.

    Lines that are not JSON records and files that cannot be read are skipped; with
    ``skipped``, they are counted in it (``corrupt_lines``, ``unreadable_files``)."""
    records: list[dict] = []
    counts = skipped if skipped is not None else {}
    counts.setdefault("corrupt_lines", 0)
    counts.setdefault("unreadable_files", 0)
    cutoff = _stamp(since) if since is not None else None
    end = _stamp(until) if until is not None else None
    hour_cutoff = since.strftime("%Y-%m-%d/%H") if since is not None else None
    hour_end = until.strftime("%Y-%m-%d/%H") if until is not None else None
    for name in artifacts.list_named(f"{CAPTURE_PREFIX}/{endpoint}"):
        partition = _PARTITION.search(name)
        hour = f"{partition[1]}/{partition[2]}" if partition else None
        if hour and ((hour_cutoff and hour < hour_cutoff) or (hour_end and hour > hour_end)):
            continue  # a whole hour outside the window: not read at all
        try:
            if name.endswith(".jsonl"):
                found = _jsonl_records(artifacts.read_named(name), counts)
            elif name.endswith(".parquet"):
                found = _parquet_records(artifacts.read_named(name))
            else:
                continue
        except Exception:  # noqa: BLE001 — a damaged file must not hide the others
            counts["unreadable_files"] += 1
            continue
        if cutoff is not None or end is not None:
            found = [
                r
                for r in found
                if (cutoff is None or str(r.get("timestamp", "")).rstrip("Z") >= cutoff)
                and (end is None or str(r.get("timestamp", "")).rstrip("Z") < end)
            ]
        records += found
    return records


def _stamp(value: datetime) -> str:
    return _utc(value).strftime("%Y-%m-%dT%H:%M:%S.%f")


def _jsonl_records(data: bytes, counts: dict[str, int]) -> list[dict]:
    records = []
    for line in data.splitlines():
        if not line.strip():
            continue
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError:
            # e.g. the last line of a file its server was killed while writing
            counts["corrupt_lines"] += 1
            continue
        if isinstance(record, dict):
            records.append(record)
        else:
            counts["corrupt_lines"] += 1
    return records


def _parquet_records(data: bytes) -> list[dict]:
    import pyarrow.parquet as pq

    rows = pq.read_table(io.BytesIO(data)).to_pylist()
    for row in rows:  # nested parts are JSON text in Parquet: their columns vary by request
        for part in ("input", "output"):
            if isinstance(row.get(part), str):
                row[part] = orjson.loads(row[part])
    return rows


def capture_rows(records: list[dict], labels: dict[str, Any] | None = None) -> pd.DataFrame:
    """One row per predicted row of ``records``: metadata, inputs and ``predicted_*`` columns,
    and the ground-truth ``label`` joined by inference id (missing when none was uploaded). An
    input column named like a metadata column (``label``, ``model``) is ``input_<name>``."""
    import pandas as pd

    labels = labels or {}
    rows = []
    for record in records:
        inputs = record.get("input") or []
        outputs = record.get("output") or []
        inference_id = record.get("inference_id")
        for index, prediction in enumerate(outputs):
            row: dict[str, Any] = {
                "inference_id": inference_id,
                "row": index,
                "variant": record.get("variant"),
                "model": record.get("model"),
                "timestamp": record.get("timestamp"),
                "latency_ms": record.get("latency_ms"),
                # a label of this row ("<id>:<row>"), else of its whole request
                "label": labels.get(f"{inference_id}:{index}", labels.get(inference_id)),
            }
            given = inputs[index] if index < len(inputs) else {}
            for column, value in (given or {}).items():
                # an input named like a metadata column keeps its value under another name
                row[f"input_{column}" if column in META_COLUMNS else column] = value
            for field, value in (prediction or {}).items():
                if isinstance(value, dict):
                    for key, item in value.items():
                        row[f"predicted_{field}_{key}"] = item
                else:
                    row[f"predicted_{field}"] = value
            rows.append(row)
    frame = pd.DataFrame(rows, columns=None if rows else list(META_COLUMNS))
    if len(frame):
        frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True, format="ISO8601")
    return frame
