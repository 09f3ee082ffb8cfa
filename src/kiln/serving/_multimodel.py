"""Multi-model endpoints in the server: each request names a registered model version; the
server loads it on first use, off the event loop, and evicts the least recently used models when
their estimated memory passes the endpoint's budget (docs/multi-model.md).

Requests never wait on the metadata store for a model in use: what a name resolves to (and
whether that version may be served) is remembered for ``RESOLVE_SECONDS``, so an approval
withdrawn in the registry stops serving within about a second, as a redeployment would.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass

import anyio
from prometheus_client import Counter, Gauge

from kiln.compiler import serving_digest
from kiln.context import Context
from kiln.endpoints import MULTI_MODEL, estimated_memory
from kiln.errors import KilnError, NotFound, RequestError, StateError
from kiln.refs import parse_model_ref
from kiln.registry import ModelVersion
from kiln.serving._cache import EndpointCache, LoadedEndpoint, LoadedVariant, _compiled_digest
from kiln.serving._validation import cut

log = logging.getLogger("kiln.serving")

# How long a resolved model name (and its approval) is trusted before the registry is read again.
RESOLVE_SECONDS = 1.0
# Resolved names remembered at once; a client sending random names costs one store read each.
_REMEMBERED_NAMES = 10_000
HOW_TO_NAME = (
    "Name the model with the header x-kiln-target-model: GROUP:VERSION (or GROUP@ALIAS), or "
    "POST to /endpoints/{endpoint}/models/GROUP/VERSION/invocations (VERSION may be an alias)."
)


class ModelTooLarge(StateError):
    """A model whose estimated memory is more than the endpoint's whole budget (HTTP 507, as
    SageMaker answers a multi-model endpoint out of memory)."""

    http_status = 507


@dataclass
class _Held:
    variant: LoadedVariant  # the model as a variant named by its ref: what invoke routes to
    estimated_bytes: int
    last_used: float  # time.time()


class ModelPool:
    """One multi-model endpoint's loaded models, least recently used first."""

    def __init__(self, endpoint: str):
        self.endpoint = endpoint
        self.held: OrderedDict[str, _Held] = OrderedDict()
        self.budget: int | None = None  # as last applied

    @property
    def loaded_bytes(self) -> int:
        return sum(h.estimated_bytes for h in self.held.values())

    def overflow(self, budget: int, keep: str | None = None) -> list[str]:
        """Evict least recently used models until the rest fit ``budget`` (never ``keep``, the
        model a request is waiting for); the refs evicted, oldest first."""
        evicted, total = [], self.loaded_bytes
        for ref in list(self.held):
            if total <= budget:
                break
            if ref == keep:
                continue
            total -= self.held.pop(ref).estimated_bytes
            evicted.append(ref)
        return evicted


