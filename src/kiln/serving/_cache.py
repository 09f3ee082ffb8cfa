"""The models behind each endpoint, kept loaded by a background thread.

Requests never touch the metadata store or the artifact store: they read what the loader thread
last published. The thread polls endpoint revisions once a second, loads what changed, and retries
an endpoint whose model failed to load with an exponential backoff, so a broken artifact costs one
re-read every minute at most, never one per request.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections import OrderedDict, deque
from dataclasses import dataclass

from kiln.context import Context
from kiln.errors import KilnError, NotFound, RequestError
from kiln.recipe import RowEncoder, probe_rows
from kiln.registry import TrainedModel
from kiln.serving._validation import RequestSchema

log = logging.getLogger("kiln.serving")

REFRESH_SECONDS = 1.0
# An unknown endpoint name gets one fresh look at the store (a deployment made a moment ago is
# served at once); asked again within REFRESH_SECONDS, it is answered from memory (the poll covers
# it). Fresh looks are capped per second, so a client trying random names costs a few cheap
# revision reads in the loader thread, never a load and never the event loop.
FRESH_LOOKS_PER_SECOND = 20
_REMEMBERED_NAMES = 1000
RETRY_FIRST_SECONDS = 1.0
RETRY_MAX_SECONDS = 60.0


@dataclass
class LoadedEndpoint:
    name: str
    revision: int
    model_ref: str
    model: TrainedModel
    schema: RequestSchema
    fast: RowEncoder | None = None  # the compiled recipe, when it reproduces the pipeline


@dataclass(frozen=True)
class FailedEndpoint:
    """An endpoint whose model could not be loaded, and when the loader tries again."""

    name: str
    revision: int
    model_ref: str
    reason: str
    attempts: int
    failed_at: float  # time.time()
    retry_at: float  # time.monotonic()

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "model": self.model_ref,
            "revision": self.revision,
            "reason": self.reason,
            "attempts": self.attempts,
            "retry_in_seconds": round(max(0.0, self.retry_at - time.monotonic()), 1),
        }


class EndpointUnavailable(RequestError):
    """An endpoint that exists but whose model failed to load (HTTP 503)."""

    http_status = 503


class EndpointCache:
    """What each endpoint serves; published by one loader thread, read lock-free by requests."""

    def __init__(self, workspace: Context, *, refresh_seconds: float = REFRESH_SECONDS):
        self.workspace = workspace
        self.refresh_seconds = refresh_seconds
        # Replaced whole (never mutated) by the loader thread, so readers need no lock.
        self.loaded: dict[str, LoadedEndpoint] = {}
        self.failed: dict[str, FailedEndpoint] = {}
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._refreshed = threading.Condition()
        self._last_refresh_started = float("-inf")
        self._last_completed_start = float("-inf")
        self._thread: threading.Thread | None = None
        self._asked: OrderedDict[str, float] = OrderedDict()  # unknown names, when looked up
        self._looks: deque[float] = deque()
        self._start_lock = threading.Lock()

    # -- the loader thread ------------------------------------------------------------------------
    def start(self) -> None:
        """Load every endpoint once, then keep watching in a daemon thread (idempotent)."""
        with self._start_lock:
            if self._thread is not None:
                return
            self.refresh()
            self._thread = threading.Thread(target=self._run, name="kiln-endpoint-loader")
            self._thread.daemon = True
            self._thread.start()

    def stop(self) -> None:
        """End the loader thread (a later ``start`` begins again: an app's lifespan may run
        more than once)."""
        with self._start_lock:
            if self._thread is None:
                return
            self._stop.set()
            self._wake.set()
            self._thread.join(timeout=10)
            self._thread = None
            self._stop.clear()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.refresh_seconds)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self.refresh()
            except Exception:  # the store is down, say: log, keep serving what is loaded
                log.exception("Could not check the workspace for endpoint changes")

    def refresh(self) -> None:
        """Load what changed since the last look; drop deleted endpoints."""
        started = self._last_refresh_started = time.monotonic()
        try:
            revisions = self.workspace.endpoints.revisions()
            loaded = {n: e for n, e in self.loaded.items() if n in revisions}
            failed = {n: f for n, f in self.failed.items() if n in revisions}
            for name, revision in revisions.items():
                current = loaded.get(name)
                if current is not None and current.revision == revision:
                    continue
                previous = failed.get(name)
                same = previous is not None and previous.revision == revision
                if same and time.monotonic() < previous.retry_at:
                    continue
                try:
                    loaded[name] = self._load(name, current)
                    failed.pop(name, None)
                except Exception as exc:  # any failure to load leaves the endpoint reported
                    attempts = previous.attempts + 1 if same else 1
                    failed[name] = self._failure(name, revision, exc, attempts)
                    if current is not None and current.revision != revision:
                        # The old model keeps serving until the new one loads.
                        loaded[name] = current
            self.loaded, self.failed = loaded, failed
        finally:
            with self._refreshed:
                self._last_completed_start = started
                self._refreshed.notify_all()

    def _failure(self, name: str, revision: int, exc: Exception, attempts: int) -> FailedEndpoint:
        if isinstance(exc, KilnError):
            reason = exc.message
        else:
            reason = f"{type(exc).__name__}: {exc}"
            log.exception("Endpoint %s (revision %s) could not be loaded", name, revision)
        delay = min(RETRY_MAX_SECONDS, RETRY_FIRST_SECONDS * 2 ** (attempts - 1))
        log.error(
            "Endpoint %s (revision %s) not loaded (attempt %d, next in %.0f s): %s",
            name,
            revision,
            attempts,
            delay,
            reason,
        )
        try:
            model_ref = self.workspace.endpoints.get(name).model
        except Exception:
            model_ref = "?"
        return FailedEndpoint(
            name, revision, model_ref, reason, attempts, time.time(), time.monotonic() + delay
        )

    def _load(self, name: str, current: LoadedEndpoint | None = None) -> LoadedEndpoint:
        endpoint = self.workspace.endpoints.get(name)
        if current is not None and current.model_ref == endpoint.model:
            # A new revision of the same model (deployed again): nothing to load.
            return dataclasses.replace(current, revision=endpoint.revision)
        version = self.workspace.models.get(endpoint.model)
        model = self.workspace.models.load(version)
        model.set_threads(1)
        fast = None
        if model.problem_type in ("binary", "multiclass", "regression"):
            preprocessor = model.pipeline[0]
            fast = RowEncoder.compile(preprocessor, probe_rows(version.signature, preprocessor))
        log.info(
            "Endpoint %s serves %s (revision %s%s)",
            name,
            version.ref,
            endpoint.revision,
            ", compiled recipe" if fast else "",
        )
        return LoadedEndpoint(
            name, endpoint.revision, version.ref, model, RequestSchema(version.signature), fast
        )

    # -- reading, from requests ---------------------------------------------------------------
    def lookup(self, name: str) -> LoadedEndpoint:
        """The endpoint as last loaded; raises for a failed or unknown one. Never blocks."""
        loaded = self.loaded.get(name)
        if loaded is not None:
            return loaded
        failed = self.failed.get(name)
        if failed is not None:
            raise EndpointUnavailable(
                f"Endpoint {name!r} is not serving: its model {failed.model_ref} could not be "
                f"loaded ({failed.reason}). The server retries in "
                f"{failed.to_dict()['retry_in_seconds']} s; redeploy a working model with "
                f"'kiln deploy GROUP:VERSION --endpoint {name}'.",
                code="serving.endpoint-failed",
                field="name",
            )
        raise NotFound(
            f"No endpoint named {name!r} is being served. Served endpoints: "
            f"{', '.join(sorted(self.loaded)) or 'none'}. Deploy with "
            f"'kiln deploy GROUP:VERSION --endpoint {name}'.",
            code="serving.unknown-endpoint",
            field="name",
        )

    def deserves_fresh_look(self, name: str) -> bool:
        """Whether an unknown ``name`` is worth a look at the store (called on the event loop)."""
        now = time.monotonic()
        asked = self._asked.get(name)
        if asked is not None and now - asked < self.refresh_seconds:
            return False
        while self._looks and now - self._looks[0] > 1.0:
            self._looks.popleft()
        if len(self._looks) >= FRESH_LOOKS_PER_SECOND:
            return False
        self._looks.append(now)
        self._asked[name] = now
        self._asked.move_to_end(name)
        while len(self._asked) > _REMEMBERED_NAMES:
            self._asked.popitem(last=False)
        return True

    def wait_for_fresh_look(self, timeout: float = 5.0) -> None:
        """Block (in a worker thread) until a look at the store that began after this call has
        ended; coalesced with other waiters."""
        asked = time.monotonic()
        if self._thread is None:  # no lifespan ran (or it ended): load here
            self.start()
            return
        with self._refreshed:
            self._wake.set()
            self._refreshed.wait_for(lambda: self._last_completed_start >= asked, timeout)
