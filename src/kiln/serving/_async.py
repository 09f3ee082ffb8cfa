"""Asynchronous invocations in the server: the HTTP routes, and the workers that process the
queue (:mod:`kiln.endpoints._async`) with the models this server holds.

One dispatcher thread per server process looks at the queue every ``poll_seconds``: it renews the
leases its workers hold, and starts worker threads for an endpoint as its backlog grows, up to
the endpoint's ``max_concurrency``; a worker ends when it finds nothing to take, so an idle
endpoint has none. Each change of an endpoint's worker count is a ``scaling_events`` row
(action ``async-workers``).
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
import time
from typing import Any

import anyio
import orjson
from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, Response

from kiln.context import Context
from kiln.endpoints import (
    AsyncInvocation,
    async_media_type,
    async_owner_id,
    async_payload_too_large,
    async_settings,
)
from kiln.errors import KilnError, RequestError
from kiln.serving._cache import EndpointCache
from kiln.serving._validation import cut
from kiln.store import ScalingEventRow, now

log = logging.getLogger("kiln.serving")

POLL_SECONDS = 0.25
CHUNK_ROWS = 1000  # rows scored at a time: the timeout and the stop are checked between chunks
WEBHOOK_ATTEMPTS = 3
WEBHOOK_TIMEOUT_SECONDS = 5.0
WEBHOOK_BACKOFF_SECONDS = 0.5  # doubled after each failed attempt
# A JSON body this small may be {"input_location": ...} rather than rows.
_LOCATION_BODY_BYTES = 64 * 1024
_STREAM_CHUNK = 1024 * 1024


def _timeout_error(invocation: AsyncInvocation, rows: int) -> KilnError:
    return KilnError(
        f"Processing took longer than the endpoint's timeout of {invocation.timeout_seconds:g} s "
        f"({rows} rows scored). Split the input, or raise the timeout (up to 1h) with 'kiln "
        f"endpoints async-config {invocation.endpoint} --timeout 30m'.",
        code="async.timeout",
    )


class AsyncWorkers:
    """The dispatcher and worker threads of one server process."""

    def __init__(
        self,
        workspace: Context,
        cache: EndpointCache,
        *,
        poll_seconds: float = POLL_SECONDS,
        lease_seconds: float | None = None,
    ):
        self.queue = workspace.endpoints.async_queue
        self.workspace = workspace
        self.cache = cache
        self.poll_seconds = poll_seconds
        self.lease_seconds = lease_seconds or self.queue.LEASE_SECONDS
        self.webhook_attempts = WEBHOOK_ATTEMPTS
        self.webhook_timeout = WEBHOOK_TIMEOUT_SECONDS
        self.webhook_backoff = WEBHOOK_BACKOFF_SECONDS
        self.owner = async_owner_id()
        self._workers: dict[str, list[threading.Thread]] = {}
        self._recorded: dict[str, int] = {}  # the worker count last written to scaling_events
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_renewal = 0.0

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="kiln-async-dispatcher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop taking work; workers end after their current chunk (a row they leave is taken
        again when its lease runs out)."""
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join(timeout=10)
        for threads in self._workers.values():
            for thread in threads:
                thread.join(timeout=10)
        self._thread = None
        self._workers = {}

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception:  # the store is down, say: try again at the next poll
                log.exception("The asynchronous invocation dispatcher failed; retrying")
            self._stop.wait(self.poll_seconds)

    def tick(self) -> None:
        """Renew leases when due, and match each endpoint's workers to its backlog."""
        if time.monotonic() - self._last_renewal > self.lease_seconds / 3:
            self.queue.renew(self.owner, lease_seconds=self.lease_seconds)
            # A server of this machine that was killed (and this one, perhaps, its restart):
            # its rows are retried now instead of when their leases run out.
            self.queue.expire_dead_leases()
            self._last_renewal = time.monotonic()
        loaded, _ = self.cache.snapshot()
        backlog = self.queue.backlog(sorted(loaded)) if loaded else {}
        for name in sorted(set(loaded) | set(self._workers)):
            alive = [t for t in self._workers.get(name, []) if t.is_alive()]
            pending = backlog.get(name, {}).get("pending", 0)
            endpoint = loaded.get(name)
            limit = async_settings(endpoint.config)["max_concurrency"] if endpoint else 0
            before = len(alive)
            wanted = min(limit, before + pending)
            for _ in range(wanted - before):
                thread = threading.Thread(
                    target=self._work, args=(name,), name=f"kiln-async-{name}", daemon=True
                )
                thread.start()
                alive.append(thread)
            self._workers[name] = alive
            recorded = self._recorded.get(name, 0)
            if wanted > before and wanted != recorded:
                self._record(name, before, wanted, pending, f"{pending} waiting")
            elif not alive and recorded:
                self._record(name, recorded, 0, 0, "queue empty")

    def _record(self, name: str, before: int, after: int, pending: int, reason: str) -> None:
        self._recorded[name] = after
        with self.workspace.store.write() as session:
            session.add(
                ScalingEventRow(
                    endpoint=name,
                    at=now(),
                    action="async-workers",
                    before=before,
                    after=after,
                    metric="async_backlog",
                    value=float(pending),
                    reason=reason,
                )
            )

    def _work(self, name: str) -> None:
        while not self._stop.is_set():
            try:
                invocation = self.queue.claim([name], self.owner, lease_seconds=self.lease_seconds)
            except Exception:
                log.exception("Could not take an asynchronous invocation of %s", name)
                return
            if invocation is None:
                return
            self.process(invocation)

    def process(self, invocation: AsyncInvocation) -> None:
        """Score one taken invocation, write its output, finish it and notify; never raises."""
        if invocation.failed:  # taken too many times: failed by the claim
            self.notify(invocation)
            return
        model = None
        try:
            rows, model = self._score(invocation)
            if rows is None:  # this server is stopping: back to the queue, for any server
                self.queue.release(invocation, self.owner)
                return
            finished = self.queue.complete(invocation, self.owner, model=model, rows=rows)
        except KilnError as exc:
            finished = self.queue.fail(
                invocation, self.owner, error=exc.message, code=exc.code, model=model
            )
        except Exception as exc:  # whatever broke, the request fails with the reason
            log.exception("Asynchronous invocation %s failed", invocation.id)
            finished = self.queue.fail(
                invocation,
                self.owner,
                error=f"{type(exc).__name__}: {cut(str(exc), 300)}",
                code="async.processing-failed",
                model=model,
            )
        if finished is not None:
            self.notify(finished)

    def _score(self, invocation: AsyncInvocation) -> tuple[int | None, str | None]:
        # The real-time scoring functions, with the model the cache holds (compiled forms too).
        from kiln.serving._app import choose_variant, score_csv, score_json
        from kiln.serving._forecast import score_forecast_batch

        loaded = self.cache.lookup(invocation.endpoint)
        if loaded.cold:  # a serverless endpoint unloaded while idle: this worker warms it
            self.cache.warm(invocation.endpoint)
            loaded = self.cache.lookup(invocation.endpoint)
        variant = choose_variant(loaded, {})
        deadline = time.monotonic() + invocation.timeout_seconds
        rows = 0
        # Kept on disk after closing: the artifact store copies it into place, then it goes.
        handle = tempfile.NamedTemporaryFile(suffix=".jsonl", delete=False)  # noqa: SIM115
        try:
            with handle:
                chunks = self.queue.input_chunks(
                    invocation, rows=CHUNK_ROWS, columns=variant.loaded.schema.allowed
                )
                for body, as_json in chunks:
                    if self._stop.is_set():
                        return None, variant.model_ref
                    if time.monotonic() > deadline:
                        raise _timeout_error(invocation, rows)
                    if getattr(variant.loaded.schema, "forecasting", False):
                        # forecast request objects, or CSV request rows (docs/forecasting.md)
                        predictions = score_forecast_batch(variant.loaded.model, body, as_json)
                    else:
                        score = score_json if as_json else score_csv
                        predictions, _warnings = score(variant.loaded, body)
                    handle.write(
                        b"".join(
                            orjson.dumps(p, option=orjson.OPT_SERIALIZE_NUMPY) + b"\n"
                            for p in predictions
                        )
                    )
                    rows += len(predictions)
            self.queue.write_output(invocation, handle.name)
        finally:
            os.unlink(handle.name)
        return rows, variant.model_ref

    def notify(self, invocation: AsyncInvocation) -> None:
        """POST the outcome to the endpoint's success or failure webhook, retrying with backoff;
        every attempt is recorded in the invocation's ``notifications``."""
        import httpx

        event = "success" if invocation.completed else "failure"
        url = invocation.webhook.get(f"on_{event}")
        if not url:
            return
        body = {
            "inference_id": invocation.id,
            "endpoint": invocation.endpoint,
            "status": invocation.status,
            "output_location": invocation.output_location if event == "success" else None,
            "error": invocation.error,
            "error_code": invocation.error_code,
        }
        attempts: list[dict[str, Any]] = []
        delay = self.webhook_backoff
        for attempt in range(1, self.webhook_attempts + 1):
            note: dict[str, Any] = {"event": event, "url": url, "attempt": attempt}
            try:
                response = httpx.post(url, json=body, timeout=self.webhook_timeout)
                note["status_code"] = response.status_code
                note["delivered"] = response.is_success
            except httpx.TimeoutException:
                note["delivered"] = False
                note["error"] = f"timed out after {self.webhook_timeout:g} s"
            except httpx.HTTPError as exc:
                note["delivered"] = False
                note["error"] = f"{type(exc).__name__}: {cut(str(exc), 200)}"
            note["at"] = now().isoformat() + "Z"
            attempts.append(note)
            if note["delivered"] or attempt == self.webhook_attempts:
                break
            if self._stop.wait(delay):
                break
            delay *= 2
        if not attempts[-1]["delivered"]:
            log.warning(
                "The %s webhook of asynchronous invocation %s failed after %d attempts: %s",
                event,
                invocation.id,
                len(attempts),
                attempts[-1].get("error") or attempts[-1].get("status_code"),
            )
        self.queue.record_notifications(invocation.id, attempts)