class MultiModels:
    """The models of every multi-model endpoint a server serves, and their metrics.

    Only the event loop reads and changes the pools (no lock): loads run in worker threads, and
    concurrent first requests for one model await the same load.
    """

    def __init__(self, workspace: Context, cache: EndpointCache, *, registry):
        self.workspace = workspace
        self.resolve_seconds = RESOLVE_SECONDS
        self.cache = cache
        self.pools: dict[str, ModelPool] = {}
        self._resolved: OrderedDict[str, tuple[float, ModelVersion | KilnError]] = OrderedDict()
        self._tasks: dict[tuple, asyncio.Task] = {}
        self._estimates: dict[str, int] = {}  # by digest: a model file never changes
        labels = ("endpoint", "model")
        self.loads = Counter(
            "kiln_multimodel_loads", "Models loaded on a request.", labels, registry=registry
        )
        self.evictions = Counter(
            "kiln_multimodel_evictions",
            "Models unloaded to keep within the memory budget.",
            labels,
            registry=registry,
        )
        self.hits = Counter(
            "kiln_multimodel_hits",
            "Requests answered by a model that was already loaded.",
            labels,
            registry=registry,
        )
        self.loaded_bytes = Gauge(
            "kiln_multimodel_loaded_bytes",
            "Estimated memory of the loaded models.",
            ["endpoint"],
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.loaded_models = Gauge(
            "kiln_multimodel_loaded_models",
            "Models loaded.",
            ["endpoint"],
            registry=registry,
            multiprocess_mode="livesum",
        )

    @staticmethod
    def serves(loaded: LoadedEndpoint) -> bool:
        """Whether ``loaded`` is a multi-model endpoint."""
        return MULTI_MODEL in loaded.config

    async def variant_for(self, loaded: LoadedEndpoint, target: str | None) -> LoadedVariant:
        """The model ``target`` names, loaded, as the variant that answers the request."""
        if not self.serves(loaded):
            raise _bad_request(
                f"Endpoint {loaded.name!r} serves its own variants, not a model a request names "
                f"({cut(str(target), 100)!r}). Leave out the x-kiln-target-model header and "
                f"POST to /endpoints/{loaded.name}/invocations.",
                code="multimodel.not-multi-model",
            )
        settings = loaded.config[MULTI_MODEL]
        version = await self._resolve(loaded.name, target)
        pool = self._pool(loaded.name)
        groups = settings.get("groups")
        try:
            if groups and version.group not in groups:
                raise NotFound(
                    f"Endpoint {loaded.name!r} does not serve model {version.ref}: it serves "
                    f"the groups {', '.join(groups)}.",
                    code="multimodel.group-not-served",
                    field="x-kiln-target-model",
                )
            try:
                self.workspace.models.check_deployable(
                    version, allow_unapproved=bool(settings.get("allow_unapproved"))
                )
            except StateError as exc:
                raise StateError(
                    f"Endpoint {loaded.name!r} does not serve model {version.ref}: {exc.message}",
                    code="multimodel.not-deployable",
                    field="x-kiln-target-model",
                ) from None
        except KilnError:
            self._unload(pool, version.ref)  # withdrawn since it was loaded
            raise
        budget = int(settings["memory_budget"])
        if budget != pool.budget:  # a new endpoint, or its budget changed: evict to fit
            pool.budget = budget
            self._evict(pool, pool.overflow(budget))
        held = pool.held.get(version.ref)
        if held is not None and _compiled_digest(held.variant.loaded) != serving_digest(version):
            self._unload(pool, version.ref)  # compiled (or its form changed) since it was loaded
            held = None
        if held is not None:
            pool.held.move_to_end(version.ref)
            held.last_used = time.time()
            self.hits.labels(loaded.name, version.ref).inc()
            return held.variant
        key = ("load", loaded.name, version.ref)
        return (await self._shared(key, lambda: self._load(pool, version, budget))).variant

    async def _load(self, pool: ModelPool, version: ModelVersion, budget: int) -> _Held:
        size = self._estimates.get(version.digest)
        if size is None:
            size = await anyio.to_thread.run_sync(estimated_memory, self.workspace, version)
            self._estimates[version.digest] = size
        if size > budget:
            raise ModelTooLarge(
                f"Model {version.ref} needs about {size} bytes loaded, more than the whole "
                f"memory budget of endpoint {pool.endpoint!r} ({budget} bytes). Raise it with "
                f"'kiln deploy --endpoint {pool.endpoint} --multi-model --memory-budget ...', "
                "or serve the model from an endpoint of its own.",
                code="multimodel.model-too-large",
                field="x-kiln-target-model",
            )
        self._forget_gone()
        started = time.perf_counter()
        model = await anyio.to_thread.run_sync(self.cache.load_model_now, version.ref)
        held = _Held(LoadedVariant(version.ref, "live", 1.0, 0.0, model), size, time.time())
        pool.held[version.ref] = held
        self.loads.labels(pool.endpoint, version.ref).inc()
        self._evict(pool, pool.overflow(budget, keep=version.ref))
        log.info(
            "Endpoint %s loaded %s in %.0f ms (about %d bytes; %d models loaded)",
            pool.endpoint,
            version.ref,
            (time.perf_counter() - started) * 1000,
            size,
            len(pool.held),
        )
        return held

    async def _resolve(self, endpoint: str, target: str | None) -> ModelVersion:
        """The version ``target`` names, from memory when resolved within RESOLVE_SECONDS."""
        ref = registry_ref(endpoint, target)
        remembered = self._resolved.get(ref)
        if remembered is None or time.monotonic() - remembered[0] > self.resolve_seconds:
            remembered = await self._shared(("resolve", ref), lambda: self._look_up(ref))
        result = remembered[1]
        if isinstance(result, KilnError):
            raise result
        return result

    async def _look_up(self, ref: str) -> tuple[float, ModelVersion | KilnError]:
        def read() -> ModelVersion | KilnError:
            try:
                return self.workspace.models.get(ref)
            except KilnError as exc:  # remembered too: a missing model costs one read a second
                exc.field = "x-kiln-target-model"
                return exc

        result = (time.monotonic(), await anyio.to_thread.run_sync(read))
        self._resolved[ref] = result
        self._resolved.move_to_end(ref)
        while len(self._resolved) > _REMEMBERED_NAMES:
            self._resolved.popitem(last=False)
        return result

    async def _shared(self, key: tuple, start):
        """Await the task ``key`` names, starting it with ``start()`` if none runs: concurrent
        requests share one load. Shielded, so a client that hangs up does not cancel it."""
        task = self._tasks.get(key)
        if task is None:
            task = self._tasks[key] = asyncio.ensure_future(start())
            task.add_done_callback(lambda _: self._tasks.pop(key, None))
        return await asyncio.shield(task)

    def _pool(self, endpoint: str) -> ModelPool:
        pool = self.pools.get(endpoint)
        if pool is None:
            self._forget_gone()
            pool = self.pools[endpoint] = ModelPool(endpoint)
        return pool

    def _forget_gone(self) -> None:
        """Unload the models of endpoints deleted, or no longer multi-model, since they loaded
        (checked at each load: a deleted endpoint gets no requests to notice it by)."""
        served = self.cache.loaded
        for name in list(self.pools):
            if name not in served or not self.serves(served[name]):
                gone = self.pools.pop(name)
                self._unload(gone, *list(gone.held))

    def _evict(self, pool: ModelPool, refs: list[str]) -> None:
        for ref in refs:
            self.evictions.labels(pool.endpoint, ref).inc()
            log.info("Endpoint %s evicted %s (least recently used)", pool.endpoint, ref)
        self._gauges(pool)

    def _unload(self, pool: ModelPool, *refs: str) -> None:
        for ref in refs:
            if pool.held.pop(ref, None) is not None:
                self._gauges(pool)

    def _gauges(self, pool: ModelPool) -> None:
        self.loaded_bytes.labels(pool.endpoint).set(pool.loaded_bytes)
        self.loaded_models.labels(pool.endpoint).set(len(pool.held))

    def describe(self, loaded: LoadedEndpoint) -> dict:
        """``GET /endpoints/{name}`` of a multi-model endpoint: its settings and the models it
        holds, most recently used first."""
        pool = self.pools.get(loaded.name) or ModelPool(loaded.name)
        now = time.time()
        return {
            "name": loaded.name,
            "revision": loaded.revision,
            "multi_model": loaded.config[MULTI_MODEL],
            "loaded_bytes": pool.loaded_bytes,
            "loaded_models": [
                {
                    "model": ref,
                    "estimated_bytes": held.estimated_bytes,
                    "idle_seconds": round(now - held.last_used, 3),
                }
                for ref, held in reversed(pool.held.items())
            ],
            "invoke": HOW_TO_NAME.format(endpoint=loaded.name),
        }


def registry_ref(endpoint: str, target: str | None) -> str:
    """The registry's name of what a request asks for: ``churn:3``, ``churn@prod``; the
    ``churn:prod`` of the header (and the path form's alias) read as the alias ``churn@prod``."""
    text = (target or "").strip()
    if not text:
        raise _bad_request(
            f"Endpoint {endpoint!r} is a multi-model endpoint: say which model answers. "
            + HOW_TO_NAME.format(endpoint=endpoint),
            code="multimodel.no-target-model",
        )
    group, sep, after = text.partition(":")
    if sep and after and not after.isdigit():
        text = f"{group}@{after}"
    try:
        parse_model_ref(text)
    except KilnError:
        raise _bad_request(
            f"Cannot read the target model {cut(target or '', 100)!r}. "
            + HOW_TO_NAME.format(endpoint=endpoint),
            code="multimodel.bad-target-model",
        ) from None
    return text


def _bad_request(message: str, *, code: str) -> RequestError:
    """A request that names its model wrongly: HTTP 400 (a RequestError is 422, for rows)."""
    error = RequestError(message, code=code, field="x-kiln-target-model")
    error.http_status = 400
    return error
