"""Jobs whose process is gone are found lost when they are read, instead of staying Pending or
InProgress forever: at once on this host (the process table), after the heartbeat limit for a
process on another host; and each lost job is marked once, however many readers race."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

import kiln
from conftest import CHURN_CSV
from helpers import start_kiln, wait_for
from kiln.compute._process import is_running
from kiln.store import JobRow

# The real CLI, with a hook that makes it hang where it would start the job's process.
HANG_BEFORE_THE_JOB_PROCESS = """
import subprocess
import time

_Popen = subprocess.Popen


class _Hang(_Popen):
    def __init__(self, args, *rest, **options):
        if "kiln.worker" in list(args):
            time.sleep(600)
        super().__init__(args, *rest, **options)


subprocess.Popen = _Hang
"""


def with_settings(workspace, **values):
    """The workspace reopened with these settings added to its kiln.toml."""
    config = workspace.home / "kiln.toml"
    config.write_text(config.read_text() + "".join(f"{k} = {v}\n" for k, v in values.items()))
    workspace.close()
    return kiln.Workspace(workspace.home)


@pytest.fixture
def churn_ws(ws):
    ws.data.ingest(CHURN_CSV, name="churn")
    return ws


def in_progress(workspace):
    jobs = workspace.jobs.list(status="InProgress")
    return jobs[0] if jobs else None


@pytest.mark.solo  # signals and child processes against the clock: run alone
def test_a_command_killed_before_the_job_process_starts_leaves_a_lost_job(
    churn_ws, tmp_path, run_cli
):
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(HANG_BEFORE_THE_JOB_PROCESS)
    path = os.pathsep.join(filter(None, [str(hook), os.environ.get("PYTHONPATH")]))
    cli = start_kiln(
        *("train", "--data", "churn", "--target", "churn", "--algorithm", "linear"),
        home=churn_ws.home,
        log=tmp_path / "cli.log",
        env={"PYTHONPATH": path},
    )
    try:
        # While the command that created it lives, a Pending job is not lost.
        job = wait_for(lambda: churn_ws.jobs.list(status="Pending"), what="the job")[0]
        assert churn_ws.jobs.get(job.id).status == "Pending"
    finally:
        cli.kill()
        cli.wait(timeout=60)
    # The next read finds it lost (the CLI's own), well before job_lost_after_seconds (30 s):
    # on this host the process table says the command is gone.
    shown = json.loads(run_cli("jobs", "show", job.id, "--json", home=churn_ws.home).stdout)
    assert (shown["status"], shown["failure_code"]) == ("Failed", "job.lost")
    reason = shown["failure_reason"]
    assert f"the process that created it (pid {cli.pid} on " in reason
    assert "ended before the job's own process started" in reason and "Run it again." in reason
    assert [m for _, _, level, m in churn_ws.jobs.logs(job.id) if level == "ERROR"] == [reason]


@pytest.mark.solo  # signals and child processes against the clock: run alone
def test_a_command_and_its_job_process_sigkilled_together_leave_a_lost_job(churn_ws, tmp_path):
    cli = start_kiln(
        *("train", "--data", "churn", "--target", "churn", "--algorithm", "random_forest"),
        *("--hp", "n_estimators=3000"),
        home=churn_ws.home,
        log=tmp_path / "cli.log",
        new_session=True,
        # The process group is the point: a job's process forked by a warm worker is in the
        # worker's group, and stops itself (tests/compute/test_zygote.py).
        env={"KILN_WARM_WORKERS": "0"},
    )
    job = wait_for(lambda: in_progress(churn_ws), what="the job to run")
    os.killpg(cli.pid, signal.SIGKILL)  # the CLI and the job's process, as `kill -9 -PGID`
    cli.wait(timeout=60)
    # The job's process was re-parented when the CLI died, so nobody waits for it: it stays a
    # zombie where init does not reap, which counts as gone.
    wait_for(lambda: not is_running(job.pid, None), what="the job's process to end")
    lost = churn_ws.jobs.get(job.id)
    assert (lost.status, lost.failure_code, lost.failure_class) == (
        "Failed",
        "job.lost",
        "JobFailed",
    )
    assert f"its process (pid {job.pid} on {job.host}) ended without recording" in (
        lost.failure_reason
    )
    assert lost.ended_at is not None and churn_ws.models.list() == []


def test_a_job_on_another_host_is_lost_once_its_heartbeat_is_older_than_the_limit(ws):
    ws = with_settings(ws, job_heartbeat_seconds=0.5, job_lost_after_seconds=4)
    job = ws.jobs.create("training", {"note": "runs elsewhere"})
    with ws.store.write() as session:
        row = session.get(JobRow, job.id)
        row.status, row.pid, row.host = "InProgress", 4242, "another-host"
    # While its process beats, it is alive, for longer than the limit.
    beating_until = time.monotonic() + 5
    while time.monotonic() < beating_until:
        assert ws.jobs.heartbeat(job.id)
        assert ws.jobs.get(job.id).status == "InProgress"
        time.sleep(0.3)
    last_beat = ws.jobs.get(job.id).heartbeat_at
    lost = wait_for(lambda: ws.jobs.get(job.id).status == "Failed" and ws.jobs.get(job.id))
    assert (lost.ended_at - last_beat).total_seconds() > 4  # not before the limit
    assert lost.failure_code == "job.lost"
    assert "no heartbeat from its process (pid 4242 on another-host) for " in lost.failure_reason
    assert "(job_lost_after_seconds is 4)" in lost.failure_reason
    # Its process, if it was alive after all, learns that the job is over, and stops.
    assert not ws.jobs.heartbeat(job.id)
    ws.close()


def test_a_pending_job_beaten_for_by_its_launcher_is_not_lost(ws):
    ws = with_settings(ws, job_heartbeat_seconds=0.5, job_lost_after_seconds=4)
    job = ws.jobs.create("training", {})
    with ws.store.write() as session:
        session.get(JobRow, job.id).host = "another-host"
    beating_until = time.monotonic() + 5
    while time.monotonic() < beating_until:
        assert ws.jobs.heartbeat(job.id, status="Pending")
        time.sleep(0.3)
    assert ws.jobs.get(job.id).status == "Pending"
    ws.close()


READER = """
import pathlib, sys, time
from kiln.workspace import Workspace

