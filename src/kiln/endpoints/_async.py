"""Asynchronous invocations: a durable queue in the metadata store (``async_invocations``).

A request is accepted by storing its payload under its inference id (or by naming an input
location) and adding a Pending row. A server's worker takes a row by a conditional UPDATE (its
lease), renews the lease while it scores, writes the output whole under the inference id, and
marks the row Completed or Failed. A row whose lease ran out — its server died — is taken again,
up to :data:`MAX_ATTEMPTS` times; the output is replaced whole, so a retry never duplicates it.
"""

from __future__ import annotations

import os
import re
import socket
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import and_, func, or_, select, update

from kiln.endpoints._multimodel import MULTI_MODEL
from kiln.endpoints._strategy import parse_duration
from kiln.errors import ConfigError, DataError, KilnError, NotFound, RequestError, StateError
from kiln.store import AsyncInvocationRow, Record, now, who

if TYPE_CHECKING:
    from kiln.context import Context
    from kiln.endpoints._endpoints import Endpoint

__all__ = [
    "AsyncInvocation",
    "AsyncQueue",
    "async_media_type",
    "async_owner_id",
    "async_payload_too_large",
    "async_settings",
]

PENDING, IN_PROGRESS, COMPLETED, FAILED = "Pending", "InProgress", "Completed", "Failed"
STATUSES = (PENDING, IN_PROGRESS, COMPLETED, FAILED)
# A row is taken at most this many times: a request that kills its server each time (a payload
# too large for memory, say) ends Failed instead of taking servers down forever.
MAX_ATTEMPTS = 3
# How long a worker holds a row without renewing it; its server renews every third of this.
LEASE_SECONDS = 30.0
DEFAULT_TIMEOUT_SECONDS = 900.0
MAX_TIMEOUT_SECONDS = 3600.0
DEFAULT_MAX_CONCURRENCY = 2  # workers per endpoint per server process: one per core here
MAX_CONCURRENCY = 64
MAX_PAYLOAD_BYTES = 1024**3  # 1 GB
JSON_TYPE, CSV_TYPE, DATASET_TYPE = "application/json", "text/csv", "dataset"
_SUFFIX_TYPES = {".csv": CSV_TYPE, ".json": JSON_TYPE, ".jsonl": JSON_TYPE, ".ndjson": JSON_TYPE}
_DATASET_REF = re.compile(r"[A-Za-z0-9][\w.-]*:(\d+|latest)")


@dataclass(frozen=True)
class AsyncInvocation(Record):
    """One asynchronous invocation and where it stands."""

    id: str
    endpoint: str
    status: str
    input_location: str
    content_type: str
    output_location: str
    model: str | None
    rows: int | None
    attempts: int
    lease_owner: str | None
    lease_expires_at: datetime | None
    timeout_seconds: float
    webhook: dict
    notifications: list
    error: str | None
    error_code: str | None
    created_at: datetime
    created_by: str
    started_at: datetime | None
    finished_at: datetime | None

    @property
    def done(self) -> bool:
        return self.status in (COMPLETED, FAILED)

    @property
    def completed(self) -> bool:
        return self.status == COMPLETED

    @property
    def failed(self) -> bool:
        return self.status == FAILED

    def to_dict(self) -> dict:
        body = self._plain()
        if self.finished_at is not None:
            body["total_seconds"] = round((self.finished_at - self.created_at).total_seconds(), 3)
            if self.started_at is not None:
                processing = (self.finished_at - self.started_at).total_seconds()
                body["processing_seconds"] = round(processing, 3)
        return body


def async_settings(config: dict | None) -> dict:
    """An endpoint's asynchronous settings: its ``config["async"]`` over the defaults."""
    return {
        "max_concurrency": DEFAULT_MAX_CONCURRENCY,
        "timeout_seconds": DEFAULT_TIMEOUT_SECONDS,
        "max_payload_bytes": MAX_PAYLOAD_BYTES,
        "on_success": None,
        "on_failure": None,
    } | dict((config or {}).get("async") or {})


def _bad_config(message: str) -> ConfigError:
    return ConfigError(message, code="async.bad-config")


