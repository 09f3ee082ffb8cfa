"""Warm job workers: a job's process is a fork of a process that has imported what jobs need,
and behaves as the ``python -m kiln.worker JOB`` it replaces: its environment, folder, stdio,
signals, stop and kill; a launcher SIGKILLed; a stale or unreachable worker falls back to a new
process, and one whose sources changed is replaced."""

import fcntl
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

import psutil
import pytest

import kiln
from kiln.compute import LocalExecutor, register_job_kind, serving_thread_environment
from kiln.compute import _zygote as zygote
from kiln.errors import JobFailed
from kiln.store import JobRow

pytestmark = pytest.mark.skipif(not zygote.warm_supported(), reason="warm workers: Linux only")

# A job kind that reports what its process looks like, and runs for spec["seconds"]. The warm
# worker knows it from this sitecustomize (run at its start, on PYTHONPATH), this test process
# from the register_job_kind below.
HOOK = """\
from kiln.compute import register_job_kind

register_job_kind("probe", run="warm_probe:probe", id_prefix="probe")
"""
PROBE = """\
import atexit, os, sys, threading, time

import numpy as np


def probe(workspace, context, spec):
    context.log("probing")
    if spec.get("marker"):  # written as the process exits
        atexit.register(lambda: open(spec["marker"], "w").write("exited"))
    deadline = time.monotonic() + spec.get("seconds", 0)
    while time.monotonic() < deadline:
        time.sleep(0.02)
    print("to stderr", file=sys.stderr)
    return {
        "pid": os.getpid(),
        "ppid": os.getppid(),
        "cwd": os.getcwd(),
        "path0": sys.path[0],
        "argv0": sys.argv[0],
        "value": os.environ.get("WARM_TEST_VALUE"),
        "threads": threading.active_count(),
        "draw": float(np.random.random()),
        "pgid": os.getpgid(0),
        "cpus": sorted(os.sched_getaffinity(0)),
        "nice": os.getpriority(os.PRIO_PROCESS, 0),
    }
"""


def _kill_workers(folder: Path) -> None:
    for process in psutil.process_iter(["cmdline"]):
        if str(folder) in " ".join(process.info["cmdline"] or []):
            process.kill()


@pytest.fixture(scope="module")
def warm(tmp_path_factory):
    """A warm worker of this module's own: its folder (a short path: socket paths are limited
    to 107 bytes), a copy of a source file standing in for kiln's sources, PYTHONPATH with the
    probe job kind. Yields ``(folder, sources, worker_pid, first_job_result)``."""
    folder = Path(tempfile.mkdtemp(prefix="kw-", dir="/tmp"))
    hook = tmp_path_factory.mktemp("hook")
    (hook / "sitecustomize.py").write_text(HOOK)
    (hook / "warm_probe.py").write_text(PROBE)
    sources = tmp_path_factory.mktemp("sources")
    (sources / "module.py").write_text("x = 1\n")
    saved = {
        name: os.environ.get(name)
        for name in ("PYTHONPATH", zygote.WARM_DIR_ENV, "KILN_WARM_WORKERS")
    }
    os.environ.pop("KILN_WARM_WORKERS", None)  # on here, whatever the run's setting
    saved_sources = zygote._SOURCES
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(hook), saved["PYTHONPATH"]]))
    os.environ[zygote.WARM_DIR_ENV] = str(folder)
    zygote._SOURCES = sources
    register_job_kind("probe", run="warm_probe:probe", id_prefix="probe")
    home = tmp_path_factory.mktemp("warm") / "ws"
    workspace = kiln.Workspace.init(home)
    try:
        # The first job finds no worker: it runs as a new process and starts one.
        first = _run_probe(workspace)
        pid = _wait_for_worker(folder)
        yield folder, sources, pid, first
    finally:
        workspace.close()
        _kill_workers(folder)
        zygote._SOURCES = saved_sources
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        shutil.rmtree(folder, ignore_errors=True)


