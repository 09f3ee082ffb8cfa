"""Autoscaling the worker processes of ``kiln serve``.

One ``kiln serve`` answers every endpoint from one pool of worker processes (uvicorn's supervisor
and the shared listening socket), so the endpoints' policies size one pool: each autoscaled
endpoint asks for a number of workers (its ``"autoscale"`` section: min, max, one metric and its
target, cool-downs), and the pool follows the largest ask. It grows when some endpoint's metric has
been above its target for ``SUSTAINED_SAMPLES`` samples in a row and its scale-out cool-down has
passed since the pool last changed, and shrinks by one worker when every autoscaled endpoint has
asked for fewer for as long and its scale-in cool-down has passed. With no autoscaled endpoint the
pool stays at ``--workers``.

An endpoint's ask is target tracking, as in AWS Application Auto Scaling: the workers that would
bring the metric to its target, ``ceil(workers × value / target)``, within [min, max]. The metrics
are read in the supervisor from what the workers already publish: invocations and latency
histograms from their Prometheus multiprocess files, CPU from the processes themselves.

Scaling in never drops a request: the worker taken out stops accepting connections, answers every
request it gets from then on with ``connection: close`` (so clients reconnect to another worker),
closes connections idle for ``IDLE_GRACE_SECONDS`` and exits once it has no connection left.
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import time
from dataclasses import dataclass

import uvicorn
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors.multiprocess import Multiprocess, Process

log = logging.getLogger("kiln.serving")

SAMPLE_SECONDS = 5.0
SUSTAINED_SAMPLES = 3
# A worker being retired waits this long for an idle keep-alive connection's next request (to
# answer it with connection: close) before closing the connection itself.
IDLE_GRACE_SECONDS = 1.0
DRAIN_TIMEOUT_SECONDS = 30.0


# -- the decision: pure functions on metric samples ---------------------------------------------
@dataclass(frozen=True)
class Policy:
    """An endpoint's ``"autoscale"`` section."""

    min_workers: int
    max_workers: int
    metric: str  # invocations_per_worker | cpu_percent | p99_ms
    target: float
    scale_out_cooldown_seconds: float
    scale_in_cooldown_seconds: float

    @classmethod
    def from_config(cls, section: dict) -> Policy:
        return cls(**{name: section[name] for name in cls.__dataclass_fields__})


@dataclass(frozen=True)
class Sample:
    """One endpoint's metric over the period ending ``at`` (seconds), with ``workers`` serving.
    ``value`` is None when the period has nothing to measure (no requests, for a latency)."""

    at: float
    workers: int
    value: float | None


@dataclass(frozen=True)
class Decision:
    """A change of the pool's size, and the endpoint, metric and value that caused it."""

    endpoint: str | None  # None: no endpoint autoscales any more; back to --workers
    action: str  # scale-out | scale-in
    before: int
    after: int
    metric: str | None
    value: float | None
    reason: str


def wanted_workers(
    policy: Policy, samples: list[Sample], *, workers: int, now: float, last_change: float
) -> tuple[int, Sample | None]:
    """The pool size ``policy`` asks for now, and the sample behind the ask (None when the ask
    is the current size or a bound): more only after ``SUSTAINED_SAMPLES`` samples in a row
    asked for more and the scale-out cool-down passed; one fewer after as many asked for fewer
    and the scale-in cool-down passed."""
    if workers < policy.min_workers:
        return policy.min_workers, None
    if workers > policy.max_workers:
        return policy.max_workers, None
    recent = samples[-SUSTAINED_SAMPLES:]
    if len(recent) < SUSTAINED_SAMPLES or any(s.value is None for s in recent):
        return workers, None
    low, high, target = policy.min_workers, policy.max_workers, policy.target
    asks = [
        min(high, max(low, math.ceil(s.workers * s.value / target)))
        for s in recent
        if s.value is not None
    ]
    since = now - last_change
    if min(asks) > workers and since >= policy.scale_out_cooldown_seconds:
        return min(asks), recent[-1]
    if max(asks) < workers and since >= policy.scale_in_cooldown_seconds:
        return workers - 1, recent[-1]
    return workers, None