def _check_url(url: str | None, what: str) -> str | None:
    if url is None or url == "":
        return None
    if not re.match(r"https?://[^/\s]+", url):
        raise _bad_config(
            f"The {what} webhook {url!r} is not an http:// or https:// URL. Give one like "
            "https://hooks.example.com/kiln, or '' to remove it."
        )
    return url


def async_owner_id() -> str:
    """A name for this server process, unique across machines and restarts: the lease owner."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _row_filter_claimable(stamp: datetime):
    return or_(
        AsyncInvocationRow.status == PENDING,
        and_(
            AsyncInvocationRow.status == IN_PROGRESS,
            AsyncInvocationRow.lease_expires_at < stamp,
        ),
    )


class AsyncQueue:
    """``ws.endpoints.async_*``: submit asynchronous invocations and follow them; and what a
    server's workers use to take, renew and finish them."""

    LEASE_SECONDS = LEASE_SECONDS

    def __init__(self, workspace: Context):
        self._ws = workspace

    # -- configuration ----------------------------------------------------------------------------
    def configure(
        self,
        endpoint: str,
        *,
        max_concurrency: int | None = None,
        timeout: str | float | None = None,
        on_success: str | None = None,
        on_failure: str | None = None,
        max_payload_mb: float | None = None,
        reset: bool = False,
    ) -> Endpoint:
        """Set the endpoint's asynchronous settings (those not given keep their value; ``reset``
        goes back to the defaults), as its next revision."""
        config = self._ws.endpoints.get(endpoint).config
        _refuse_multi_model(config, endpoint)
        current = {} if reset else dict(config.get("async") or {})
        if max_concurrency is not None:
            if not isinstance(max_concurrency, int) or not 1 <= max_concurrency <= MAX_CONCURRENCY:
                raise _bad_config(
                    f"max_concurrency must be a whole number from 1 to {MAX_CONCURRENCY} "
                    f"(workers per server process). Got {max_concurrency!r}."
                )
            current["max_concurrency"] = max_concurrency
        if timeout is not None:
            seconds = (
                float(timeout)
                if isinstance(timeout, int | float)
                else parse_duration(str(timeout), what="timeout")
            )
            if not 0 < seconds <= MAX_TIMEOUT_SECONDS:
                raise _bad_config(
                    f"The processing timeout must be more than 0 and at most 1h. Got {timeout!r}."
                )
            current["timeout_seconds"] = seconds
        if max_payload_mb is not None:
            if not 0 < max_payload_mb <= MAX_PAYLOAD_BYTES / 1024**2:
                raise _bad_config(
                    f"max_payload_mb must be more than 0 and at most 1024 (1 GB). "
                    f"Got {max_payload_mb!r}."
                )
            current["max_payload_bytes"] = int(max_payload_mb * 1024**2)
        for key, url, what in (
            ("on_success", on_success, "success"),
            ("on_failure", on_failure, "failure"),
        ):
            if url is not None:
                current[key] = _check_url(url, what)
                if current[key] is None:
                    current.pop(key)
        return self._ws.endpoints.set_config(
            endpoint, "async", current or None, note="async settings " + _describe(current)
        )

    def settings(self, endpoint: str) -> dict:
        return async_settings(self._ws.endpoints.get(endpoint).config)

    # -- submitting -------------------------------------------------------------------------------
    def submit(
        self,
        endpoint: str,
        *,
        payload: str | os.PathLike | bytes | None = None,
        content_type: str | None = None,
        input_location: str | None = None,
        local_inputs: bool = True,
    ) -> AsyncInvocation:
        """Accept an asynchronous invocation of ``endpoint``: a ``payload`` (bytes, or a local
        file, stored in the artifact store under the inference id) or an ``input_location``
        (a data set version ``name:V``, a file path or an fsspec URL, read when processed).

        A local file or data set version that does not exist is refused now; a remote URL is
        checked when a worker reads it (the invocation then fails with the reason)."""
        if (payload is None) == (input_location is None):
            raise RequestError(
                "Give either a payload or an input location (not both).",
                code="async.bad-input",
            )
        config = self._ws.endpoints.get(endpoint).config  # also: the endpoint exists
        _refuse_multi_model(config, endpoint)
        settings = async_settings(config)
        inference_id = uuid.uuid4().hex
        if payload is not None:
            content_type = async_media_type(content_type, payload)
            suffix = "csv" if content_type == CSV_TYPE else "json"
            location = self._store_payload(
                f"async/{endpoint}/{inference_id}/input.{suffix}",
                payload,
                settings["max_payload_bytes"],
            )
        else:
            location, content_type = self._check_location(
                str(input_location), content_type, local_inputs=local_inputs
            )
        output_key = self._ws.artifacts.named_key(f"async/{endpoint}/{inference_id}/output.jsonl")
        row = AsyncInvocationRow(
            id=inference_id,
            endpoint=endpoint,
            status=PENDING,
            input_location=location,
            content_type=content_type,
            output_location=self._ws.artifacts.fs.unstrip_protocol(output_key),
            attempts=0,
            timeout_seconds=float(settings["timeout_seconds"]),
            webhook={
                k: settings[k] for k in ("on_success", "on_failure") if settings.get(k) is not None
            },
            notifications=[],
            created_at=now(),
            created_by=who(),
        )
        with self._ws.store.write() as session:
            session.add(row)
            session.flush()
            return AsyncInvocation._from_row(row)

    def _store_payload(self, name: str, payload, limit: int) -> str:
        if isinstance(payload, bytes):
            if len(payload) > limit:
                raise async_payload_too_large(limit)
            with tempfile.NamedTemporaryFile(delete=False) as handle:
                handle.write(payload)
            try:
                return self._ws.artifacts.put_named(name, handle.name)
            finally:
                os.unlink(handle.name)
        path = Path(payload)
        if not _is_file(path):
            raise NotFound(
                f"No payload file at {path}. Give a JSON or CSV file of rows.",
                code="async.input-not-found",
            )
        if path.stat().st_size > limit:
            raise async_payload_too_large(limit)
        return self._ws.artifacts.put_named(name, path)

    def _check_location(
        self, location: str, content_type: str | None, *, local_inputs: bool = True
    ) -> tuple[str, str]:
        """The location as stored and its content type; a local file or data set version that
        does not exist is refused (cheap to check), a remote URL is taken on trust. Without
        ``local_inputs`` (an HTTP client, unless the workspace allows it) a local file is
        refused: the server would read any file its user can."""
        if "\x00" in location:
            raise RequestError(
                f"The input location {location[:100]!r} holds a NUL character. Give a data set "
                "version (NAME:VERSION), a file path or an fsspec URL.",
                code="async.bad-input",
            )
        is_ref = "://" not in location and _DATASET_REF.fullmatch(location)
        if is_ref and not _is_file(Path(location)):
            version = self._ws.data.get(location)  # NotFound names the data set
            return version.ref, DATASET_TYPE
        local = location.removeprefix("file://") if location.startswith("file://") else None
        if "://" not in location:
            local = location
        if local is not None and not local_inputs:
            refused = RequestError(
                f"The input location {location[:200]!r} is a file on the server, which HTTP "
                "clients may not name: give a data set version (NAME:VERSION) or a URL, send "
                "the rows in the body, or set async_local_inputs = true in kiln.toml.",
                code="async.local-input-refused",
            )
            refused.http_status = 400
            raise refused
        if local is not None:
            path = Path(local).expanduser().resolve()
            if not _is_file(path):
                raise NotFound(
                    f"No input file at {path}. Give an existing CSV or JSON file, a data set "
                    "version (NAME:VERSION) or an fsspec URL (s3://bucket/key.csv).",
                    code="async.input-not-found",
                )
            location = str(path)
        if content_type is None:
            suffix = Path(location.split("?")[0]).suffix.lower()
            content_type = _SUFFIX_TYPES.get(suffix)
            if content_type is None:
                raise RequestError(
                    f"Cannot tell the format of the input {location!r} from its name: use a "
                    ".csv, .json or .jsonl file, or say which with content_type.",
                    code="async.unsupported-input",
                )
        return location, async_media_type(content_type, None)

    # -- reading ----------------------------------------------------------------------------------
    def get(self, inference_id: str) -> AsyncInvocation:
        with self._ws.store.read() as session:
            row = session.get(AsyncInvocationRow, inference_id)
            if row is None:
                raise NotFound(
                    f"No asynchronous invocation {inference_id[:80]!r}. 'kiln endpoints "
                    "async-list ENDPOINT' lists an endpoint's invocations.",
                    code="async.not-found",
                )
            return AsyncInvocation._from_row(row)

    def list(
        self, endpoint: str | None = None, *, status: str | None = None, limit: int | None = 50
    ) -> list[AsyncInvocation]:
        """Invocations, newest first (those of a deleted endpoint too)."""
        query = select(AsyncInvocationRow).order_by(AsyncInvocationRow.created_at.desc())
        if endpoint is not None:
            query = query.where(AsyncInvocationRow.endpoint == endpoint)
        if status is not None:
            if status not in STATUSES:
                raise ConfigError(
                    f"Unknown status {status!r}. Use one of: {', '.join(STATUSES)}.",
                    code="async.bad-status",
                )
            query = query.where(AsyncInvocationRow.status == status)
        if limit is not None:
            query = query.limit(limit)
        with self._ws.store.read() as session:
            found = [AsyncInvocation._from_row(r) for r in session.scalars(query)]
        if not found and endpoint is not None:
            self._ws.endpoints.get(endpoint)  # a name that never was: NotFound, not silence
        return found

    def result(self, inference_id: str, *, out: str | os.PathLike | None = None) -> bytes | Path:
        """The output of a Completed invocation (JSON lines, one prediction per input row, in
        input order): its bytes, or written to ``out`` (returns the path)."""
        invocation = self.get(inference_id)
        if invocation.status != COMPLETED:
            reason = f": {invocation.error}" if invocation.error else ""
            raise StateError(
                f"Asynchronous invocation {inference_id} is {invocation.status}{reason}; it has "
                "no result. 'kiln endpoints async-status ID' follows it.",
                code="async.no-result",
            )
        data = self.read_output(invocation)
        if out is None:
            return data
        path = Path(out)
        try:
            path.write_bytes(data)
        except OSError as exc:  # a folder, a missing parent, no permission
            raise ConfigError(
                f"Cannot write the output of {inference_id} to {path}: {exc.strerror or exc}. "
                "Give a file path in an existing folder (e.g. -o predictions.jsonl).",
                code="async.bad-output",
            ) from exc
        return path

    def read_output(self, invocation: AsyncInvocation) -> bytes:
        import fsspec

        with fsspec.open(invocation.output_location, "rb") as handle:
            return handle.read()

    def backlog(self, endpoints: list[str] | None = None) -> dict[str, dict]:
        """``{endpoint: {"pending", "in_progress", "oldest_pending_seconds"}}``: what is waiting
        (a row whose lease ran out counts as pending) and what is being processed."""
        stamp = now()
        claimable = _row_filter_claimable(stamp)
        query = select(
            AsyncInvocationRow.endpoint,
            func.count(),
            func.min(AsyncInvocationRow.created_at),
        ).where(claimable)
        running = select(AsyncInvocationRow.endpoint, func.count()).where(
            (AsyncInvocationRow.status == IN_PROGRESS)
            & (AsyncInvocationRow.lease_expires_at >= stamp)
        )
        if endpoints is not None:
            query = query.where(AsyncInvocationRow.endpoint.in_(endpoints))
            running = running.where(AsyncInvocationRow.endpoint.in_(endpoints))
        out: dict[str, dict] = {}
        with self._ws.store.read() as session:
            for name, count, oldest in session.execute(query.group_by(AsyncInvocationRow.endpoint)):
                out[name] = {
                    "pending": count,
                    "in_progress": 0,
                    "oldest_pending_seconds": (stamp - oldest).total_seconds(),
                }
            for name, count in session.execute(running.group_by(AsyncInvocationRow.endpoint)):
                entry = out.setdefault(
                    name, {"pending": 0, "in_progress": 0, "oldest_pending_seconds": 0.0}
                )
                entry["in_progress"] = count
        return out

    # -- what workers do --------------------------------------------------------------------------
    def claim(
        self, endpoints: list[str], owner: str, *, lease_seconds: float = LEASE_SECONDS
    ) -> AsyncInvocation | None:
        """Take the oldest waiting invocation of ``endpoints`` for ``owner``, or None.

        The UPDATE repeats the "still waiting" condition, so of two servers racing for a row
        exactly one gets it. A row taken more than :data:`MAX_ATTEMPTS` times is returned
        Failed (its worker only sends the failure notification)."""
        if not endpoints:
            return None
        stamp = now()
        table = AsyncInvocationRow
        with self._ws.store.write() as session:
            candidates = session.scalars(
                select(table.id)
                .where(table.endpoint.in_(endpoints) & _row_filter_claimable(stamp))
                .order_by(table.created_at)
                .limit(5)
            ).all()
            for inference_id in candidates:
                taken = session.execute(
                    update(table)
                    .where((table.id == inference_id) & _row_filter_claimable(stamp))
                    .values(
                        status=IN_PROGRESS,
                        lease_owner=owner,
                        lease_expires_at=stamp + timedelta(seconds=lease_seconds),
                        attempts=table.attempts + 1,
                        started_at=func.coalesce(table.started_at, stamp),
                    )
                    .execution_options(synchronize_session=False)
                )
                if taken.rowcount != 1:
                    continue  # another server took it first
                row = session.get(table, inference_id, populate_existing=True)
                if row.attempts > MAX_ATTEMPTS:
                    row.status, row.finished_at = FAILED, stamp
                    row.lease_owner = row.lease_expires_at = None
                    row.attempts = MAX_ATTEMPTS
                    given_up = KilnError(
                        f"Tried {MAX_ATTEMPTS} times; each time its server stopped before it "
                        "finished (the lease ran out). Check the server's log and memory for "
                        "this payload, and submit it again (smaller, perhaps).",
                        code="async.too-many-attempts",
                    )
                    row.error, row.error_code = given_up.message, given_up.code
                return AsyncInvocation._from_row(row)
        return None

    def renew(self, owner: str, *, lease_seconds: float = LEASE_SECONDS) -> int:
        """Extend every lease ``owner`` holds; returns how many."""
        table = AsyncInvocationRow
        with self._ws.store.write() as session:
            return session.execute(
                update(table)
                .where((table.lease_owner == owner) & (table.status == IN_PROGRESS))
                .values(lease_expires_at=now() + timedelta(seconds=lease_seconds))
                .execution_options(synchronize_session=False)
            ).rowcount

    def release(self, invocation: AsyncInvocation, owner: str) -> bool:
        """Give a row back to the queue unfinished (its server is stopping): Pending again, the
        attempt not counted, so a planned restart never uses up a request's attempts."""
        table = AsyncInvocationRow
        with self._ws.store.write() as session:
            return (
                session.execute(
                    update(table)
                    .where(
                        (table.id == invocation.id)
                        & (table.lease_owner == owner)
                        & (table.status == IN_PROGRESS)
                    )
                    .values(
                        status=PENDING,
                        lease_owner=None,
                        lease_expires_at=None,
                        attempts=table.attempts - 1,
                    )
                    .execution_options(synchronize_session=False)
                ).rowcount
                == 1
            )

    def expire_dead_leases(self) -> int:
        """End the leases held by server processes of this machine that are gone (a server
        killed and started again), so their rows are taken again now rather than when the lease
        runs out; returns how many. A process id in use again only means waiting for the lease."""
        table = AsyncInvocationRow
        host = socket.gethostname()
        with self._ws.store.write() as session:
            held = session.execute(
                select(table.id, table.lease_owner).where(
                    (table.status == IN_PROGRESS) & table.lease_owner.startswith(f"{host}:")
                )
            ).all()
            dead = [(i, owner) for i, owner in held if not _process_alive(owner, host)]
            for inference_id, owner in dead:
                session.execute(
                    update(table)
                    .where((table.id == inference_id) & (table.lease_owner == owner))
                    .values(lease_expires_at=now() - timedelta(seconds=1))
                    .execution_options(synchronize_session=False)
                )
        return len(dead)

    def write_output(self, invocation: AsyncInvocation, path: str | os.PathLike) -> None:
        """Put the output file under the invocation's id, replacing any earlier attempt's."""
        prefix = self._ws.artifacts.fs.unstrip_protocol(self._ws.artifacts.named_key("async"))
        name = "async" + invocation.output_location[len(prefix) :]
        self._ws.artifacts.put_named(name, path)

    def complete(
        self, invocation: AsyncInvocation, owner: str, *, model: str, rows: int
    ) -> AsyncInvocation | None:
        """Mark the invocation Completed, if ``owner`` still holds it (else None)."""
        return self._finish(invocation, owner, status=COMPLETED, model=model, rows=rows)

    def fail(
        self, invocation: AsyncInvocation, owner: str, *, error: str, code: str, model=None
    ) -> AsyncInvocation | None:
        """Mark the invocation Failed with the reason, if ``owner`` still holds it."""
        return self._finish(
            invocation, owner, status=FAILED, error=error, error_code=code, model=model
        )

    def _finish(self, invocation: AsyncInvocation, owner: str, **values) -> AsyncInvocation | None:
        table = AsyncInvocationRow
        with self._ws.store.write() as session:
            done = session.execute(
                update(table)
                .where(
                    (table.id == invocation.id)
                    & (table.lease_owner == owner)
                    & (table.status == IN_PROGRESS)
                )
                .values(finished_at=now(), lease_owner=None, lease_expires_at=None, **values)
                .execution_options(synchronize_session=False)
            )
            if done.rowcount != 1:
                return None  # the lease ran out and another server has it
            return AsyncInvocation._from_row(session.get(table, invocation.id))

    def record_notifications(self, inference_id: str, notifications: list[dict]) -> None:
        with self._ws.store.write() as session:
            row = session.get(AsyncInvocationRow, inference_id)
            row.notifications = list(row.notifications or []) + notifications

    def input_chunks(
        self, invocation: AsyncInvocation, *, rows: int, columns: set[str] | None = None
    ) -> Iterator[tuple[bytes, bool]]:
        """The invocation's input as bodies of up to ``rows`` rows each, ``(body, as_json)``,
        for the real-time scoring functions. A data set version keeps only ``columns``.

        Raises ``DataError`` (``async.input-unreadable``) naming the location when it cannot be
        read."""
        location = invocation.input_location

        def unreadable(exc: Exception) -> DataError:
            return DataError(
                f"Cannot read the input {location}: {type(exc).__name__}: {str(exc)[:300]}. "
                "Check that it exists and that this server can read it.",
                code="async.input-unreadable",
            )

        if invocation.content_type == DATASET_TYPE:
            try:
                frame = self._ws.data.load(location)
            except (OSError, NotFound) as exc:
                raise unreadable(exc) from exc
            if columns is not None:
                frame = frame[[c for c in frame.columns if c in columns]]
            for start in range(0, len(frame), rows):
                yield frame.iloc[start : start + rows].to_csv(index=False).encode(), False
            return
        try:
            handle = _open_location(location)
        except Exception as exc:  # noqa: BLE001 - any filesystem's error (botocore's, a missing
            raise unreadable(exc) from exc  # gcsfs) is the input's, never a processing failure
        with handle:
            if invocation.content_type == CSV_TYPE:
                import pandas as pd

                # Read as it is scored, a chunk at a time (a payload may be 1 GB); cells as text,
                # as the real-time endpoint reads a CSV body: its parser does the rest.
                reader = pd.read_csv(handle, dtype=str, keep_default_na=False, chunksize=rows)
                for chunk in reader:
                    yield chunk.to_csv(index=False).encode(), False
                return
            try:
                data = handle.read()
            except OSError as exc:
                raise unreadable(exc) from exc
        import orjson

        records = _json_records(data)
        for start in range(0, len(records), rows):
            yield orjson.dumps(records[start : start + rows]), True


