"""The models behind each endpoint, kept loaded by a background thread.

Requests never touch the metadata store or the artifact store: they read what the loader thread
last published. The thread polls endpoint revisions once a second, loads what changed, and retries
an endpoint whose model failed to load with an exponential backoff, so a broken artifact costs one
re-read every minute at most, never one per request.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import threading
import time
from collections import OrderedDict, deque
from dataclasses import dataclass
from typing import Any

from prometheus_client import Counter

from kiln.compiler import CompiledModel, load_compiled, serving_digest
from kiln.context import Context
from kiln.errors import KilnError, NotFound, RequestError
from kiln.recipe import RowEncoder, probe_rows
from kiln.registry import TrainedModel
from kiln.serving._forecast import ForecastSchema, request_schema
from kiln.serving._validation import RequestSchema, cut

log = logging.getLogger("kiln.serving")

REFRESH_SECONDS = 1.0
# An unknown endpoint name gets one fresh look at the store (a deployment made a moment ago is
# served at once); asked again within REFRESH_SECONDS, it is answered from memory (the poll covers
# it). Fresh looks are capped per second, so a client trying random names costs a few cheap
# revision reads in the loader thread, never a load and never the event loop.
FRESH_LOOKS_PER_SECOND = 20
# At most this many requests wait for a fresh look at once (each holds a worker thread); more are
# answered from memory.
MAX_FRESH_LOOK_WAITERS = 4
_REMEMBERED_NAMES = 1000
RETRY_FIRST_SECONDS = 1.0
RETRY_MAX_SECONDS = 60.0


@dataclass
class LoadedModel:
    """A model version as the server holds it, shared by the variants that serve it."""

    ref: str
    model: TrainedModel
    schema: RequestSchema | ForecastSchema
    fast: RowEncoder | None = None  # the compiled recipe, when it reproduces the pipeline
    # The version's compiled form (kiln compile), used before ``fast`` when present.
    compiled: CompiledModel | None = None
    fallbacks: Counter | None = None  # kiln_compiled_fallbacks_total, when served by an app


def _compiled_digest(loaded: LoadedModel) -> str | None:
    return loaded.compiled.digest if loaded.compiled is not None else None


class _Unloaded:
    """In place of the model of a cold serverless endpoint (unloaded after its idle timeout):
    any use is a clear 503, never an AttributeError. Requests load it again first
    (``EndpointCache.warm``); code that scores without a request should do the same."""

    def __getattr__(self, name: str):
        if name.startswith("__"):  # copy, pickle and friends probe for these
            raise AttributeError(name)
        raise EndpointUnavailable(
            "This serverless endpoint's model is unloaded (cold); it loads on the next "
            "request. Retry.",
            code="serverless.cold",
            retry_after=1,
        )


UNLOADED: Any = _Unloaded()


@dataclass
class LoadedVariant:
    name: str
    role: str  # live | shadow
    weight: float  # live: share of traffic before normalising; shadow: 0
    sample: float  # shadow: share of live requests copied to it; live: 0
    loaded: LoadedModel

    @property
    def model_ref(self) -> str:
        return self.loaded.ref


@dataclass
class LoadedEndpoint:
    """An endpoint's variants at one revision, ready to route to."""

    name: str
    revision: int
    live: list[LoadedVariant]
    shadow: LoadedVariant | None = None
    capture: dict = dataclasses.field(default_factory=dict)
    config: dict = dataclasses.field(default_factory=dict)  # a copy of Endpoint.config
    # Cumulative traffic shares of ``live``, ending at 1.0, for routing by a number in [0, 1).
    bounds: list[float] = dataclasses.field(default_factory=list)

    def __post_init__(self) -> None:
        total = sum(v.weight for v in self.live) or 1.0
        running, self.bounds = 0.0, []
        for variant in self.live:
            running += variant.weight / total
            self.bounds.append(running)
        if self.bounds:
            self.bounds[-1] = 1.0

    @property
    def main(self) -> LoadedVariant:
        """The live variant with the most traffic: what ``GET /endpoints/{name}`` describes."""
        return max(self.live, key=lambda v: v.weight)

    def route(self, position: float) -> LoadedVariant:
        """The live variant for a number in [0, 1): each gets its share of the interval."""
        for variant, bound in zip(self.live, self.bounds, strict=True):
            if position < bound and variant.weight > 0:
                return variant
        return next(v for v in reversed(self.live) if v.weight > 0)

    @property
    def cold(self) -> bool:
        """Whether its models are unloaded (a serverless endpoint, idle)."""
        return self.main.loaded.model is UNLOADED

    def variant(self, name: str) -> LoadedVariant | None:
        return next((v for v in self.live if v.name == name), None)

    # The main variant's model, for callers that serve one model.
    @property
    def model_ref(self) -> str:
        return self.main.loaded.ref

    @property
    def model(self) -> TrainedModel:
        return self.main.loaded.model

    @property
    def schema(self) -> RequestSchema | ForecastSchema:
        return self.main.loaded.schema


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
    """An endpoint that exists but whose model is loading or failed to load (HTTP 503)."""

    http_status = 503

    def __init__(self, message: str, *, code: str, retry_after: float, field: str | None = None):
        super().__init__(message, code=code, field=field)
        self.retry_after = max(1, math.ceil(retry_after))


