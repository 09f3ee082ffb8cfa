"""What a job's own process does: mark the job running, run its kind's function, record the end.

The process itself starts in :mod:`kiln.worker`, which opens the workspace (the top layer) and
calls :func:`run_job`.
"""

from __future__ import annotations

import os
import signal
import traceback
from typing import TYPE_CHECKING

from kiln.compute._jobs import COMPLETED, FAILED, STOPPED
from kiln.compute._kinds import job_kind
from kiln.errors import KilnError, public_class

if TYPE_CHECKING:
    from kiln.context import Context

__all__ = ["run_job"]


def _raise_interrupt(signum, _frame):
    raise KeyboardInterrupt(f"signal {signum}")


def run_job(workspace: Context, job_id: str) -> int:
    """Run job ``job_id`` in this process; returns the process exit code."""
    signal.signal(signal.SIGTERM, _raise_interrupt)
    jobs = workspace.jobs
    job = jobs.get(job_id)
    context = jobs.context(job_id)
    jobs.start(job_id, pid=os.getpid())
    try:
        function = job_kind(job.kind).run_function()
        result = function(workspace, context, job.spec)
    except KeyboardInterrupt:
        context.log("Stopped by the user.", level="WARNING")
        jobs.finish(job_id, STOPPED, failure_reason="Stopped by the user (interrupt).")
        return 130
    except KilnError as exc:
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
    except BaseException as exc:  # noqa: BLE001 - every failure must land on the job record
        context.log(traceback.format_exc(), level="ERROR")
        jobs.finish(job_id, FAILED, failure_reason=f"{type(exc).__name__}: {exc}")
        return 1
    jobs.finish(job_id, COMPLETED, result=result)
    return 0