def _refuse_multi_model(config: dict, endpoint: str) -> None:
    if MULTI_MODEL in config:
        raise StateError(
            f"Endpoint {endpoint!r} is a multi-model endpoint, whose requests each name a "
            "model; asynchronous invocations go to an endpoint of one model (or variants). "
            "Deploy the model to its own endpoint for them.",
            code="multimodel.not-supported",
        )


def fail_unfinished(session, endpoint: str) -> int:
    """Fail the endpoint's Pending and InProgress invocations (it is being deleted), in the
    caller's transaction, so they neither wait forever nor are scored by a later endpoint of the
    same name; returns how many. A worker still scoring one finds it taken and drops its output."""
    gone = KilnError(
        f"Endpoint {endpoint!r} was deleted before this invocation finished. Submit it again to "
        "an endpoint that exists.",
        code="async.endpoint-deleted",
    )
    table = AsyncInvocationRow
    return session.execute(
        update(table)
        .where((table.endpoint == endpoint) & table.status.in_((PENDING, IN_PROGRESS)))
        .values(
            status=FAILED,
            finished_at=now(),
            lease_owner=None,
            lease_expires_at=None,
            error=gone.message,
            error_code=gone.code,
        )
        .execution_options(synchronize_session=False)
    ).rowcount


def _process_alive(owner: str, host: str) -> bool:
    """Whether the process of lease owner ``HOST:PID:...`` (on this host) still runs."""
    try:
        pid = int(owner[len(host) + 1 :].split(":")[0])
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (ValueError, PermissionError):
        return True  # not a name kiln wrote, or another user's process: leave it to the lease
    return True


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except OSError:  # a name too long, say: no such file either way
        return False


