"""Running monitoring's jobs (monitor runs, retrainings): waited for by a person's command, or
started in a thread by the scheduler, so that a long retraining neither blocks the scheduler's
loop nor outlives the lease on its schedule."""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kiln.compute import Job
    from kiln.context import Context

__all__ = ["launch"]

log = logging.getLogger("kiln.monitoring")


def launch(ctx: Context, job: Job, *, wait: bool, on_log=None) -> None:
    """Run ``job`` in its own process: wait for it (raising its error), or watch it from a
    thread and return at once (its failure is on the job's record)."""
    from kiln.compute import LocalExecutor

    if wait:
        LocalExecutor(ctx).run(job, on_log=on_log)
        return

    def watch() -> None:
        try:
            LocalExecutor(ctx).run(job, on_log=on_log)
        except Exception as exc:  # noqa: BLE001 — the job's record holds the failure
            log.warning("job %s did not complete: %s", job.id, exc)

    threading.Thread(target=watch, name=f"kiln-{job.id}").start()
