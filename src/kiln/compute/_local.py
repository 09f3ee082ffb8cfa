"""The local executor: each job in a separate Python process.

A crash in the job (an exception, a segfault, an out-of-memory kill) marks it Failed with what it
printed and never takes the caller down; Ctrl-C, SIGTERM and SIGHUP to the caller mark it Stopped
(the job's process is stopped first, so nothing it would have made is left behind). If the caller
is SIGKILLed, the job's process notices that its launcher is gone and stops itself (see
:mod:`kiln.compute._worker`); if both are, the next read of the job marks it lost.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from kiln.compute._jobs import COMPLETED, FAILED, PENDING, STOPPED, Job
from kiln.compute._worker import LAUNCHER_ENV
from kiln.compute._zygote import WarmProcess, start_warm
from kiln.errors import JobFailed, KilnError, class_named

if TYPE_CHECKING:
    from kiln.context import Context

__all__ = ["LocalExecutor", "serving_thread_environment"]

# A job's process: started here, or forked by the warm worker.
Process = subprocess.Popen | WarmProcess


def serving_thread_environment() -> dict[str, str]:
    """OpenMP settings for worker processes: scikit-learn's and LightGBM's OpenMP runtimes spin
    idle threads that fight for the cores unless told to wait passively."""
    return {"OMP_WAIT_POLICY": "PASSIVE", "KMP_BLOCKTIME": "0"}


class LocalExecutor:
    def __init__(self, workspace: Context):
        self._ws = workspace

    def run(
        self,
        job: Job,
        *,
        on_log: Callable[[str], None] | None = None,
        poll_seconds: float = 0.25,
        should_stop: Callable[[], str | None] | None = None,
    ) -> Job:
        """Run the job in a child process and wait for it; raise unless it completes.

        A job that failed with a KilnError raises the same class, code and message here (with
        ``job_id`` set), as if it had run in process; any other failure raises JobFailed.

        ``should_stop`` is asked at every poll; a reason it returns stops the job (Stopped)."""
        env = {**os.environ, **self._ws.environment(), **serving_thread_environment()}
        env.setdefault("PYTHONUNBUFFERED", "1")
        env[LAUNCHER_ENV] = str(os.getpid())
        jobs = self._ws.jobs
        heartbeat_seconds = self._ws.settings.job_heartbeat_seconds
        with tempfile.TemporaryFile() as stderr, _StopSignals() as signals:
            try:
                process = self._start_process(job.id, env, stderr)
            except OSError as exc:
                jobs.finish(job.id, FAILED, failure_reason=f"Its process did not start: {exc}.")
                raise
            seen = 0
            pending = True
            next_beat = time.monotonic() + heartbeat_seconds
            try:
                while process.poll() is None:
                    seen = self._forward_logs(job.id, seen, on_log)
                    if pending and time.monotonic() >= next_beat:
                        # Until its process has started (slow on a busy machine), this process
                        # is in charge of the job and beats for it.
                        pending = jobs.heartbeat(job.id, status=PENDING)
                        next_beat = time.monotonic() + heartbeat_seconds
                    reason = should_stop() if should_stop is not None else None
                    if reason:
                        self._stop(process, job.id, reason=reason)
                        break
                    # Returns as soon as the job ends, not at the next poll.
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        process.wait(timeout=poll_seconds)
            except KeyboardInterrupt:
                self._stop(process, job.id, reason=signals.reason or _INTERRUPTED)
                if signals.received is None:
                    raise
            finally:
                if process.poll() is None:
                    process.kill()
                    process.wait()
            self._forward_logs(job.id, seen, on_log)
            stderr.seek(0)
            tail = stderr.read()[-3000:].decode(errors="replace").strip()
        if signals.received is not None:
            # The job is stopped; now the signal does what it would have done without the job
            # (by default, end this process), with the handler it had before.
            signal.raise_signal(signals.received)
        # Recorded before the job is read again, so that read does not find it lost instead:
        # the exit status and what the process printed say more. A no-op when it recorded its
        # own end.
        reason = f"The job process exited with code {process.returncode}"
        if process.returncode < 0:
            reason += f" (killed by signal {signal.Signals(-process.returncode).name})"
        reason += f" before finishing. {tail}".rstrip()
        if jobs.finish(job.id, FAILED, failure_reason=reason):
            jobs.context(job.id).log(reason, level="ERROR")
        if isinstance(process, WarmProcess):
            process.close()  # its end is recorded: the warm worker may reap it now
        final = jobs.get(job.id)
        if final.status != COMPLETED:
            raise _job_error(final)
        return final

    def _start_process(self, job_id: str, env: dict[str, str], stderr) -> Process:
        """The job's process: a fork of the warm worker when one serves (see
        :mod:`kiln.compute._zygote`), else a new ``python -m kiln.worker JOB``."""
        settings = self._ws.settings
        if settings.warm_workers:
            process = start_warm(
                job_id,
                env=env,
                stderr=stderr.fileno(),
                idle_seconds=settings.warm_worker_idle_seconds,
            )
            if process is not None:
                return process
        return subprocess.Popen(
            [sys.executable, "-m", "kiln.worker", job_id],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )

    def map(
        self,
        function: Callable[[Context, Any], Any],
        items: Iterable[Any],
        *,
        on_result: Callable[[Any, Any], None] | None = None,
        retries: int = 0,
    ) -> list:
        """``function(context, item)`` for each item, one after the other in this process (the
        Ray executor runs them as parallel tasks); ``on_result(item, result)`` after each.
        ``retries`` is for the Ray executor's dead workers; here a failure raises at once."""
        results = []
        for item in items:
            results.append(function(self._ws, item))
            if on_result is not None:
                on_result(item, results[-1])
        return results

    def _forward_logs(self, job_id: str, seen: int, on_log) -> int:
        return forward_logs(self._ws, job_id, seen, on_log)

    def _stop(
        self,
        process: Process,
        job_id: str,
        reason: str,
    ) -> None:
        # Ctrl-C in a terminal reaches the child too; this covers callers that were interrupted
        # some other way. Give it a moment to record Stopped itself, with our reason.
        if process.poll() is None:
            self._ws.jobs.request_stop(job_id, reason)
            self._ws.jobs.context(job_id).log(reason, level="WARNING")
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self._ws.jobs.finish(job_id, STOPPED, failure_reason=reason)


