"""The local executor: each job in a separate Python process.

A crash in the job (an exception, a segfault, an out-of-memory kill) marks it Failed with what it
printed and never takes the caller down; Ctrl-C marks it Stopped.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable
from typing import TYPE_CHECKING

from kiln.compute._jobs import COMPLETED, FAILED, FINAL_STATUSES, STOPPED, Job
from kiln.errors import JobFailed, KilnError, class_named

if TYPE_CHECKING:
    from kiln.context import Context

__all__ = ["LocalExecutor", "serving_thread_environment"]


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
        with tempfile.TemporaryFile() as stderr:
            process = subprocess.Popen(
                [sys.executable, "-m", "kiln.worker", job.id],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
            )
            seen = 0
            try:
                while process.poll() is None:
                    seen = self._forward_logs(job.id, seen, on_log)
                    reason = should_stop() if should_stop is not None else None
                    if reason:
                        self._stop(process, job.id, reason=reason)
                        break
                    # Returns as soon as the job ends, not at the next poll.
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        process.wait(timeout=poll_seconds)
            except KeyboardInterrupt:
                self._stop(process, job.id)
                raise
            finally:
                if process.poll() is None:
                    process.kill()
                    process.wait()
            self._forward_logs(job.id, seen, on_log)
            stderr.seek(0)
            tail = stderr.read()[-3000:].decode(errors="replace").strip()
        final = self._ws.jobs.get(job.id)
        if final.status not in FINAL_STATUSES:
            reason = f"The job process exited with code {process.returncode}"
            if process.returncode < 0:
                reason += f" (killed by signal {signal.Signals(-process.returncode).name})"
            reason += f" before finishing. {tail}".rstrip()
            self._ws.jobs.context(job.id).log(reason, level="ERROR")
            self._ws.jobs.finish(job.id, FAILED, failure_reason=reason)
            final = self._ws.jobs.get(job.id)
        if final.status != COMPLETED:
            raise _job_error(final)
        return final

    def _forward_logs(self, job_id: str, seen: int, on_log) -> int:
        if on_log is None:
            return seen
        for seq, _time, level, message in self._ws.jobs.logs(job_id, after=seen):
            on_log(message if level == "INFO" else f"{level}: {message}")
            seen = seq
        return seen

    def _stop(
        self,
        process: subprocess.Popen,
        job_id: str,
        reason: str = "Stopped by the user (interrupt).",
    ) -> None:
        # Ctrl-C in a terminal reaches the child too; this covers callers that were interrupted
        # some other way. Give it a moment to record Stopped itself.
        if process.poll() is None:
            self._ws.jobs.context(job_id).log(reason, level="WARNING")
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self._ws.jobs.finish(job_id, STOPPED, failure_reason=reason)


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
