"""Which executor runs a workspace's jobs: its ``executor`` setting (``KILN_EXECUTOR``)."""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

from kiln.compute._local import LocalExecutor
from kiln.errors import ConfigError

if TYPE_CHECKING:
    from kiln.compute._jobs import Job
    from kiln.context import Context

__all__ = ["EXECUTORS", "executor_for", "run_in_background"]

log = logging.getLogger("kiln.compute")

EXECUTORS = ("local", "ray")


def executor_for(ctx: Context):
    """The executor the workspace's settings name: ``local`` (a process per job, the default)
    or ``ray`` (Ray tasks on ``KILN_RAY_ADDRESS``, with ``pip install 'kiln[ray]'``)."""
    name = ctx.settings.executor
    if name == "local":
        return LocalExecutor(ctx)
    if name == "ray":
        from kiln.compute._ray import RayExecutor

        return RayExecutor(ctx)
    raise ConfigError(
        f"Unknown executor {name!r}. Set KILN_EXECUTOR (or 'executor' in kiln.toml) to one of: "
        f"{', '.join(EXECUTORS)}.",
        code="settings.bad-executor",
    )


def run_in_background(ctx: Context, job: Job) -> threading.Thread:
    """Run a created job with the workspace's executor from a thread, and return at once.

    For callers that must not wait (a web request starting AutoML): the thread watches the job
    as a command would, so a crash of its process is recorded on the job, and the job's process
    stops itself if this process ends. The job's record holds how it ended."""

    def watch() -> None:
        try:
            executor_for(ctx).run(job)
        except Exception as exc:  # noqa: BLE001 - the job's record holds the failure
            log.warning("job %s did not complete: %s", job.id, exc)

    thread = threading.Thread(target=watch, name=f"kiln-{job.id}", daemon=True)
    thread.start()
    return thread