def async_exposition(workspace: Context) -> bytes:
    """Queue depth and the age of the oldest waiting request per endpoint, for ``/metrics``:
    read from the store at each scrape, so every server process reports the same figures."""
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.core import GaugeMetricFamily

    try:
        backlog = workspace.endpoints.async_queue.backlog()
        idle = {"pending": 0, "in_progress": 0, "oldest_pending_seconds": 0.0}
        # Every endpoint (0 when idle), and only those that exist (not a deleted one's rows).
        backlog = {name: backlog.get(name, idle) for name in workspace.endpoints.revisions()}
    except Exception as exc:  # noqa: BLE001 - a scrape never fails for the queue's part
        log.warning("asynchronous queue metrics left out of /metrics: %s", exc)
        return b""
    depth = GaugeMetricFamily(
        "kiln_async_queue_depth",
        "Asynchronous invocations waiting to be processed.",
        labels=["endpoint"],
    )
    running = GaugeMetricFamily(
        "kiln_async_in_progress", "Asynchronous invocations being processed.", labels=["endpoint"]
    )
    age = GaugeMetricFamily(
        "kiln_async_oldest_pending_age_seconds",
        "Seconds the oldest waiting asynchronous invocation has waited.",
        labels=["endpoint"],
    )
    for name, entry in sorted(backlog.items()):
        depth.add_metric([name], entry["pending"])
        running.add_metric([name], entry["in_progress"])
        age.add_metric([name], entry["oldest_pending_seconds"])

    class _Collector:
        def collect(self):
            return [depth, running, age]

    registry = CollectorRegistry()
    registry.register(_Collector())
    return generate_latest(registry)


