"""The local executor runs each job in a worker process of its own: a crash in the job, a
SIGKILL of the worker and a Ctrl-C (SIGINT) each leave the job with the right final status."""

import os
import signal
import threading
import time

import pytest

from conftest import CHURN_CSV
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