def _wait_for_worker(folder: Path, *, other_than: int | None = None) -> int:
    """The pid of the worker serving in ``folder`` (once its socket is there)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        for process in psutil.process_iter(["cmdline", "pid"]):
            cmdline = " ".join(process.info["cmdline"] or [])
            if "kiln.compute._zygote" in cmdline and str(folder) in cmdline:
                key = cmdline.split("--key ")[1].split()[0]
                if process.info["pid"] != other_than and (folder / f"{key}.sock").exists():
                    return process.info["pid"]
        time.sleep(0.05)
    log = "".join(p.read_text() for p in folder.glob("*.log"))
    raise AssertionError(f"No warm worker started in {folder}: {log}")


def _run_probe(workspace, seconds: float = 0.0, marker: Path | None = None, **options) -> dict:
    job = workspace.jobs.create("probe", {"seconds": seconds, "marker": str(marker or "")})
    return LocalExecutor(workspace).run(job, **options).result


def _launcher_pid(workspace, job_id: str) -> int:
    with workspace.store.read() as session:
        return session.get(JobRow, job_id).launcher_pid


def test_the_first_job_starts_a_warm_worker_and_later_ones_are_its_forks(
    warm, ws, tmp_path, monkeypatch
):
    folder, _, worker, first = warm
    assert first["ppid"] == os.getpid()  # the old way, while the worker imports
    monkeypatch.setenv("WARM_TEST_VALUE", "from the launcher")
    result = _run_probe(ws)
    # A child of the worker, not of this process, which the record names as its reaper.
    assert result["ppid"] == worker != result["pid"]
    job = ws.jobs.list()[0]
    assert _launcher_pid(ws, job.id) == worker
    assert "kiln.compute._zygote" in " ".join(psutil.Process(worker).cmdline())
    # What `python -m kiln.worker JOB` would have had: the launcher's environment and folder.
    assert result["value"] == "from the launcher"
    assert result["cwd"] == result["path0"] == str(tmp_path)
    assert result["argv0"].endswith(os.path.join("kiln", "worker.py"))
    assert result["threads"] == first["threads"]  # the job's own watch thread, nothing else
    assert [m for *_, m in ws.jobs.logs(job.id)] == ["probing"]
    # NumPy's global generator is seeded per process, not inherited; the process ends as the
    # interpreter's exit would, with its atexit functions.
    assert _run_probe(ws, marker=tmp_path / "marker")["draw"] != result["draw"]
    assert (tmp_path / "marker").read_text() == "exited"
    [socket_path] = folder.glob("*.sock")
    assert socket_path.stat().st_mode & 0o777 == 0o600 and folder.stat().st_mode & 0o777 == 0o700


def test_stop_signals_and_kill_through_the_warm_workers_handle(warm, ws):
    _, _, worker, _ = warm
    # A stop the executor asks for (SIGINT to the process, through the handle).
    job = ws.jobs.create("probe", {"seconds": 60})
    asked = []

    def stop_once_running():
        running = ws.jobs.get(job.id).status == "InProgress"
        asked.append(running)
        return "Stopped by the test." if running else None

    with pytest.raises(JobFailed) as error:
        LocalExecutor(ws).run(job, should_stop=stop_once_running, poll_seconds=0.05)
    stopped = ws.jobs.get(job.id)
    assert (stopped.status, stopped.failure_reason, error.value.code) == (
        "Stopped",
        "Stopped by the test.",
        "job.stopped",
    )
    # The handle itself: Popen's poll, wait(timeout), send_signal and returncode.
    for sig, code in ((signal.SIGTERM, 130), (signal.SIGKILL, -signal.SIGKILL)):
        job = ws.jobs.create("probe", {"seconds": 60})
        with tempfile.TemporaryFile() as stderr:
            env = {**os.environ, **ws.environment(), **serving_thread_environment()}
            env["PYTHONUNBUFFERED"] = "1"
            process = zygote.start_warm(job.id, env=env, stderr=stderr.fileno(), idle_seconds=60)
            assert process is not None and psutil.Process(process.pid).ppid() == worker
            assert process.poll() is None
            with pytest.raises(subprocess.TimeoutExpired):
                process.wait(timeout=0.05)
            # Once its function runs (a stop before that ends the process as it would any
            # new process: the worker's own handling of signals is not there yet).
            while not ws.jobs.logs(job.id):
                time.sleep(0.02)
            process.send_signal(sig)
            assert process.wait(timeout=60) == code == process.returncode
            # Until the launcher closes, the ended process is kept for it (a zombie of the
            # worker), so its pid is never another process's.
            assert psutil.Process(process.pid).status() == psutil.STATUS_ZOMBIE
            process.close()
            deadline = time.monotonic() + 30
            while psutil.pid_exists(process.pid) and time.monotonic() < deadline:
                time.sleep(0.02)
            assert not psutil.pid_exists(process.pid)
    assert ws.jobs.get(job.id).status in ("InProgress", "Failed")  # killed: nothing recorded


def test_a_crash_is_recorded_with_what_the_process_printed(warm, ws):
    job = ws.jobs.create("probe", {"seconds": 60})

    def kill_when_running():
        while ws.jobs.get(job.id).status != "InProgress":
            time.sleep(0.02)
        os.kill(ws.jobs.get(job.id).pid, signal.SIGKILL)

    killer = threading.Thread(target=kill_when_running)
    killer.start()
    with pytest.raises(JobFailed):
        LocalExecutor(ws).run(job)
    killer.join()
    failed = ws.jobs.get(job.id)
    assert failed.status == "Failed" and "killed by signal SIGKILL" in failed.failure_reason


def test_a_stale_or_unreachable_worker_falls_back_to_a_new_process(
    warm, ws, tmp_path, monkeypatch, caplog
):
    folder = Path(tempfile.mkdtemp(prefix="kw-", dir="/tmp"))
    try:
        monkeypatch.setenv(zygote.WARM_DIR_ENV, str(folder))
        # The key of the environment LocalExecutor gives a job.
        env = {**os.environ, **serving_thread_environment(), "PYTHONUNBUFFERED": "1"}
        key = zygote.warm_key(env)
        # A socket left by a worker that was killed; a worker starting holds the lock, so none
        # is started here.
        stale = socket.socket(socket.AF_UNIX)
        stale.bind(str(folder / f"{key}.sock"))
        stale.close()
        with open(folder / f"{key}.lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            assert _run_probe(ws)["ppid"] == os.getpid()
            # A socket that answers nothing: no process from it, and one warning however many
            # jobs try.
            (folder / f"{key}.sock").unlink()
            mute = socket.socket(socket.AF_UNIX)
            mute.bind(str(folder / f"{key}.sock"))
            mute.listen()
            closer = threading.Thread(target=lambda: [mute.accept()[0].close() for _ in range(2)])
            closer.start()
            monkeypatch.setattr(zygote, "_warned", set())
            with caplog.at_level("WARNING", logger="kiln.compute"):
                for _ in range(2):
                    assert zygote.start_warm("j", env=env, stderr=2, idle_seconds=60) is None
            closer.join(timeout=30)
            mute.close()
        warnings = [r.getMessage() for r in caplog.records if "warm job worker" in r.getMessage()]
        assert len(warnings) == 1 and "did not start the job" in warnings[0], warnings
        assert not list(folder.glob("*.log"))  # no worker was started
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    # Warm workers off: a new process even with the worker there.
    config = ws.home / "kiln.toml"
    config.write_text(config.read_text() + "warm_workers = false\n")
    assert _run_probe(kiln.Workspace(ws.home))["ppid"] == os.getpid()


def test_a_warm_worker_whose_sources_change_is_replaced(warm, ws):
    folder, sources, old, _ = warm
    assert _run_probe(ws)["ppid"] == old
    later = time.time() + 5
    os.utime(sources / "module.py", (later, later))
    # A new key: this job starts the old way and a new worker; the old one leaves.
    assert _run_probe(ws)["ppid"] == os.getpid()
    new = _wait_for_worker(folder, other_than=old)
    deadline = time.monotonic() + 60
    while psutil.pid_exists(old) and psutil.Process(old).status() != psutil.STATUS_ZOMBIE:
        assert time.monotonic() < deadline, "the stale worker did not exit"
        time.sleep(0.05)
    assert _run_probe(ws)["ppid"] == new


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two CPUs to pin to one")
def test_a_launcher_pinned_to_other_cpus_gets_a_worker_whose_jobs_run_on_them(warm, ws):
    """A forked job keeps its worker's CPUs: one worker shared by launchers pinned to different
    CPUs ran all their jobs on the first one's."""
    folder, _, _, _ = warm
    everywhere = os.sched_getaffinity(0)
    shared = _run_probe(ws)
    assert shared["ppid"] != os.getpid()  # a fork of the module's worker
    assert shared["cpus"] == sorted(everywhere)
    one = {max(everywhere)}
    os.sched_setaffinity(0, one)
    try:
        # Another key: this job starts the old way, and a worker pinned as this launcher is.
        assert _run_probe(ws)["ppid"] == os.getpid()
        pinned = _wait_for_worker(folder, other_than=shared["ppid"])
        assert psutil.Process(pinned).cpu_affinity() == sorted(one)
        result = _run_probe(ws)
        assert result["ppid"] == pinned and result["cpus"] == sorted(one)
    finally:
        os.sched_setaffinity(0, everywhere)
    # The first worker still serves launchers that may use every CPU.
    result = _run_probe(ws)
    assert result["ppid"] == shared["ppid"] and result["cpus"] == sorted(everywhere)


