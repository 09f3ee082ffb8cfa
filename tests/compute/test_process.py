"""A process is its pid, host and start time: a reused pid or a zombie is not a running job."""

import os
import signal
import subprocess
import sys

import psutil

from helpers import wait_for
from kiln.compute._process import host_name, is_running, started_by, this_process


def test_this_process_is_running():
    me = this_process()
    assert (me.pid, me.host) == (os.getpid(), host_name())
    assert is_running(me.pid, me.created)
    assert is_running(me.pid, None)


def test_a_reused_pid_is_another_process():
    me = this_process()
    # The same pid, started an hour earlier: the process recorded then is gone.
    assert not is_running(me.pid, me.created - 3600)


def test_an_ended_process_is_gone():
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    created = psutil.Process(process.pid).create_time()
    process.wait(timeout=60)
    assert not is_running(process.pid, created)


def test_a_zombie_is_gone_unless_its_parent_will_record_its_end():
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    created = psutil.Process(process.pid).create_time()
    try:
        os.kill(process.pid, signal.SIGKILL)
        # Not waited for yet: a zombie, whose exit status this process (its parent) holds.
        wait_for(
            lambda: psutil.Process(process.pid).status() == psutil.STATUS_ZOMBIE,
            what="a zombie",
        )
        assert not is_running(process.pid, created)
        assert is_running(process.pid, created, reaped_by=os.getpid())
        assert not is_running(process.pid, created, reaped_by=os.getpid() + 1)
    finally:
        process.kill()
        process.wait(timeout=60)


def test_started_by_tells_a_process_from_a_later_one_with_its_pid():
    me = this_process()
    assert started_by(me.pid, me.created + 60)
    assert not started_by(me.pid, me.created - 60)


def test_a_step_of_the_system_clock_does_not_make_a_running_launcher_look_newer(monkeypatch):
    """psutil's start times are the boot time plus ticks since boot, and the kernel moves the
    boot time when the clock is stepped: a launcher's start time read after a 30 s step must
    not be compared with this process's start time read before it."""
    from psutil import _pslinux

    from kiln.compute._process import started_before_this

    parent = os.getppid()
    before = this_process().created  # what a job used to keep from its start
    real = _pslinux.boot_time
    monkeypatch.setattr(_pslinux, "boot_time", lambda: real() + 30.0)  # the clock stepped
    assert started_before_this(parent)
    assert not started_by(parent, before)  # the old check: the launcher "started after" us
    assert not started_before_this(2**22 + 7)  # no such process