def decide(
    policies: dict[str, Policy],
    samples: dict[str, list[Sample]],
    *,
    workers: int,
    now: float,
    last_change: float,
    base_workers: int,
) -> Decision | None:
    """The pool's next change, or None: the largest ask of any autoscaled endpoint (see
    :func:`wanted_workers`); ``base_workers`` when no endpoint autoscales."""
    if not policies:
        if workers == base_workers:
            return None
        action = "scale-out" if base_workers > workers else "scale-in"
        return Decision(None, action, workers, base_workers, None, None, "no endpoint autoscales")
    asks = {
        name: wanted_workers(
            policy, samples.get(name, []), workers=workers, now=now, last_change=last_change
        )
        for name, policy in sorted(policies.items())
    }
    cause = max(asks, key=lambda name: asks[name][0])
    after, sample = asks[cause]
    if after == workers:
        return None
    policy = policies[cause]
    action = "scale-out" if after > workers else "scale-in"
    if sample is None:
        bound = "min" if after > workers else "max"
        reason = f"the policy's {bound} is {after} workers"
        return Decision(cause, action, workers, after, f"{bound}_workers", after, reason)
    assert sample.value is not None
    out = action == "scale-out"
    cooldown = policy.scale_out_cooldown_seconds if out else policy.scale_in_cooldown_seconds
    reason = (
        f"{policy.metric} {sample.value:.4g} {'above' if out else 'below'} its target "
        f"{policy.target:g} for {SUSTAINED_SAMPLES} samples (cool-down {cooldown:g} s)"
    )
    return Decision(cause, action, workers, after, policy.metric, sample.value, reason)


# -- the metrics: read in the supervisor from what the workers publish --------------------------
@dataclass
class _Totals:
    invocations: float = 0.0
    # cumulative bucket counts by upper bound, of time in the model and outside it
    model: dict[float, float] | None = None
    overhead: dict[float, float] | None = None


def read_totals(directory: str) -> dict[str, _Totals]:
    """Per endpoint, the invocations and latency histograms every worker (live or gone) wrote to
    the Prometheus multiprocess ``directory``."""
    from prometheus_client.multiprocess import MultiProcessCollector

    totals: dict[str, _Totals] = {}
    for family in MultiProcessCollector(None, path=directory).collect():
        if family.name not in (
            "kiln_invocations",
            "kiln_model_latency_seconds",
            "kiln_overhead_latency_seconds",
        ):
            continue
        for sample in family.samples:
            endpoint = sample.labels.get("endpoint")
            if endpoint is None:
                continue
            entry = totals.setdefault(endpoint, _Totals())
            if sample.name == "kiln_invocations_total":
                entry.invocations += sample.value
            elif sample.name.endswith("_bucket"):
                which = "model" if family.name.startswith("kiln_model") else "overhead"
                buckets = getattr(entry, which) or {}
                bound = float(sample.labels["le"])
                buckets[bound] = buckets.get(bound, 0.0) + sample.value
                setattr(entry, which, buckets)
    return totals


def _p99(now: dict[float, float] | None, before: dict[float, float] | None) -> float | None:
    """The 99th percentile (a bucket's upper bound) of the observations between two readings."""
    if not now:
        return None
    before = before or {}
    counts = sorted((bound, count - before.get(bound, 0.0)) for bound, count in now.items())
    total = counts[-1][1]
    if total <= 0:
        return None
    for bound, count in counts:
        if count >= 0.99 * total:
            return bound if math.isfinite(bound) else counts[-2][0] if len(counts) > 1 else 0.0
    return None


def endpoint_value(
    metric: str,
    now: _Totals | None,
    before: _Totals | None,
    *,
    seconds: float,
    workers: int,
    cpu_percent: float | None,
) -> float | None:
    """One endpoint's metric over the period between two readings."""
    if metric == "cpu_percent":
        return cpu_percent
    now, before = now or _Totals(), before or _Totals()
    if metric == "invocations_per_worker":
        per_minute = max(0.0, now.invocations - before.invocations) * 60.0 / max(seconds, 1e-9)
        return per_minute / max(1, workers)
    model, overhead = _p99(now.model, before.model), _p99(now.overhead, before.overhead)
    if model is None:
        return 0.0  # no request in the period: no latency to bring down
    # The p99 of each part added: an upper bound of the p99 of the whole request.
    return (model + (overhead or 0.0)) * 1000.0


