"""Which executor runs a workspace's jobs: its ``executor`` setting (``KILN_EXECUTOR``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kiln.compute._local import LocalExecutor
from kiln.errors import ConfigError

if TYPE_CHECKING:
    from kiln.context import Context

__all__ = ["EXECUTORS", "executor_for"]

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
