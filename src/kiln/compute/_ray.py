"""The Ray executor (``KILN_EXECUTOR=ray``): each job a Ray task on a Ray cluster.

The task runs the job exactly as the local executor's process does (:func:`run_job` on a
context opened from the workspace's environment, which the task gets as its ``runtime_env``), so
the job records its own start, logs, heartbeat and end in the store; this side forwards the logs
while it waits, stops the task when asked, and records the end the task could not record itself
(its worker died). ``KILN_RAY_ADDRESS`` names the cluster; unset, a Ray is started in this
process, with this machine's cores. Ray is imported here only, and only when a job runs on it.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from kiln.compute._jobs import COMPLETED, FAILED, PENDING, STOPPED, Job
from kiln.compute._local import (
    _INTERRUPTED,
    _job_error,
    _StopSignals,
    forward_logs,
    serving_thread_environment,
)
from kiln.compute._worker import run_job
from kiln.errors import ConfigError
from kiln.store import JobRow

if TYPE_CHECKING:
    from kiln.context import Context

__all__ = ["RayExecutor"]

# Kinds whose job only starts and watches other jobs (a tuning job's trials): their task holds
# no CPU, so on a cluster of N CPUs N trials run beside it.
_ORCHESTRATING_KINDS = frozenset({"tuning", "pipeline"})
# How long a stopped task gets to record Stopped itself before its worker is killed.
_STOP_GRACE_SECONDS = 10.0
_CONNECT_TIMEOUT_SECONDS = 3.0
_connect_lock = threading.Lock()
# The address this process connected to ("" for a Ray it started); None: it did not connect.
_connected_to: str | None = None


def _import_ray():
    try:
        import ray
    except ImportError:
        raise ConfigError(
            "Ray is not installed: pip install 'kiln[ray]' (or set KILN_EXECUTOR=local).",
            code="executor.ray-missing",
        ) from None
    return ray


def _unreachable(address: str, why: str) -> ConfigError:
    return ConfigError(
        f"The Ray cluster at {address!r} (KILN_RAY_ADDRESS) does not answer: {why}. Start it "
        "('ray start --head'), fix KILN_RAY_ADDRESS, or unset it to start a Ray in this process.",
        code="executor.unreachable",
    )


def _why(exc: BaseException) -> str:
    """Ray's reason a connection failed: the last line of each error in the chain (the cause
    of "Failed to connect", such as a refused authentication token, is at the end of it)."""
    lines = []
    seen: BaseException | None = exc
    while seen is not None and len(lines) < 3:
        text = [line.strip() for line in str(seen).splitlines() if line.strip()]
        if text and text[-1] not in lines:
            lines.append(text[-1])
        seen = seen.__cause__ or seen.__context__
    return "; ".join(lines) or type(exc).__name__


def _check_reachable(address: str) -> None:
    """Fail in seconds on an address nothing listens on: ``ray.init`` retries for a minute."""
    if address == "auto":
        return
    hostport = address.removeprefix("ray://").rstrip("/")
    host, sep, port = hostport.rpartition(":")
    if not sep or not port.isdigit():
        raise ConfigError(
            f"KILN_RAY_ADDRESS {address!r} is not HOST:PORT, ray://HOST:PORT or 'auto'.",
            code="executor.bad-address",
        )
    try:
        with socket.create_connection((host, int(port)), timeout=_CONNECT_TIMEOUT_SECONDS):
            pass
    except OSError as exc:
        raise _unreachable(address, exc.strerror or str(exc) or type(exc).__name__) from None


def _cluster(address: str) -> str:
    return f"the Ray cluster at {address!r}" if address else "a Ray of its own"


def connect(address: str | None):
    """The ``ray`` module, connected to ``address`` (or to a Ray started here when None).

    A process connects once: a Ray worker (a job running on Ray that starts more jobs, as a
    tuning job does) is connected already."""
    global _connected_to
    address = address or ""  # unset: a Ray of this process's own
    ray = _import_ray()
    with _connect_lock:
        if address and address != _connected_to:
            _check_reachable(address)
        if ray.is_initialized():
            if _connected_to is not None and address != _connected_to:
                raise ConfigError(
                    f"This process already runs jobs on {_cluster(_connected_to)}; it cannot "
                    f"use {_cluster(address)} too. Use one KILN_RAY_ADDRESS per process.",
                    code="executor.other-cluster",
                )
            # Connected, or a Ray worker (a job that starts jobs): its cluster.
            return ray
        options: dict[str, Any] = {
            "logging_level": logging.WARNING,
            # Jobs log to the store; their workers' prints would interleave with the CLI's.
            "log_to_driver": False,
            "configure_logging": False,
        }
        if address:
            try:
                ray.init(address=address, **options)
            except (ConnectionError, TimeoutError, RuntimeError) as exc:
                raise _unreachable(address, _why(exc)) from exc
        else:
            ray.init(num_cpus=os.cpu_count() or 1, include_dashboard=False, **options)
        _connected_to = address
    return ray


_remote_functions: dict[Callable, Any] = {}


def _remote(ray, function: Callable):
    """``ray.remote(function)``, made once per process: Ray ships a remote function to the
    cluster when it is first called, and a tuning job calls it for every trial."""
    with _connect_lock:
        if function not in _remote_functions:
            _remote_functions[function] = ray.remote(function)
        return _remote_functions[function]


def _stop_handlers() -> dict[int, Any]:
    names = ("SIGINT", "SIGTERM", "SIGHUP")
    return {sig: signal.getsignal(sig) for n in names if (sig := getattr(signal, n, None))}


def _run_job_task(context_class: type, job_id: str) -> int:
    """A job's Ray task: what ``python -m kiln.worker JOB_ID`` does, in a Ray worker."""
    handlers = _stop_handlers()
    context = context_class()
    try:
        # Says where it ran: 'kiln jobs logs' shows it, and the job record's pid is the worker's.
        host = socket.gethostname()
        context.jobs.context(job_id).log(f"Running as a Ray task on {host} (pid {os.getpid()}).")
        return run_job(context, job_id)
    finally:
        context.close()
        # run_job takes the stop signals; the worker runs other tasks afterwards.
        for sig, handler in handlers.items():
            signal.signal(sig, handler)