class _CpuMeter:
    """Average CPU percent (of one core) per worker process between two calls."""

    def __init__(self) -> None:
        self._last: dict[int, float] = {}
        self._at = time.monotonic()

    def percent(self, pids: list[int]) -> float | None:
        import psutil

        now, used, counted = time.monotonic(), 0.0, 0
        current: dict[int, float] = {}
        for pid in pids:
            try:
                times = psutil.Process(pid).cpu_times()
            except psutil.Error:
                continue
            current[pid] = times.user + times.system
            if pid in self._last:  # a new worker's start-up is not load
                used += current[pid] - self._last[pid]
                counted += 1
        seconds, self._last, self._at = now - self._at, current, now
        if not counted or seconds <= 0:
            return None
        return 100.0 * used / seconds / counted


# -- the supervisor: uvicorn's, with workers that drain and a thread that decides ---------------
class _CloseWhileDraining:
    """ASGI wrapper: once its server drains, every response says ``connection: close``."""

    def __init__(self, app, server: DrainingServer) -> None:
        self.app = app
        self.server = server

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def closing_send(message) -> None:
            if message["type"] == "http.response.start" and self.server.draining:
                message = {**message, "headers": [*message["headers"], (b"connection", b"close")]}
            await send(message)

        await self.app(scope, receive, closing_send)


class DrainingServer(uvicorn.Server):
    """uvicorn's server, whose shutdown first lets its clients leave: uvicorn's own closes idle
    keep-alive connections at once, and a request a client sends on one at that moment is lost."""

    draining = False

    async def serve(self, sockets=None) -> None:
        if not self.config.loaded:
            self.config.load()
        self.config.loaded_app = _CloseWhileDraining(self.config.loaded_app, self)
        await super().serve(sockets)

    async def shutdown(self, sockets=None) -> None:
        for server in self.servers:  # no new connections: the other workers accept them
            server.close()
        self.draining = True
        deadline = time.monotonic() + DRAIN_TIMEOUT_SECONDS
        idle_since: dict[object, float] = {}
        while self.server_state.connections and time.monotonic() < deadline and not self.force_exit:
            now = time.monotonic()
            for connection in list(self.server_state.connections):
                cycle = getattr(connection, "cycle", None)
                if cycle is not None and not cycle.response_complete:
                    idle_since.pop(connection, None)
                elif now - idle_since.setdefault(connection, now) >= IDLE_GRACE_SECONDS:
                    connection.shutdown()  # idle that long: not a client in the middle of use
            await asyncio.sleep(0.01)
        await super().shutdown(sockets)


class DrainingProcess(Process):
    """A worker process running :class:`DrainingServer`."""

    @property
    def server(self) -> uvicorn.Server:
        if self._server is None:
            self._server = DrainingServer(config=self.config)
        return self._server


class ElasticSupervisor(Multiprocess):
    """uvicorn's supervisor with draining workers, resized by an :class:`Autoscaler` thread:
    the thread sets ``target`` and the supervisor's loop, the only code that touches the
    processes, adds or drains workers until it has that many. The methods that start workers
    are uvicorn's, with :class:`DrainingProcess` (uvicorn names its own class inside them)."""

    autoscaler: Autoscaler | None = None
    # The pool size asked for; the supervisor's loop adds or drains workers until it has it.
    target: int | None = None
    # Workers whose server has started (checked each turn of the loop): a worker still
    # importing serves nothing, and samples taken meanwhile would ask to scale in again.
    ready = 0

    @property
    def workers(self) -> int:
        """The pool size, as last asked for (what the loop is heading to)."""
        return self.processes_num if self.target is None else self.target

    def run(self) -> None:
        if self.autoscaler is not None:
            self.autoscaler.start()
        try:
            super().run()
        finally:
            if self.autoscaler is not None:
                self.autoscaler.stop()

    def resize(self, count: int) -> None:
        """Ask the supervisor's loop for ``count`` workers (from any thread)."""
        self.target = max(1, count)

    def handle_signals(self) -> None:
        super().handle_signals()
        target = self.target
        if target is None or self.should_exit.is_set():
            return
        while self.processes_num < target:
            self.handle_ttin()
        if self.processes_num > target:
            self.handle_ttou()  # one per turn of the loop: each waits for its worker to drain

    def _spawn(self) -> DrainingProcess:
        process = DrainingProcess(self.config, self.sockets)
        process.start()
        return process

    def init_processes(self) -> None:
        self.processes.extend(self._spawn() for _ in range(self.processes_num))

    def handle_ttin(self) -> None:
        self.processes_num += 1
        self.processes.append(self._spawn())
        log.info("Worker added: %d workers", self.processes_num)

    def handle_ttou(self) -> None:
        if self.processes_num <= 1:
            return
        self.processes_num -= 1
        process = self.processes.pop()
        process.terminate()  # SIGTERM: DrainingServer.shutdown lets its clients leave first
        process.join()
        log.info("Worker removed: %d workers", self.processes_num)

    def keep_subprocess_alive(self) -> None:
        if self.should_exit.is_set():
            return
        self.ready = sum(1 for process in self.processes if process.is_ready(timeout=1))
        for index, process in enumerate(self.processes):
            if process.is_alive(timeout=self.config.timeout_worker_healthcheck):
                continue
            process.kill()
            process.join()
            if process.exitcode == STARTUP_FAILURE:
                log.error("Worker [%s] failed to start; stopping the server.", process.pid)
                self.should_exit.set()
                return
            if self.should_exit.is_set():
                return
            log.info("Worker [%s] died; starting another", process.pid)
            self.processes[index] = self._spawn()

    def handle_hup(self) -> None:  # uvicorn's restart, with draining workers
        for index, old in enumerate(list(self.processes)):
            if self.should_exit.is_set():
                return
            new = self._spawn()
            if not new.wait_until_ready(self.config.timeout_worker_healthcheck, self.should_exit):
                new.kill()
                new.join()
                return
            old.terminate()
            old.join()
            self.processes[index] = new


