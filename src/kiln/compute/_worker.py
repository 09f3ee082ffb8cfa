"""What a job's own process does: mark the job running, run its kind's function, record the end.

The process itself starts in :mod:`kiln.worker`, which opens the workspace (the top layer) and
calls :func:`run_job`. While the job runs, a watch thread writes its heartbeat and checks that
the process that launched it is still there: a job started by a command ends with that command,
even when the command was SIGKILLed and could not stop it.
"""

from __future__ import annotations

import _thread
import atexit
import contextlib
import os
import signal
import sys
import threading
import time
import traceback
from typing import TYPE_CHECKING

from kiln.compute._jobs import COMPLETED, FAILED, STOPPED
from kiln.compute._kinds import job_kind
from kiln.compute._process import started_before_this
from kiln.errors import KilnError, StateError, public_class

if TYPE_CHECKING:
    from kiln.compute._jobs import JobService
    from kiln.context import Context

__all__ = ["LAUNCHER_ENV", "exit_process", "run_job"]

# Set by the executor to its own pid: the job's process watches that it is still running.
LAUNCHER_ENV = "KILN_LAUNCHER_PID"
# How long a job asked to stop gets to stop by itself before its process ends it hard: enough for
# a tuning job to stop its running trials (10 s each at most, see LocalExecutor._stop).
STOP_GRACE_SECONDS = 30.0
_INTERRUPTED = "Stopped by the user (interrupt)."
_SIGNAL_REASONS = {
    # Ctrl-C in a terminal, and how the executor stops the job (LocalExecutor._stop).
    signal.SIGINT: _INTERRUPTED,
    signal.SIGTERM: "Stopped: its process received SIGTERM.",
    # No SIGHUP on Windows.
    **(
        {signal.SIGHUP: "Stopped: its process received SIGHUP (its terminal closed)."}
        if hasattr(signal, "SIGHUP")
        else {}
    ),
}


class _Stopping:
    """Turns SIGINT, SIGTERM and SIGHUP into KeyboardInterrupt and keeps why the job stops; the
    watch thread stops the job the same way, with its own reason.

    That a stop signal arrived is kept apart from the exception it raised because the
    KeyboardInterrupt does not always reach :func:`run_job` as one: raised inside an import of a
    C extension or a class body, Python or the extension wraps it in another error (pybind11
    modules: "ImportError: initialization failed"; Python 3.11: "RuntimeError: Error calling
    __set_name__ ..."). A job's process that starts on a busy machine spends seconds importing
    scikit-learn and SciPy, so a stop then must still end the job Stopped, not Failed."""

    def __init__(self) -> None:
        self.reason: str | None = None
        self.armed = True

    def handle(self, signum: int, _frame) -> None:
        if self.reason is None:
            self.reason = _SIGNAL_REASONS.get(signum, f"Stopped by signal {signum}.")
        # Once the job's function has returned, its end is being recorded: let that finish.
        if self.armed:
            raise KeyboardInterrupt(self.reason)

    def interrupt(self, reason: str) -> None:
        """Stop the job from another thread: the main thread gets SIGTERM, which also breaks
        it out of a blocking wait (a lock, a child process, a sleep)."""
        self.reason = self.reason or reason
        if hasattr(signal, "pthread_kill"):
            signal.pthread_kill(threading.main_thread().ident, signal.SIGTERM)
        else:  # Windows: runs the handler at the main thread's next bytecode
            _thread.interrupt_main(signal.SIGTERM)


class _Watch:
    """The job's heartbeat, and the stop of a job whose launcher is gone or whose record was
    ended by another process (marked lost, for one)."""

    def __init__(
        self,
        jobs: JobService,
        job_id: str,
        *,
        heartbeat_seconds: float,
        launcher: int | None,
        stopping: _Stopping,
    ):
        self._jobs, self._job_id = jobs, job_id
        self._heartbeat_seconds = heartbeat_seconds
        self._launcher = launcher
        self._stopping = stopping
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="kiln-job-watch", daemon=True)

    def launcher_gone(self) -> str | None:
        """Why the job must stop because the process that launched it is gone, if it is.

        A launcher that started the process itself is its parent: when it dies, the process is
        re-parented (to init, or a subreaper), so the parent pid changes, a check that is one
        system call and never fooled by pid reuse. A process forked by a warm worker (see
        :mod:`kiln.compute._zygote`) has the worker for a parent, so the launcher's pid is looked
        up instead: running, and started before this process (a reused pid starts later).
        Linux's PR_SET_PDEATHSIG would do neither, and it fires when the launching thread
        ends, which for a tuning trial is a pool thread."""
        if self._launcher is None or os.getppid() == self._launcher:
            return None
        if started_before_this(self._launcher):
            return None
        return (
            f"Stopped: the command that started it (pid {self._launcher}) is gone, and a job "
            "ends with the command that started it."
        )

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        """The job has recorded its end: stop watching."""
        self._done.set()

    def _run(self) -> None:
        # The parent check is a system call, so it runs more often than the heartbeat write.
        tick = min(0.5, self._heartbeat_seconds)
        next_beat = time.monotonic() + self._heartbeat_seconds
        while not self._done.wait(tick):
            reason = self.launcher_gone()
            if reason is None and time.monotonic() >= next_beat:
                next_beat = time.monotonic() + self._heartbeat_seconds
                try:
                    if not self._jobs.heartbeat(self._job_id):
                        reason = "Stopped: another process ended the job's record while it ran."
                except Exception:  # noqa: BLE001 - a store briefly unreachable: beat again later
                    continue
            if reason is not None:
                self._stop(reason)
                return

    def _stop(self, reason: str) -> None:
        self._stopping.interrupt(reason)
        if self._done.wait(STOP_GRACE_SECONDS):
            return
        # Still running: a long call that never returns to Python. Nobody else will end it.
        self._jobs.finish(
            self._job_id,
            STOPPED,
            failure_reason=f"{reason} It did not stop within {STOP_GRACE_SECONDS:g} s, so its "
            "process was ended.",
        )
        os._exit(130)