ws = Workspace(sys.argv[1])
pathlib.Path(sys.argv[2]).touch()
while not pathlib.Path(sys.argv[3]).exists():
    time.sleep(0.01)
for _ in range(3):
    ws.jobs.list(limit=None)
"""


def test_readers_racing_mark_each_lost_job_once(ws, tmp_path):
    creator = "import sys, kiln; ws = kiln.Workspace(sys.argv[1]); "
    creator += "[ws.jobs.create('training', {'i': i}) for i in range(30)]"
    subprocess.run([sys.executable, "-c", creator, str(ws.home)], check=True, timeout=120)
    go = tmp_path / "go"
    readers = [
        subprocess.Popen(
            [sys.executable, "-c", READER, str(ws.home), str(tmp_path / f"ready{n}"), str(go)],
            stderr=subprocess.PIPE,
        )
        for n in range(4)
    ]
    wait_for(lambda: all((tmp_path / f"ready{n}").exists() for n in range(4)), what="readers")
    go.touch()
    errors = [p.communicate(timeout=120)[1].decode() for p in readers]
    assert all(p.returncode == 0 for p in readers), errors
    with ws.store.read() as session:
        rows = session.query(JobRow).all()
    assert len(rows) == 30 and {r.status for r in rows} == {"Failed"}
    for row in rows:
        lines = [m for *_, m in ws.jobs.logs(row.id)]
        assert len(lines) == 1 and lines[0].startswith("Lost: "), lines


def test_a_job_of_an_older_kiln_still_running_here_is_not_lost(ws):
    from datetime import UTC, datetime

    import psutil

    ws = with_settings(ws, job_heartbeat_seconds=0.5, job_lost_after_seconds=1)
    older = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        began = psutil.Process(older.pid).create_time() + 0.1
        job = ws.jobs.create("training", {})
        with ws.store.write() as session:
            row = session.get(JobRow, job.id)
            # As kiln wrote it before migration 0006: a pid, no host, start time or heartbeat.
            row.status, row.pid, row.host, row.pid_created, row.heartbeat_at = (
                "InProgress",
                older.pid,
                None,
                None,
                None,
            )
            row.started_at = datetime.fromtimestamp(began, UTC).replace(tzinfo=None)
        wait_for(lambda: time.time() > began + 2, what="the limit to pass")
        assert ws.jobs.get(job.id).status == "InProgress"
    finally:
        older.kill()
        older.wait(timeout=60)
    lost = ws.jobs.get(job.id)
    assert (lost.status, lost.failure_code) == ("Failed", "job.lost")
    assert "no heartbeat from its process" in lost.failure_reason
    ws.close()


# The real CLI and job process, made to open the window between a job's process ending without
# recording its end (here on purpose; a crash, or a kill after the stop's grace period) and the
# command stopping it recording Stopped: the command waits there until the test says go.
ENDS_UNRECORDED_WHILE_STOPPED = """
import os
import pathlib
import time