def forward_logs(workspace: Context, job_id: str, seen: int, on_log) -> int:
    """Pass the job's log lines after line ``seen`` to ``on_log``; returns the last one seen."""
    if on_log is None:
        return seen
    for seq, _time, level, message in workspace.jobs.logs(job_id, after=seen):
        on_log(message if level == "INFO" else f"{level}: {message}")
        seen = seq
    return seen


_INTERRUPTED = "Stopped by the user (interrupt)."
_STOP_SIGNALS = {
    signal.SIGTERM: "Stopped: the command running it received SIGTERM.",
    # No SIGHUP on Windows.
    **(
        {signal.SIGHUP: "Stopped: the command running it received SIGHUP (its terminal closed)."}
        if hasattr(signal, "SIGHUP")
        else {}
    ),
}


class _StopSignals:
    """While a job runs, SIGTERM and SIGHUP to this process stop the job, as Ctrl-C does,
    rather than end this process and leave the job's process running on its own.

    Signal handlers belong to the main thread; in another thread (a tuning job's trials) this
    does nothing, and the thread that owns the signals stops its jobs its own way. A signal this
    process ignores (SIGHUP under nohup) stays ignored."""

    def __init__(self) -> None:
        self.received: int | None = None
        self._previous: dict[int, object] = {}

    @property
    def reason(self) -> str | None:
        return _STOP_SIGNALS.get(self.received) if self.received is not None else None

    def __enter__(self) -> _StopSignals:
        if threading.current_thread() is threading.main_thread():
            for sig in _STOP_SIGNALS:
                if signal.getsignal(sig) is not signal.SIG_IGN:
                    self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, _frame) -> None:
        # The first signal stops the job; more while it stops must not interrupt the stopping.
        if self.received is None:
            self.received = signum
            raise KeyboardInterrupt(_STOP_SIGNALS[signum])

    def __exit__(self, *exc) -> None:
        for sig, previous in self._previous.items():
            # None: a handler installed outside Python, which cannot be put back.
            signal.signal(sig, signal.SIG_DFL if previous is None else previous)


def _job_error(job: Job) -> KilnError:
    """The error a caller sees for a job that did not complete."""
    cls = class_named(job.failure_class) if job.status == FAILED else None
    if cls is not None and job.failure_code:
        error = cls(f"{job.failure_reason} See 'kiln jobs logs {job.id}'.", code=job.failure_code)
    else:
        # Literal codes rather than f"job.{status}", so the docs test sees both.
        error = JobFailed(
            f"Job {job.id} {job.status.lower()}: {job.failure_reason or 'no reason given'} "
            f"See 'kiln jobs logs {job.id}'.",
            code="job.stopped" if job.status == STOPPED else "job.failed",
        )
    error.job_id = job.id
    return error
