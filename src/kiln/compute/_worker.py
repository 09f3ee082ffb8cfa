"""Entry point of a job's own process: ``python -m kiln.compute._worker JOB_ID``."""

from __future__ import annotations

import importlib
import os
import signal
import sys
import traceback


def _raise_interrupt(signum, _frame):
    raise KeyboardInterrupt(f"signal {signum}")


def main(job_id: str) -> int:
    from kiln.compute._jobs import COMPLETED, FAILED, STOPPED
    from kiln.compute._local import JOB_KINDS
    from kiln.errors import KilnError, public_class
    from kiln.workspace import Workspace

    signal.signal(signal.SIGTERM, _raise_interrupt)
    workspace = Workspace()
    jobs = workspace.jobs
    job = jobs.get(job_id)
    context = jobs.context(job_id)
    jobs.start(job_id, pid=os.getpid())
    try:
        module_name, function_name = JOB_KINDS[job.kind].split(":")
        function = getattr(importlib.import_module(module_name), function_name)
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


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