def _links(invocation: AsyncInvocation) -> dict:
    return invocation.to_dict() | {
        "status_url": f"/async-invocations/{invocation.id}",
        "result_url": f"/async-invocations/{invocation.id}/result",
    }


def _check_key_scope(request: Request, invocation: AsyncInvocation) -> None:
    """A key for one endpoint sees that endpoint's invocations only (the Auth middleware lets
    such keys reach these routes, which name no endpoint in their path)."""
    scoped = getattr(request.state, "key_endpoint", None)
    if scoped is not None and scoped != invocation.endpoint:
        error = RequestError(
            f"The API key is for endpoint {scoped!r} only, and asynchronous invocation "
            f"{invocation.id} is of another endpoint. Use a key for it.",
            code="auth.wrong-endpoint",
        )
        error.http_status = 403
        raise error


async def _stream_to_file(request: Request, limit: int) -> str:
    """The body, written to a temporary file as it arrives; 413 past ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise async_payload_too_large(limit)
    handle = tempfile.NamedTemporaryFile(prefix="kiln-async-", delete=False)  # noqa: SIM115
    size = 0
    try:
        with handle:
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise async_payload_too_large(limit)
                await anyio.to_thread.run_sync(handle.write, chunk)
    except BaseException:
        os.unlink(handle.name)
        raise
    if size == 0:
        os.unlink(handle.name)
        raise RequestError(
            "The body is empty. Send JSON records or CSV rows, or "
            '{"input_location": "NAME:VERSION | path | URL"}.',
            code="request.empty",
        )
    return handle.name


def _location_in(path: str, media_type: str) -> str | None:
    """The ``input_location`` a small JSON body names, or None (the body is rows)."""
    if media_type != "application/json" or os.path.getsize(path) > _LOCATION_BODY_BYTES:
        return None
    with open(path, "rb") as handle:
        try:
            parsed = orjson.loads(handle.read())
        except orjson.JSONDecodeError:
            return None
    if isinstance(parsed, dict) and "input_location" in parsed:
        location = parsed["input_location"]
        if not isinstance(location, str) or not location.strip():
            raise RequestError(
                "input_location must be a data set version (NAME:VERSION), a file path or an "
                f"fsspec URL. Got {cut(repr(location), 100)}.",
                code="async.bad-input",
            )
        return location.strip()
    return None


def async_router(workspace: Context, errors: dict[int, dict]) -> APIRouter:
    """The asynchronous invocation routes of the serving app (``errors``: the documented error
    answers by status, as the app's other routes document them)."""
    queue = workspace.endpoints.async_queue
    router = APIRouter()

    @router.post(
        "/endpoints/{name}/async-invocations",
        summary="Queue an asynchronous invocation",
        status_code=202,
        responses={s: errors[s] for s in (400, 404, 413, 415)},
    )
    async def submit(name: str, request: Request) -> Response:
        """Rows as JSON or CSV in the body (streamed to the artifact store, up to the endpoint's
        limit, 1 GB by default), or ``{"input_location": "NAME:VERSION | path | URL"}``.
        Answers 202 with the inference id, the output location and where to follow it."""
        request.state.endpoint = name
        media_type = async_media_type(request.headers.get("content-type"), None)
        settings = await anyio.to_thread.run_sync(queue.settings, name)
        path = await _stream_to_file(request, int(settings["max_payload_bytes"]))
        try:
            location = await anyio.to_thread.run_sync(_location_in, path, media_type)
            if location is not None:
                invocation = await anyio.to_thread.run_sync(
                    lambda: queue.submit(
                        name,
                        input_location=location,
                        local_inputs=workspace.settings.async_local_inputs,
                    )
                )
            else:
                invocation = await anyio.to_thread.run_sync(
                    lambda: queue.submit(name, payload=path, content_type=media_type)
                )
        finally:
            os.unlink(path)
        return Response(
            orjson.dumps(_links(invocation)),
            status_code=202,
            media_type="application/json",
            headers={
                "location": f"/async-invocations/{invocation.id}",
                "x-kiln-inference-id": invocation.id,
            },
        )

    @router.get(
        "/async-invocations/{inference_id}",
        summary="An asynchronous invocation",
        responses={s: errors[s] for s in (403, 404)},
    )
    async def status(inference_id: str, request: Request) -> Response:
        """Status (Pending, InProgress, Completed, Failed), timings, the result location, and
        the reason of a failure."""
        invocation = await anyio.to_thread.run_sync(queue.get, inference_id)
        _check_key_scope(request, invocation)
        return Response(orjson.dumps(_links(invocation)), media_type="application/json")

    @router.get(
        "/async-invocations/{inference_id}/result",
        summary="The output of a completed asynchronous invocation",
        responses={s: errors[s] for s in (403, 404, 409)},
    )
    async def result(inference_id: str, request: Request) -> Response:
        """JSON lines, one prediction per input row in input order; 409 until Completed."""
        invocation = await anyio.to_thread.run_sync(queue.get, inference_id)
        _check_key_scope(request, invocation)
        if not invocation.completed:
            await anyio.to_thread.run_sync(queue.result, inference_id)  # raises the 409
        if invocation.output_location.startswith("file://"):
            return FileResponse(
                invocation.output_location.removeprefix("file://"),
                media_type="application/x-ndjson",
            )
        data = await anyio.to_thread.run_sync(queue.read_output, invocation)
        return Response(data, media_type="application/x-ndjson")

    return router
