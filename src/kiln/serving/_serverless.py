"""Serverless endpoints: models unloaded when idle, loaded again by the next request, and a cap on
the requests in flight.

An endpoint with a ``"serverless"`` configuration section (``kiln deploy --serverless``) starts
cold: the server holds its request schema, not its model. The first request loads the models in a
thread (concurrent first requests wait for that one load), and every request that waited says how
long in the ``x-kiln-cold-start-ms`` header; the load is counted in the
``kiln_serverless_cold_start_seconds`` histogram and recorded as a ``cold-start`` scaling event.
After ``idle_timeout_seconds`` with no request in flight the models are unloaded (every reference
dropped, then a garbage collection) and an ``unload`` event recorded. More than ``max_concurrency``
requests in flight for the endpoint in this server process are answered 429 with Retry-After.

Counts and times live on the event loop (one process's view): the ASGI gate below and the idle
sweep run there, so they need no locks; loads, unloads and store writes run in threads.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import Callable

import anyio
from prometheus_client import CollectorRegistry
from prometheus_client import Counter as PromCounter
from prometheus_client import Histogram as PromHistogram

from kiln.endpoints import record_scaling_event
from kiln.errors import KilnError
from kiln.serving._cache import EndpointCache, LoadedEndpoint
from kiln.serving._guard import send_json
from kiln.serving._validation import cut

log = logging.getLogger("kiln.serving")

COLD_START_HEADER = "x-kiln-cold-start-ms"
# The idle sweep runs this often, or four times per shortest idle timeout when that is shorter.
SWEEP_SECONDS = 1.0
MIN_SWEEP_SECONDS = 0.02
COLD_START_BUCKETS = (0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0)
_PREFIX = "/endpoints/"
_SUFFIX = "/invocations"


class Serverless:
    """The serverless endpoints of one server process: in-flight counts, idle times, loads."""

    def __init__(
        self,
        cache: EndpointCache,
        *,
        registry: CollectorRegistry,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.cache = cache
        self.clock = clock  # tests pass one they can advance
        self.in_flight: dict[str, int] = {}
        self.last_active: dict[str, float] = {}
        self._loads: dict[str, asyncio.Task] = {}
        self._background: set[asyncio.Task] = set()
        self._sweeper: asyncio.Task | None = None
        self.cold_starts = PromHistogram(
            "kiln_serverless_cold_start_seconds",
            "Time a serverless endpoint took to load its models for a request.",
            ["endpoint"],
            buckets=COLD_START_BUCKETS,
            registry=registry,
        )
        self.throttled = PromCounter(
            "kiln_serverless_throttled",
            "Requests refused (429) because a serverless endpoint had max_concurrency in flight.",
            ["endpoint"],
            registry=registry,
        )
        self.unloads = PromCounter(
            "kiln_serverless_unloads",
            "Serverless endpoints' models unloaded after their idle timeout.",
            ["endpoint"],
            registry=registry,
        )

    # -- the request path (event loop) ------------------------------------------------------
    def state(self, loaded: LoadedEndpoint) -> dict:
        """What ``GET /endpoints/{name}`` adds for a serverless endpoint (nothing otherwise)."""
        config = loaded.config.get("serverless")
        if config is None:
            return {}
        name = loaded.name
        idle = self.clock() - self.last_active.get(name, self.clock())
        return {
            "serverless": {
                **config,
                "state": "cold" if loaded.cold else "warm",
                "in_flight": self.in_flight.get(name, 0),
                "idle_seconds": max(0.0, round(idle, 3)) if not self.in_flight.get(name) else 0.0,
            }
        }

    async def cold_start(self, name: str) -> float:
        """Wait for the endpoint's models to load (one load shared by every waiter); the
        seconds this caller waited."""
        started = time.perf_counter()
        task = self._loads.get(name)
        if task is None:
            task = self._loads[name] = asyncio.ensure_future(self._load(name))
            task.add_done_callback(lambda _t: self._loads.pop(name, None))
        await asyncio.shield(task)
        return time.perf_counter() - started

    async def _load(self, name: str) -> None:
        started = time.perf_counter()
        if not await anyio.to_thread.run_sync(self.cache.warm, name):
            return  # warmed already, or the endpoint changed: nothing was loaded here
        seconds = time.perf_counter() - started
        self.cold_starts.labels(name).observe(seconds)
        self.last_active[name] = self.clock()
        log.info("Serverless endpoint %s loaded in %.0f ms (cold start)", name, seconds * 1000)
        self._in_background(
            name,
            "cold-start",
            before=0,
            after=1,
            metric="cold_start_seconds",
            value=seconds,
            reason=f"a request arrived while cold; its models loaded in {seconds * 1000:.0f} ms",
        )

    def _in_background(self, name: str, action: str, **event) -> None:
        """Record a scaling event off the request path (a store write is not the client's wait)."""

        def write() -> None:
            try:
                record_scaling_event(self.cache.workspace.store, name, action, **event)
            except Exception:  # noqa: BLE001 - the store is down: the log has it
                log.warning("Could not record the %s of endpoint %s", action, name, exc_info=True)

        task = asyncio.ensure_future(anyio.to_thread.run_sync(write))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # -- the idle sweep (event loop) ----------------------------------------------------------
    def start(self) -> None:
        if self._sweeper is None:
            self._sweeper = asyncio.ensure_future(self._sweep_forever())

    async def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)

    async def _sweep_forever(self) -> None:
        while True:
            timeouts = [
                e.config["serverless"]["idle_timeout_seconds"]
                for e in self.cache.loaded.values()
                if "serverless" in e.config
            ]
            await asyncio.sleep(max(MIN_SWEEP_SECONDS, min([SWEEP_SECONDS, *timeouts]) / 4))
            try:
                await self.sweep()
            except Exception:  # noqa: BLE001 - the sweep must outlive one bad pass
                log.exception("The serverless idle sweep failed; trying again")

    async def sweep(self) -> list[str]:
        """Unload every warm serverless endpoint idle for its timeout; their names."""
        unloaded = []
        now = self.clock()
        for name, loaded in list(self.cache.loaded.items()):
            config = loaded.config.get("serverless")
            if config is None or loaded.cold or self.in_flight.get(name):
                continue
            idle = now - self.last_active.setdefault(name, now)
            if idle < config["idle_timeout_seconds"]:
                continue
            if await anyio.to_thread.run_sync(_unload, self.cache, name):
                unloaded.append(name)
                self.unloads.labels(name).inc()
                log.info("Serverless endpoint %s unloaded after %.0f s idle", name, idle)
                self._in_background(
                    name,
                    "unload",
                    before=1,
                    after=0,
                    metric="idle_seconds",
                    value=idle,
                    reason=f"no request for {idle:.1f} s (idle timeout "
                    f"{config['idle_timeout_seconds']:g} s); models unloaded",
                )
        return unloaded