def _open_location(location: str):
    """A binary file object of a local path or an fsspec URL, opened now (so a missing file
    fails here)."""
    if "://" not in location:
        return open(location, "rb")  # noqa: SIM115 - the caller closes it
    import fsspec

    return fsspec.open(location, "rb").open()


def _json_records(data: bytes) -> list:
    """Rows of a JSON body: a list of records, ``{"instances": [...]}``, or JSON lines."""
    import orjson

    try:
        parsed = orjson.loads(data)
    except orjson.JSONDecodeError:
        try:
            return [orjson.loads(line) for line in data.splitlines() if line.strip()]
        except orjson.JSONDecodeError as exc:
            raise RequestError(
                f"The input is neither JSON nor JSON lines: {exc}.", code="request.malformed-json"
            ) from None
    if isinstance(parsed, dict) and isinstance(parsed.get("instances"), list):
        return parsed["instances"]
    return parsed if isinstance(parsed, list) else [parsed]


def async_media_type(content_type: str | None, payload) -> str:
    if content_type is None and payload is not None and not isinstance(payload, bytes):
        content_type = _SUFFIX_TYPES.get(Path(payload).suffix.lower())
        # A CSV file named rows.txt would fail later as bad JSON (a missing file: NotFound later).
        if content_type is None and _is_file(Path(payload)):
            raise RequestError(
                f"Cannot tell the format of the payload file {str(payload)[:200]!r} from its "
                "name: use a .csv, .json or .jsonl file, or say which with --content-type "
                "(SDK: content_type=).",
                code="async.unsupported-input",
            )
    media = (content_type or JSON_TYPE).split(";")[0].strip().lower()
    if media in (JSON_TYPE, "", "*/*"):
        return JSON_TYPE
    if media in (CSV_TYPE, "application/csv"):
        return CSV_TYPE
    error = RequestError(
        f"Content type {media[:100]!r} is not supported. Send application/json or text/csv.",
        code="async.unsupported-media-type",
    )
    error.http_status = 415
    raise error


def async_payload_too_large(limit: int) -> RequestError:
    error = RequestError(
        f"The payload is larger than this endpoint's limit of {limit} bytes for asynchronous "
        "invocations. Split it, put it where the server can read it and send its input_location, "
        "or raise the limit ('kiln endpoints async-config ENDPOINT --max-payload-mb N', "
        "up to 1024).",
        code="async.payload-too-large",
    )
    error.http_status = 413
    return error


def _describe(settings: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(settings.items())) or "reset to defaults"
