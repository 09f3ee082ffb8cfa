"""The local executor runs each job in a worker process of its own: a crash in the job, a
SIGKILL of the worker, a Ctrl-C (SIGINT), SIGTERM or SIGHUP to the command and a SIGKILL of the
command each leave the job with the right final status, and no job process behind."""

import os
import signal
import threading
import time

import pytest

from conftest import CHURN_CSV
from helpers import start_kiln, wait_for
from kiln.compute._process import is_running
from kiln.errors import JobFailed


@pytest.fixture
def churn_ws(ws):
    ws.data.ingest(CHURN_CSV, name="churn")
    return ws


def test_a_crash_in_the_job_marks_it_failed_with_the_traceback(churn_ws, tmp_path, monkeypatch):
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(
        "import kiln.training\n"
        "def crash(*args):\n"
        "    raise RuntimeError('simulated crash in the estimator')\n"
        "kiln.training.run_training_job = crash  # what the training job kind names\n"
    )
    monkeypatch.setenv("PYTHONPATH", str(hook) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    with pytest.raises(JobFailed, match="simulated crash") as error:
        churn_ws.train("churn", target="churn", algorithm="linear")
    job = churn_ws.jobs.list()[0]
    assert job.status == "Failed"
    # A bug is not the user's error: it keeps the generic code and records none.
    assert error.value.code == "job.failed" and error.value.job_id == job.id
    assert job.failure_code is None and job.failure_class is None
    log = "\n".join(m for *_, m in churn_ws.jobs.logs(job.id))
    assert "Traceback" in log and "RuntimeError: simulated crash" in log


def _signal_worker_when_running(ws, sig):
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        jobs = ws.jobs.list(status="InProgress")
        if jobs:
            time.sleep(0.5)
            from kiln.store import JobRow

            with ws.store.read() as session:
                pid = session.get(JobRow, jobs[0].id).pid
            os.kill(pid, sig)
            return
        time.sleep(0.05)


@pytest.mark.parametrize(
    ("sig", "status"), [(signal.SIGKILL, "Failed"), (signal.SIGINT, "Stopped")]
)
@pytest.mark.solo  # signals and child processes against the clock: run alone
def test_killed_or_interrupted_jobs_are_marked(churn_ws, sig, status):
    ws = churn_ws
    killer = threading.Thread(target=_signal_worker_when_running, args=(ws, sig))
    killer.start()
    with pytest.raises(JobFailed) as error:
        ws.train(
            "churn",
            target="churn",
            algorithm="random_forest",
            hyperparameters={"n_estimators": 3000},
        )
    killer.join()
    job = ws.jobs.list()[0]
    assert job.status == status
    assert error.value.code == f"job.{status.lower()}" and job.failure_code is None
    if sig == signal.SIGKILL:
        assert "SIGKILL" in job.failure_reason


@pytest.mark.solo  # signals and child processes against the clock: run alone
def test_a_job_started_with_sigint_ignored_still_stops_on_sigint(churn_ws):
    """A background shell starts commands with SIGINT ignored, and children inherit that; SIGINT
    is how a job is stopped, so the job's process handles it all the same."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        killer = threading.Thread(
            target=_signal_worker_when_running, args=(churn_ws, signal.SIGINT)
        )
        killer.start()
        with pytest.raises(JobFailed) as error:
            churn_ws.train(
                "churn",
                target="churn",
                algorithm="random_forest",
                hyperparameters={"n_estimators": 3000},
            )
        killer.join()
    finally:
        signal.signal(signal.SIGINT, previous)
    assert error.value.code == "job.stopped"
    assert churn_ws.jobs.list()[0].status == "Stopped"


LONG_TRAINING = (
    *("train", "--data", "churn", "--target", "churn", "--algorithm", "random_forest"),
    *("--hp", "n_estimators=3000"),
)


def _running(ws):
    jobs = ws.jobs.list(status="InProgress")
    return jobs[0] if jobs else None


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
@pytest.mark.solo  # signals and child processes against the clock: run alone
def test_sigterm_or_sighup_to_the_command_stops_its_job(churn_ws, tmp_path, sig):
    config = churn_ws.home / "kiln.toml"
    config.write_text(config.read_text() + "job_heartbeat_seconds = 0.2\n")
    # The CLI inherits SIGHUP's disposition: under nohup it would ignore it, as it should.
    previous = signal.signal(signal.SIGHUP, signal.SIG_DFL)
    try:
        cli = start_kiln(*LONG_TRAINING, home=churn_ws.home, log=tmp_path / "cli.log")
    finally:
        signal.signal(signal.SIGHUP, previous)
    job = wait_for(lambda: _running(churn_ws), what="the job to run")
    # Its process beats while it runs.
    wait_for(lambda: churn_ws.jobs.get(job.id).heartbeat_at > job.heartbeat_at, what="a beat")
    os.kill(cli.pid, sig)
    # The CLI stops the job, then the signal ends it as it would have without a job.
    assert cli.wait(timeout=120) == -sig, (tmp_path / "cli.log").read_text()
    stopped = churn_ws.jobs.get(job.id)
    assert stopped.status == "Stopped", (stopped.failure_code, stopped.failure_reason)
    assert stopped.failure_reason.startswith(f"Stopped: the command running it received {sig.name}")
    assert not is_running(job.pid, None)  # the CLI waited for it
    assert churn_ws.models.list() == []


# A job interrupted where the KeyboardInterrupt turns into another error, as it does inside an
# import of a C extension: a pybind11 module (SciPy's) raises "ImportError: initialization
# failed" from it. A job's process that starts on a busy machine spends seconds importing
# scikit-learn and SciPy, so a stop then ended the job Failed.
INTERRUPTED_IMPORT = """
import time

import kiln.training


def importing(workspace, context, spec):
    context.log("Importing.")
    try:
        while True:
            time.sleep(0.05)
    except KeyboardInterrupt as exc:
        raise ImportError("initialization failed") from exc


kiln.training.run_training_job = importing  # what the training job kind names
"""


@pytest.mark.solo  # signals and child processes against the clock: run alone
def test_a_stop_that_surfaces_as_another_error_still_stops_the_job(churn_ws, tmp_path):
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(INTERRUPTED_IMPORT)
    path = os.pathsep.join(filter(None, [str(hook), os.environ.get("PYTHONPATH")]))
    cli = start_kiln(
        *("train", "--data", "churn", "--target", "churn", "--algorithm", "linear"),
        home=churn_ws.home,
        log=tmp_path / "cli.log",
        env={"PYTHONPATH": path},
    )
    job = wait_for(lambda: _running(churn_ws), what="the job to run")
    wait_for(lambda: churn_ws.jobs.logs(job.id), what="the job to log")
    os.kill(cli.pid, signal.SIGTERM)
    assert cli.wait(timeout=120) == -signal.SIGTERM, (tmp_path / "cli.log").read_text()
    stopped = churn_ws.jobs.get(job.id)
    assert (stopped.status, stopped.failure_code) == ("Stopped", None), stopped.failure_reason
    assert stopped.failure_reason.startswith("Stopped: the command running it received SIGTERM")
    log = [m for *_, m in churn_ws.jobs.logs(job.id)]
    assert "The stop interrupted it with ImportError: initialization failed" in log


@pytest.mark.solo  # signals and child processes against the clock: run alone
def test_a_job_whose_command_is_sigkilled_stops_itself(churn_ws, tmp_path):
    cli = start_kiln(*LONG_TRAINING, home=churn_ws.home, log=tmp_path / "cli.log")
    job = wait_for(lambda: _running(churn_ws), what="the job to run")
    os.kill(cli.pid, signal.SIGKILL)  # the CLI alone: nothing it could do about it
    cli.wait(timeout=60)
    stopped = wait_for(
        lambda: (j := churn_ws.jobs.get(job.id)).status != "InProgress" and j,
        what="the job's process to notice",
    )
    assert stopped.status == "Stopped", stopped.failure_reason
    assert stopped.failure_reason.startswith(
        f"Stopped: the command that started it (pid {cli.pid}) is gone"
    )
    wait_for(lambda: not is_running(job.pid, None), what="the job's process to end")
    assert churn_ws.models.list() == []


@pytest.mark.solo  # signals and child processes against the clock: run alone
def test_the_command_beats_for_its_job_until_the_job_process_starts(churn_ws, tmp_path):
    config = churn_ws.home / "kiln.toml"
    config.write_text(config.read_text() + "job_heartbeat_seconds = 0.2\n")
    hook = tmp_path / "hook"
    hook.mkdir()
    # A job process slow to start (a loaded machine): only job processes have a launcher. The
    # command beats every 0.2 s, so 1.5 s of start-up leaves it several beats to record.
    (hook / "sitecustomize.py").write_text(
        "import os, time\nif os.environ.get('KILN_LAUNCHER_PID'):\n    time.sleep(1.5)\n"
    )
    path = os.pathsep.join(filter(None, [str(hook), os.environ.get("PYTHONPATH")]))
    cli = start_kiln(
        *("train", "--data", "churn", "--target", "churn", "--algorithm", "linear"),
        home=churn_ws.home,
        log=tmp_path / "cli.log",
        env={"PYTHONPATH": path},
    )

    def beaten_while_pending():
        jobs = churn_ws.jobs.list()
        return jobs and jobs[0].status == "Pending" and jobs[0].heartbeat_at > jobs[0].created_at

    wait_for(beaten_while_pending, what="a heartbeat of the Pending job")
    assert cli.wait(timeout=180) == 0, (tmp_path / "cli.log").read_text()
    assert churn_ws.jobs.list()[0].status == "Completed"