class EndpointCache:
    """What each endpoint serves; published by one loader thread, read lock-free by requests."""

    def __init__(self, workspace: Context, *, refresh_seconds: float = REFRESH_SECONDS):
        self.workspace = workspace
        self.refresh_seconds = refresh_seconds
        # (loaded, failed), replaced whole (never mutated) by the loader thread: a request reads
        # one consistent snapshot with no lock.
        self._snapshot: tuple[dict[str, LoadedEndpoint], dict[str, FailedEndpoint]] = ({}, {})
        self.last_store_error: str | None = None
        self.loading: frozenset[str] = frozenset()
        self._wake = threading.Event()
        self._stop = threading.Event()  # one per started thread
        self._refreshed = threading.Condition()
        self._last_refresh_started = float("-inf")
        self._last_completed_start = float("-inf")
        self._thread: threading.Thread | None = None
        self._asked: OrderedDict[str, float] = OrderedDict()  # unknown names, when looked up
        self._looks: deque[float] = deque()
        self.waiting = 0  # requests waiting for a fresh look (counted on the event loop)
        self._start_lock = threading.Lock()
        # Held while the snapshot is rebuilt: by a refresh, and by a serverless endpoint's unload
        # or cold start, so none of them publishes over another's change.
        self._changing = threading.RLock()
        self.fallbacks: Counter | None = None  # set by create_app: kiln_compiled_fallbacks_total

    @property
    def loaded(self) -> dict[str, LoadedEndpoint]:
        return self._snapshot[0]

    @property
    def failed(self) -> dict[str, FailedEndpoint]:
        return self._snapshot[1]

    def snapshot(self) -> tuple[dict[str, LoadedEndpoint], dict[str, FailedEndpoint]]:
        """``(loaded, failed)`` as one consistent pair."""
        return self._snapshot

    # -- the loader thread ------------------------------------------------------------------------
    def start(self) -> None:
        """Load every endpoint once, then keep watching in a daemon thread (idempotent)."""
        with self._start_lock:
            if self._thread is not None:
                return
            self._refresh_logged()
            self._stop = stop = threading.Event()
            self._thread = threading.Thread(
                target=self._run, args=(stop,), name="kiln-endpoint-loader", daemon=True
            )
            self._thread.start()

    def stop(self) -> None:
        """End the loader thread (a later ``start`` begins again: an app's lifespan may run
        more than once). A thread still busy loading ends after its load, on its own event."""
        with self._start_lock:
            if self._thread is None:
                return
            self._stop.set()
            self._wake.set()
            self._thread.join(timeout=10)
            self._thread = None

    def _run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            self._wake.wait(self.refresh_seconds)
            self._wake.clear()
            if stop.is_set():
                return
            self._refresh_logged()

    def _refresh_logged(self) -> None:
        try:
            self.refresh()
        except Exception as exc:  # the store is down, say: keep serving what is loaded
            message = f"{type(exc).__name__}: {cut(str(exc), 300)}"
            if message != self.last_store_error:  # once per distinct error, not every second
                log.exception("Could not check the workspace for endpoint changes")
            self.last_store_error = message
        else:
            self.last_store_error = None

    def stale_seconds(self) -> float:
        """How long ago the last completed look at the store began."""
        return time.monotonic() - self._last_completed_start

    def refresh(self) -> None:
        """Load what changed since the last look; drop deleted endpoints."""
        with self._changing:  # a serverless endpoint's cold start or unload waits for it
            self._refresh()

    def _refresh(self) -> None:
        started = self._last_refresh_started = time.monotonic()
        try:
            # A guarded deployment whose job died is rolled back here too, so an endpoint is
            # never left half-deployed while a server runs.
            self.workspace.endpoints.reconcile()
            revisions = self.workspace.endpoints.revisions()
            current_loaded, current_failed = self._snapshot
            loaded = {n: e for n, e in current_loaded.items() if n in revisions}
            failed = {n: f for n, f in current_failed.items() if n in revisions}
            # New endpoints about to load: answered "loading" (503), not "unknown" (404).
            self.loading = frozenset(n for n in revisions if n not in loaded and n not in failed)
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
                self._snapshot = (dict(loaded), dict(failed))  # each load shows at once
                self.loading = self.loading - {name}
            self._snapshot = (loaded, failed)
        finally:
            self.loading = frozenset()
            with self._refreshed:
                self._last_completed_start = started
                self._refreshed.notify_all()

    def _failure(self, name: str, revision: int, exc: Exception, attempts: int) -> FailedEndpoint:
        if isinstance(exc, KilnError):
            reason = cut(exc.message, 500)
        else:
            reason = f"{type(exc).__name__}: {cut(str(exc), 300)}"
            log.exception("Endpoint %s (revision %s) could not be loaded", name, revision)
        delay = min(RETRY_MAX_SECONDS, RETRY_FIRST_SECONDS * 2 ** min(attempts - 1, 16))
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
        """The endpoint's current revision, every variant loaded; models the current revision
        already holds are reused, so a change of weights loads nothing."""
        endpoint = self.workspace.endpoints.get(name)
        # A serverless endpoint starts cold and stays cold across revisions until a request.
        cold = "serverless" in endpoint.config and (current is None or current.cold)
        held: dict[str, LoadedModel] = {}
        if current is not None:
            for variant in [*current.live, *([current.shadow] if current.shadow else [])]:
                if cold or variant.loaded.model is not UNLOADED:
                    held[variant.model_ref] = variant.loaded
        live, shadow = [], None
        for spec in endpoint.variants:
            loaded = held.get(spec["model"])
            if loaded is not None and _compiled_digest(loaded) != serving_digest(
                self.workspace.models.get(spec["model"])
            ):
                loaded = None  # compiled (or its form changed) since it was loaded: load again
            if loaded is None and cold:
                loaded = held[spec["model"]] = self._unloaded_model(spec["model"])
            elif loaded is None:
                loaded = held[spec["model"]] = self._load_model(spec["model"])
                log.info(
                    "Endpoint %s variant %s loaded %s (revision %s%s)",
                    name,
                    spec["name"],
                    loaded.ref,
                    endpoint.revision,
                    f", compiled ({loaded.compiled.target})"
                    if loaded.compiled
                    else (", compiled recipe" if loaded.fast else ""),
                )
            role = spec.get("role", "live")
            variant = LoadedVariant(
                spec["name"],
                role,
                float(spec.get("weight", 0.0)) if role == "live" else 0.0,
                float(spec.get("sample", 1.0)) if role == "shadow" else 0.0,
                loaded,
            )
            if role == "shadow":
                shadow = variant
            else:
                live.append(variant)
        return LoadedEndpoint(
            name,
            endpoint.revision,
            live,
            shadow,
            capture=dict(endpoint.capture or {}),
            config=dict(endpoint.config or {}),
        )

    def load_model_now(self, ref: str) -> LoadedModel:
        """Model version ``ref`` loaded in the calling thread (a worker thread, never the event
        loop), for a model a request names rather than an endpoint's revision."""
        return self._load_model(ref)

    def _unloaded_model(self, ref: str) -> LoadedModel:
        """A model version as a cold serverless endpoint holds it: its request schema only."""
        version = self.workspace.models.get(ref)
        return LoadedModel(version.ref, UNLOADED, request_schema(version.signature))

    # -- serverless endpoints: unloaded when idle, loaded again by a request ----------------------
    def unload(self, name: str) -> bool:
        """Drop every reference the cache holds to the endpoint's models (the caller collects
        the garbage); False when it is not loaded or already cold."""
        with self._changing:
            loaded, failed = self._snapshot
            current = loaded.get(name)
            if current is None or current.cold:
                return False
            stubs: dict[str, LoadedModel] = {}

            def unloaded(variant: LoadedVariant) -> LoadedVariant:
                model = variant.loaded
                stub = stubs.setdefault(model.ref, LoadedModel(model.ref, UNLOADED, model.schema))
                return dataclasses.replace(variant, loaded=stub)

            cold = dataclasses.replace(
                current,
                live=[unloaded(v) for v in current.live],
                shadow=unloaded(current.shadow) if current.shadow else None,
            )
            self._snapshot = ({**loaded, name: cold}, failed)
            return True

    def warm(self, name: str) -> bool:
        """Load a cold endpoint's models again (in the calling thread); False when it was not
        cold (another caller warmed it, or it changed meanwhile)."""
        with self._changing:
            loaded, failed = self._snapshot
            current = loaded.get(name)
            if current is None or not current.cold:
                return False
            models: dict[str, LoadedModel] = {}

            def warmed(variant: LoadedVariant) -> LoadedVariant:
                ref = variant.model_ref
                if ref not in models:
                    models[ref] = self._load_model(ref)
                return dataclasses.replace(variant, loaded=models[ref])

            warm = dataclasses.replace(
                current,
                live=[warmed(v) for v in current.live],
                shadow=warmed(current.shadow) if current.shadow else None,
            )
            self._snapshot = ({**self._snapshot[0], name: warm}, self._snapshot[1])
            return True

    def _load_model(self, ref: str) -> LoadedModel:
        version = self.workspace.models.get(ref)
        model = self.workspace.models.load(version)
        model.set_threads(1)
        fast = None
        if model.problem_type in ("binary", "multiclass", "regression"):
            preprocessor = model.pipeline[0]
            fast = RowEncoder.compile(preprocessor, probe_rows(version.signature, preprocessor))
        compiled = load_compiled(self.workspace, version)
        if compiled is not None:
            compiled.set_threads(1)
        return LoadedModel(
            version.ref, model, request_schema(version.signature), fast, compiled, self.fallbacks
        )

    # -- reading, from requests ---------------------------------------------------------------
    def lookup(self, name: str) -> LoadedEndpoint:
        """The endpoint as last loaded; raises for a failed or unknown one. Never blocks."""
        all_loaded, all_failed = self._snapshot
        loaded = all_loaded.get(name)
        if loaded is not None:
            return loaded
        if name in self.loading:
            raise EndpointUnavailable(
                f"Endpoint {cut(name, 100)!r} was just deployed and its model is loading. "
                "Retry in a few seconds.",
                code="serving.endpoint-loading",
                retry_after=2,
                field="name",
            )
        failed = all_failed.get(name)
        if failed is not None:
            raise EndpointUnavailable(
                f"Endpoint {name!r} is not serving: its model {failed.model_ref} could not be "
                f"loaded ({failed.reason}). The server retries in "
                f"{failed.to_dict()['retry_in_seconds']} s; redeploy a working model with "
                f"'kiln deploy GROUP:VERSION --endpoint {name}'.",
                code="serving.endpoint-failed",
                retry_after=failed.retry_at - time.monotonic(),
                field="name",
            )
        shown = cut(name, 100)
        raise NotFound(
            f"No endpoint named {shown!r} is being served. Served endpoints: "
            f"{', '.join(sorted(all_loaded)) or 'none'}. Deploy with "
            f"'kiln deploy GROUP:VERSION --endpoint {shown}'.",
            code="serving.unknown-endpoint",
            field="name",
        )

    def deserves_fresh_look(self, name: str) -> bool:
        """Whether an unknown ``name`` is worth a look at the store (called on the event loop)."""
        if self.waiting >= MAX_FRESH_LOOK_WAITERS:
            return False
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

    def wait_for_fresh_look(self, timeout: float = 2.0) -> None:
        """Block (in a worker thread) until a look at the store that began after this call has
        ended; coalesced with other waiters."""
        asked = time.monotonic()
        if self._thread is None:  # no lifespan ran (or it ended): load here
            self.start()
            return
        with self._refreshed:
            self._wake.set()
            self._refreshed.wait_for(lambda: self._last_completed_start >= asked, timeout)