async def _load_failed(send, name: str, exc: Exception) -> None:
    reason = exc.message if isinstance(exc, KilnError) else f"{type(exc).__name__}: {exc}"
    log.error("Serverless endpoint %s could not load its models: %s", name, reason)
    await send_json(
        send,
        503,
        {
            "error": "serverless.load-failed",
            "detail": f"Serverless endpoint {name!r} could not load its models: "
            f"{cut(reason, 300)}. Redeploy a working model with 'kiln deploy GROUP:VERSION "
            f"--endpoint {name}'.",
        },
        headers=[(b"retry-after", b"5")],
    )


def _unload(cache: EndpointCache, name: str) -> bool:
    """Unload, then collect: the models' memory goes back once nothing refers to them."""
    if not cache.unload(name):
        return False
    gc.collect()
    _return_freed_memory()
    return True


def _return_freed_memory() -> None:
    """Hand the heap's free pages back to the system. glibc keeps what Python and the model's
    C++ code freed for later allocations, so without this the process's RSS would not fall."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc (macOS, musl): the allocator decides
        pass


class ServerlessGate:
    """ASGI middleware in front of ``POST /endpoints/{name}/invocations`` of serverless
    endpoints: refuse over max concurrency (429), load a cold endpoint, count in-flight requests,
    and add the cold-start header. Other requests pass straight through."""

    def __init__(self, app, serverless: Serverless) -> None:
        self.app = app
        self.serverless = serverless

    async def __call__(self, scope, receive, send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if not (path.startswith(_PREFIX) and path.endswith(_SUFFIX)):
            await self.app(scope, receive, send)
            return
        name = path[len(_PREFIX) : -len(_SUFFIX)]
        loaded = self.serverless.cache.loaded.get(name)
        config = loaded.config.get("serverless") if loaded is not None else None
        if config is None or scope.get("method") != "POST":
            await self.app(scope, receive, send)
            return
        serverless = self.serverless
        in_flight = serverless.in_flight.get(name, 0)
        if in_flight >= config["max_concurrency"]:
            await self._refuse(scope, send, loaded, config["max_concurrency"])
            return
        serverless.in_flight[name] = in_flight + 1
        try:
            waited = None
            if loaded.cold:
                try:
                    waited = await serverless.cold_start(name)
                except Exception as exc:  # noqa: BLE001 - the client gets why, as a 503
                    await _load_failed(send, name, exc)
                    return
            serverless.last_active[name] = serverless.clock()
            if waited is None:
                await self.app(scope, receive, send)
                return
            header = (COLD_START_HEADER.encode(), f"{waited * 1000:.0f}".encode())

            async def send_with_header(message) -> None:
                if message["type"] == "http.response.start":
                    message = {**message, "headers": [*message.get("headers", []), header]}
                await send(message)

            await self.app(scope, receive, send_with_header)
        finally:
            serverless.in_flight[name] -= 1
            serverless.last_active[name] = serverless.clock()

    async def _refuse(self, scope, send, loaded: LoadedEndpoint, limit: int) -> None:
        state = scope.setdefault("state", {})  # the access log and metrics name the endpoint
        main = loaded.main
        state.update(endpoint=loaded.name, variant=main.name, model=main.model_ref)
        self.serverless.throttled.labels(loaded.name).inc()
        await send_json(
            send,
            429,
            {
                "error": "serverless.too-many-requests",
                "detail": f"Serverless endpoint {loaded.name!r} has its maximum of {limit} "
                "requests in flight in this server. Retry after a second, or raise it with "
                f"'kiln endpoints serverless {loaded.name} --max-concurrency N'.",
            },
            headers=[(b"retry-after", b"1")],
        )