def _launcher_pid() -> int | None:
    # Taken out of the environment, so the job's own child processes do not inherit it.
    value = os.environ.pop(LAUNCHER_ENV, None)
    try:
        return int(value) if value else None
    except ValueError:
        return None


def run_job(workspace: Context, job_id: str) -> int:
    """Run job ``job_id`` in this process; returns the process exit code."""
    stopping = _Stopping()
    for sig in _SIGNAL_REASONS:
        # A SIGHUP ignored on purpose (nohup) stays ignored. SIGINT and SIGTERM are how a job is
        # stopped (LocalExecutor._stop, the watch thread), so they are always handled: a shell
        # starts background commands with SIGINT ignored, and the job's process inherits that.
        if sig in (signal.SIGINT, signal.SIGTERM) or signal.getsignal(sig) is not signal.SIG_IGN:
            signal.signal(sig, stopping.handle)
    jobs = workspace.jobs
    job = jobs.get(job_id)
    context = jobs.context(job_id)
    launcher = _launcher_pid()
    watch = _Watch(
        jobs,
        job_id,
        heartbeat_seconds=workspace.settings.job_heartbeat_seconds,
        launcher=launcher,
        stopping=stopping,
    )
    try:
        # The parent is the process that reaps this one (the launcher, or the warm worker that
        # forked it): while it has not, the ended process is not lost (see JobService.reap).
        jobs.start(job_id, launcher_pid=os.getppid() if launcher is not None else None)
    except StateError:
        # Ended before this process got to it: its launcher died and it was found lost.
        status = jobs.get(job_id).status
        context.log(f"Its process started after the job was {status}; it did not run.")
        return 1
    gone = watch.launcher_gone()
    if gone is not None:
        context.log(gone, level="WARNING")
        jobs.finish(job_id, STOPPED, failure_reason=gone)
        return 130
    watch.start()
    try:
        function = job_kind(job.kind).run_function()
        result = function(workspace, context, job.spec)
        stopping.armed = False
    except BaseException as exc:  # noqa: BLE001 - every end must land on the job record
        stopping.armed = False
        if stopping.reason is None and not _interrupted(exc):
            return _record_failure(jobs, context, job_id, exc)
        if not isinstance(exc, KeyboardInterrupt):
            context.log(
                f"The stop interrupted it with {type(exc).__name__}: {exc}", level="WARNING"
            )
        # A stop the executor asked for carries its reason (request_stop), logged already.
        requested = jobs.get(job_id).failure_reason
        if requested is None:
            context.log(stopping.reason or _INTERRUPTED, level="WARNING")
        jobs.finish(job_id, STOPPED, failure_reason=stopping.reason or _INTERRUPTED)
        return 130
    finally:
        watch.close()
    jobs.finish(job_id, COMPLETED, result=result)
    return 0


def exit_process(code: int):
    """End the job's process with exit status ``code`` once its end is recorded, as the
    interpreter's own exit does (threads joined, atexit functions run, output flushed) but
    without tearing down the thousands of modules a job loads one by one: that alone takes
    0.2-0.9 s of every job, and nothing a job does depends on it."""
    shutdown = getattr(threading, "_shutdown", None)
    if shutdown is not None:  # CPython: joins the non-daemon threads, as at exit
        shutdown()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)


def _interrupted(exc: BaseException) -> bool:
    """Whether ``exc`` is, or was raised while handling, a KeyboardInterrupt: one that came
    from somewhere other than a stop signal (``_thread.interrupt_main``, a library's own
    SIGINT handler), wrapped like a signal's can be (see :class:`_Stopping`)."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, KeyboardInterrupt):
            return True
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return False


def _record_failure(jobs: JobService, context, job_id: str, exc: BaseException) -> int:
    """Record that the job failed with ``exc``; returns the process exit code."""
    if isinstance(exc, KilnError):
        context.log(exc.message, level="ERROR")
        # The code and class let the caller raise the same error (LocalExecutor.run).
        jobs.finish(
            job_id,
            FAILED,
            failure_reason=exc.message,
            failure_code=exc.code,
            failure_class=public_class(exc).__name__,
        )
        return 2
    context.log("".join(traceback.format_exception(exc)), level="ERROR")
    jobs.finish(job_id, FAILED, failure_reason=f"{type(exc).__name__}: {exc}")
    return 1