import kiln.training
from kiln.compute._jobs import JobService

HOOK = pathlib.Path(__file__).parent


def ends_unrecorded(workspace, context, spec):
    context.log("Running.")
    try:
        while True:
            time.sleep(0.05)
    except KeyboardInterrupt:
        os._exit(1)


_finish = JobService.finish


def finish_when_told(self, job_id, status, **details):
    if status == "Stopped":
        (HOOK / "window").touch()
        while not (HOOK / "go").exists():
            time.sleep(0.05)
    return _finish(self, job_id, status, **details)


kiln.training.run_training_job = ends_unrecorded
JobService.finish = finish_when_told
"""


@pytest.mark.solo  # signals and child processes against the clock: run alone
def test_a_job_being_stopped_whose_process_ended_unrecorded_is_stopped_not_lost(churn_ws, tmp_path):
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(ENDS_UNRECORDED_WHILE_STOPPED)
    path = os.pathsep.join(filter(None, [str(hook), os.environ.get("PYTHONPATH")]))
    cli = start_kiln(
        *("train", "--data", "churn", "--target", "churn", "--algorithm", "linear"),
        home=churn_ws.home,
        log=tmp_path / "cli.log",
        env={"PYTHONPATH": path},
    )
    try:
        job = wait_for(lambda: in_progress(churn_ws), what="the job to run")
        wait_for(lambda: churn_ws.jobs.logs(job.id), what="the job to log")
        os.kill(cli.pid, signal.SIGTERM)
        # The job's process is gone and the command has not recorded the stop yet: a reader
        # now finds the job stopped, as asked, not lost.
        wait_for(lambda: (hook / "window").exists(), what="the command to stop the job")
        assert not is_running(job.pid, None)
        read = churn_ws.jobs.get(job.id)
        assert (read.status, read.failure_code, read.failure_class) == ("Stopped", None, None)
        assert read.failure_reason.startswith("Stopped: the command running it received SIGTERM")
        lines = [(level, m) for _, _, level, m in churn_ws.jobs.logs(job.id)]
        assert any(level == "WARNING" and m.startswith("Lost: ") for level, m in lines), lines
    finally:
        (hook / "go").touch()
        code = cli.wait(timeout=120)
    assert code == -signal.SIGTERM, (tmp_path / "cli.log").read_text()
    assert churn_ws.jobs.get(job.id) == read


def test_a_job_being_stopped_that_fails_ends_stopped(ws):
    job = ws.jobs.create("training", {})
    ws.jobs.request_stop(job.id, "Stopped with its tuning job.")
    assert ws.jobs.finish(job.id, "Failed", failure_reason="Killed.", failure_code="job.failed")
    ended = ws.jobs.get(job.id)
    assert (ended.status, ended.failure_reason, ended.failure_code) == (
        "Stopped",
        "Stopped with its tuning job.",
        None,
    )


def test_a_running_pid_whose_start_time_reads_otherwise_is_lost_only_once_it_stops_beating(ws):
    """A wall-clock jump shifts the start times psutil reports: the heartbeat decides then."""
    ws = with_settings(ws, job_heartbeat_seconds=0.5, job_lost_after_seconds=3)
    job = ws.jobs.create("training", {})
    with ws.store.write() as session:
        row = session.get(JobRow, job.id)
        row.status, row.pid = "InProgress", os.getpid()  # a live pid...
        row.pid_created = row.pid_created - 3600 if row.pid_created else time.time() - 3600
    assert ws.jobs.heartbeat(job.id)
    assert ws.jobs.get(job.id).status == "InProgress"  # ...that beats: alive
    lost = wait_for(lambda: ws.jobs.get(job.id).status == "Failed" and ws.jobs.get(job.id))
    assert lost.failure_code == "job.lost"
    ws.close()