def _run_in_context(context_class: type, function: Callable, item: Any) -> Any:
    context = context_class()
    try:
        return function(context, item)
    finally:
        context.close()


class RayExecutor:
    """Runs jobs as Ray tasks; see the module docstring and docs/ray.md."""

    def __init__(self, workspace: Context):
        self._ws = workspace

    def _connect(self):
        return connect(self._ws.settings.ray_address)

    def _runtime_env(self) -> dict:
        return {"env_vars": {**self._ws.environment(), **serving_thread_environment()}}

    def run(
        self,
        job: Job,
        *,
        on_log: Callable[[str], None] | None = None,
        poll_seconds: float = 0.25,
        should_stop: Callable[[], str | None] | None = None,
    ) -> Job:
        """Run the job as a Ray task and wait for it; raise unless it completes.

        The same contract as :meth:`LocalExecutor.run`: a job that failed with a KilnError
        raises that error, any other failure JobFailed; ``should_stop`` stops it (Stopped)."""
        jobs = self._ws.jobs
        try:
            ray = self._connect()
        except ConfigError as exc:
            jobs.finish(
                job.id,
                FAILED,
                failure_reason=exc.message,
                failure_code=exc.code,
                failure_class="ConfigError",
            )
            raise
        task = _remote(ray, _run_job_task).options(
            num_cpus=0 if job.kind in _ORCHESTRATING_KINDS else 1,
            # A job is never run twice: its record says how its one run ended.
            max_retries=0,
            runtime_env=self._runtime_env(),
            name=f"kiln-{job.id}",
        )
        ref = task.remote(type(self._ws), job.id)
        with _StopSignals() as signals:
            try:
                self._wait(ray, ref, job.id, on_log, poll_seconds, should_stop)
            except KeyboardInterrupt:
                self._stop(ray, ref, job.id, signals.reason or _INTERRUPTED)
                if signals.received is None:
                    raise
        if signals.received is not None:
            # As LocalExecutor: the job is stopped; now the signal does what it would have done.
            signal.raise_signal(signals.received)
        self._record_crash(ray, ref, job.id)
        final = jobs.get(job.id)
        if final.status != COMPLETED:
            raise _job_error(final)
        return final

    def _wait(self, ray, ref, job_id: str, on_log, poll_seconds: float, should_stop) -> None:
        """Forward the job's logs until its task ends, or stop it when ``should_stop`` says."""
        jobs = self._ws.jobs
        heartbeat_seconds = self._ws.settings.job_heartbeat_seconds
        seen = 0
        pending = True
        next_beat = time.monotonic() + heartbeat_seconds
        try:
            while True:
                seen = self._forward_logs(job_id, seen, on_log)
                ready, _ = ray.wait([ref], timeout=poll_seconds)
                if ready:
                    return
                if pending and time.monotonic() >= next_beat:
                    # Until a worker starts it (a new worker for a new environment takes
                    # seconds), this process is in charge of the job and beats for it.
                    pending = jobs.heartbeat(job_id, status=PENDING)
                    next_beat = time.monotonic() + heartbeat_seconds
                reason = should_stop() if should_stop is not None else None
                if reason:
                    self._stop(ray, ref, job_id, reason)
                    return
        finally:
            self._forward_logs(job_id, seen, on_log)

    def _record_crash(self, ray, ref, job_id: str) -> None:
        """Mark the job Failed when its task ended without recording the end: its worker
        died (killed, out of memory, its node gone) or the task could not start it."""
        try:
            ray.get(ref, timeout=0)
            reason = None
        except ray.exceptions.GetTimeoutError:  # pragma: no cover - the task is ready
            return
        except ray.exceptions.TaskCancelledError:
            reason = None
        except ray.exceptions.RayTaskError as exc:
            cause = exc.cause if exc.cause is not None else exc
            reason = f"Its Ray task failed before running it: {type(cause).__name__}: {cause}"
        except ray.exceptions.RayError as exc:
            # Read without jobs.get, which would find the job lost first, with a vaguer reason.
            with self._ws.store.read() as session:
                running = session.get(JobRow, job_id)
                where = f" (pid {running.pid} on {running.host})" if running.pid else ""
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            reason = (
                f"The Ray worker running it{where} died before finishing: "
                f"{type(exc).__name__}: {first}"
            )
        if reason and self._ws.jobs.finish(job_id, FAILED, failure_reason=reason):
            self._ws.jobs.context(job_id).log(reason, level="ERROR")

    def _stop(self, ray, ref, job_id: str, reason: str) -> None:
        jobs = self._ws.jobs
        jobs.request_stop(job_id, reason)
        jobs.context(job_id).log(reason, level="WARNING")
        # A KeyboardInterrupt in the task: run_job records Stopped with the reason above.
        ray.cancel(ref)
        ready, _ = ray.wait([ref], timeout=_STOP_GRACE_SECONDS)
        if not ready:
            ray.cancel(ref, force=True)
        jobs.finish(job_id, STOPPED, failure_reason=reason)

    def _forward_logs(self, job_id: str, seen: int, on_log) -> int:
        return forward_logs(self._ws, job_id, seen, on_log)

    def map(
        self,
        function: Callable[[Context, Any], Any],
        items: Iterable[Any],
        *,
        on_result: Callable[[Any, Any], None] | None = None,
        retries: int = 2,
    ) -> list:
        """``function(context, item)`` for each item, as parallel Ray tasks; the results in
        the order of ``items``. ``function`` must be importable (a module's top-level function)
        and safe to run again: a task whose worker died is retried ``retries`` times.
        ``on_result(item, result)`` is called as each finishes."""
        ray = self._connect()
        task = _remote(ray, _run_in_context).options(
            num_cpus=1, max_retries=retries, runtime_env=self._runtime_env()
        )
        items = list(items)
        refs = [task.remote(type(self._ws), function, item) for item in items]
        index = {ref: i for i, ref in enumerate(refs)}
        results: list = [None] * len(items)
        waiting = list(refs)
        try:
            while waiting:
                ready, waiting = ray.wait(waiting, num_returns=1)
                for ref in ready:
                    i = index[ref]
                    try:
                        results[i] = ray.get(ref)
                    except ray.exceptions.RayTaskError as exc:
                        # The function's own error (a DataError in a part), as raised in process.
                        if isinstance(exc.cause, Exception):
                            raise exc.cause from None
                        raise
                    if on_result is not None:
                        on_result(items[i], results[i])
        except BaseException:
            for ref in waiting:
                ray.cancel(ref, force=True)
            raise
        return results
