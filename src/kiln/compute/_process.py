"""Which process is in charge of a job, and whether it is still there.

A pid alone does not name a process: pids are reused (Linux hands out at most 32,768 of them by
default), so a process is its pid, its host and its start time, and "still there" means a
process with that pid and start time exists on this host and is not a zombie. psutil reads this
from the process table (``/proc`` on Linux) on every platform kiln runs on.
"""

from __future__ import annotations

import os
import socket
from typing import NamedTuple

import psutil

__all__ = [
    "ProcessId",
    "host_name",
    "is_running",
    "pid_alive",
    "started_before_this",
    "started_by",
    "this_process",
]

# Two readings of one process's start time can differ by clock adjustments between them (psutil
# adds the boot time, itself derived from the wall clock); a reused pid starts later than that.
_START_TIME_TOLERANCE = 1.0


def host_name() -> str:
    return socket.gethostname()


class ProcessId(NamedTuple):
    """A process, told apart from a later one that reuses its pid by its start time."""

    pid: int
    host: str
    created: float | None  # epoch seconds, as psutil reports it


def this_process() -> ProcessId:
    """The calling process."""
    return ProcessId(os.getpid(), host_name(), psutil.Process().create_time())


def is_running(pid: int, created: float | None, *, reaped_by: int | None = None) -> bool:
    """Whether process ``pid`` of this host, started at ``created``, is still running.

    A zombie has ended and only waits for its parent to read its exit status, which a
    container's init may never do: it counts as gone, unless its parent is ``reaped_by`` (the
    launcher that waits for it and records how the job ended, with its exit status)."""
    try:
        process = psutil.Process(pid)
        if created is not None and abs(process.create_time() - created) > _START_TIME_TOLERANCE:
            return False
        if process.status() == psutil.STATUS_ZOMBIE:
            return reaped_by is not None and process.ppid() == reaped_by
        return True
    except psutil.NoSuchProcess:  # ZombieProcess included
        return False
    except psutil.AccessDenied:
        # It exists and belongs to someone else: another user's job on a shared machine.
        return True


def pid_alive(pid: int) -> bool:
    """Whether some live (not zombie) process of this host has ``pid``, whichever it is."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True


def started_before_this(pid: int) -> bool:
    """Whether process ``pid`` of this host is running and started before this process (a
    process that took the pid over later did not). Both start times are read now: psutil gives
    them as the boot time plus ticks since boot, and the kernel moves the boot time whenever
    the system clock is stepped, so a start time read earlier and kept would compare against a
    later one across the step (seen on a VM: two jobs stopped at the same instant, their
    launchers "started after them")."""
    try:
        process = psutil.Process(pid)
        return (
            process.status() != psutil.STATUS_ZOMBIE
            and process.create_time() <= psutil.Process().create_time() + _START_TIME_TOLERANCE
        )
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True


def started_by(pid: int, time: float) -> bool:
    """Whether process ``pid`` of this host is running and started by ``time`` (epoch seconds):
    a process that took the pid over later did not."""
    try:
        process = psutil.Process(pid)
        return (
            process.status() != psutil.STATUS_ZOMBIE
            and process.create_time() <= time + _START_TIME_TOLERANCE
        )
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True