class Autoscaler:
    """The thread in the supervisor that samples the endpoints' metrics every ``interval``
    seconds, decides (:func:`decide`), resizes the pool and records each action."""

    def __init__(
        self,
        workspace,
        supervisor: ElasticSupervisor,
        *,
        metrics_dir: str,
        base_workers: int,
        interval: float = SAMPLE_SECONDS,
    ) -> None:
        self.workspace = workspace
        self.supervisor = supervisor
        self.metrics_dir = metrics_dir
        self.base_workers = base_workers
        self.interval = interval
        self.samples: dict[str, list[Sample]] = {}
        self.last_change = self._sampled_at = time.monotonic()
        self._totals: dict[str, _Totals] = {}
        self._cpu = _CpuMeter()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="kiln-autoscaler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        started = time.monotonic()
        while not self._stop.wait(self.interval):
            try:
                self.step(time.monotonic() - started)
            except Exception:  # noqa: BLE001 - a store hiccup costs one sample, not the thread
                log.exception("Autoscaling sample failed; trying again")

    def policies(self) -> dict[str, Policy]:
        return {
            e.name: Policy.from_config(e.config["autoscale"])
            for e in self.workspace.endpoints.list()
            if "autoscale" in (e.config or {})
        }

    def step(self, elapsed: float) -> Decision | None:
        """One sample of every autoscaled endpoint, and the change it calls for (applied)."""
        from kiln.endpoints import record_scaling_event

        now = time.monotonic()
        policies = self.policies()
        workers = self.supervisor.workers
        if self.supervisor.ready < workers:  # a new worker is starting: its pool is not yet
            self._totals = read_totals(self.metrics_dir)  # serving; sample once it is
            self._sampled_at = now
            self.last_change = now  # the cool-downs count from when the change took effect
            return None
        totals = read_totals(self.metrics_dir)
        pids = [p.pid for p in list(self.supervisor.processes) if p.pid is not None]
        cpu = self._cpu.percent(pids)
        seconds, self._sampled_at = now - self._sampled_at, now
        for name, policy in policies.items():
            value = endpoint_value(
                policy.metric,
                totals.get(name),
                self._totals.get(name),
                seconds=seconds,
                workers=workers,
                cpu_percent=cpu,
            )
            history = self.samples.setdefault(name, [])
            history.append(Sample(elapsed, workers, value))
            del history[:-SUSTAINED_SAMPLES]
        self._totals = totals
        decision = decide(
            policies,
            self.samples,
            workers=workers,
            now=now,
            last_change=self.last_change,
            base_workers=self.base_workers,
        )
        if decision is None:
            return None
        log.info(
            "Autoscaling %s: %d -> %d workers (%s)",
            decision.endpoint or "-",
            decision.before,
            decision.after,
            decision.reason,
        )
        self.supervisor.resize(decision.after)
        self.last_change = now
        self.samples.clear()  # samples taken with the old pool size argue no more
        if decision.endpoint is not None:
            record_scaling_event(
                self.workspace.store,
                decision.endpoint,
                decision.action,
                before=decision.before,
                after=decision.after,
                metric=decision.metric,
                value=decision.value,
                reason=decision.reason,
            )
        return decision