def test_a_job_whose_launcher_is_sigkilled_stops_itself(warm, ws, tmp_path):
    """As `kill -9 -PGID` of the command: the job's process is the worker's child, in the
    worker's process group, so it is not killed with the command; it stops itself."""
    _, sources, _, _ = warm
    launcher = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"""
                import kiln
                from kiln.compute import LocalExecutor, _zygote
                _zygote._SOURCES = {str(sources)!r}  # as this module's worker has them
                ws = kiln.Workspace({str(ws.home)!r})
                LocalExecutor(ws).run(ws.jobs.create("probe", {{"seconds": 120}}))
                """
            ),
        ],
        start_new_session=True,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 120
    while not ws.jobs.list(status="InProgress"):
        assert launcher.poll() is None, launcher.stderr.read().decode()
        assert time.monotonic() < deadline
        time.sleep(0.05)
    job = ws.jobs.list(status="InProgress")[0]
    worker = psutil.Process(psutil.Process(job.pid).ppid())
    assert "kiln.compute._zygote" in " ".join(worker.cmdline())
    os.killpg(launcher.pid, signal.SIGKILL)
    launcher.wait(timeout=60)
    launcher.stderr.close()
    deadline = time.monotonic() + 60
    while (stopped := ws.jobs.get(job.id)).status == "InProgress":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert stopped.status == "Stopped", stopped.failure_reason
    assert stopped.failure_reason.startswith(
        f"Stopped: the command that started it (pid {launcher.pid}) is gone"
    )
