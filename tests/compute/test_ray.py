"""The Ray executor against a real local Ray cluster, started once for this module.

Marked solo: a Ray head and its workers take the machine's cores, so these run after the
parallel suite, alone (Makefile). The cluster runs in a temporary folder, on a free port, and
is stopped at the end.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from conftest import CHURN_CSV
from helpers import free_port
from kiln.errors import ConfigError, JobFailed

pytestmark = pytest.mark.solo


@pytest.fixture(scope="module")
def ray_address():
    """A Ray head with 2 CPUs on a free port of loopback, as its own process group."""
    # Skipped here, at run time, so that KILN_REQUIRE_SERVICES=1 turns the skip into a failure.
    pytest.importorskip("ray", reason="Ray is not installed: pip install 'kiln[ray]'")
    # On loopback, for this test only: Ray's token authentication would depend on whether
    # ~/.ray/auth_token exists (a 'ray start' then turns it on, which this driver does not follow).
    previous_auth_mode = os.environ.get("RAY_AUTH_MODE")
    os.environ["RAY_AUTH_MODE"] = "disabled"
    port = free_port()
    # Short: Ray's Unix sockets live below it, and a socket path has at most 107 bytes.
    temp = tempfile.mkdtemp(prefix="kray", dir="/tmp")
    ray = Path(sys.executable).with_name("ray")
    log = open(Path(temp) / "head.log", "wb")  # noqa: SIM115 - closed at teardown
    head = subprocess.Popen(
        [
            str(ray),
            "start",
            "--head",
            "--block",
            f"--port={port}",
            "--node-ip-address=127.0.0.1",
            "--num-cpus=2",
            "--include-dashboard=false",
            "--disable-usage-stats",
            f"--temp-dir={temp}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("KILN_")},
    )
    address = f"127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while not _answers(port):
        if head.poll() is not None or time.monotonic() > deadline:
            head.kill()
            pytest.fail(f"The Ray head did not start: {(Path(temp) / 'head.log').read_text()}")
        time.sleep(0.2)
    yield address
    import ray as ray_module

    ray_module.shutdown()
    # 'ray start --block' stops its node on Ctrl-C; SIGKILL to its group ends what is left.
    head.send_signal(signal.SIGINT)
    with contextlib.suppress(subprocess.TimeoutExpired):
        head.wait(timeout=5)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(head.pid, signal.SIGKILL)
    head.wait()
    log.close()
    shutil.rmtree(temp, ignore_errors=True)
    if previous_auth_mode is None:
        os.environ.pop("RAY_AUTH_MODE", None)
    else:
        os.environ["RAY_AUTH_MODE"] = previous_auth_mode


def _answers(port: int) -> bool:
    import socket

    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


@pytest.fixture(scope="module")
def ray_home(trained, tmp_path_factory) -> Path:
    """One copy of the ``trained`` workspace for the module: its jobs all have the same
    environment, so Ray reuses its workers from test to test (a new one takes seconds)."""
    from conftest import copy_workspace

    source, _ = trained
    home = tmp_path_factory.mktemp("ray") / "ws"
    copy_workspace(source, home).close()
    return home


@pytest.fixture
def on_ray(ray_address, ray_home, monkeypatch):
    """The module's workspace, running its jobs on the module's Ray cluster; and its model."""
    import kiln

    monkeypatch.setenv("KILN_EXECUTOR", "ray")
    monkeypatch.setenv("KILN_RAY_ADDRESS", ray_address)
    workspace = kiln.Workspace(ray_home)
    yield workspace, workspace.models.get("churn:1")
    workspace.close()


def _ray_worker(pid: int) -> bool:
    import psutil

    return pid != os.getpid() and psutil.Process(pid).name().startswith("ray::")


def test_a_training_job_runs_as_a_ray_task_end_to_end(on_ray):
    workspace, _ = on_ray
    logs: list[str] = []
    result = workspace.train(
        "churn",
        target="churn",
        algorithm="lightgbm",
        hyperparameters={"n_estimators": 20},
        on_log=logs.append,
    )
    job = workspace.jobs.get(result.job.id)
    assert job.status == "Completed"
    assert _ray_worker(job.pid), "the job ran in this process, not in a Ray worker"
    assert workspace.models.get(result.model.ref).metrics
    assert any("Registered" in line or "model" in line.lower() for line in logs), logs


def test_a_pipelines_training_step_runs_as_a_ray_task(on_ray):
    workspace, _ = on_ray
    step = {"type": "train", "data": "churn", "target": "churn", "algorithm": "lightgbm"}
    step["hyperparameters"] = {"n_estimators": 10}
    execution = workspace.pipelines.run({"name": "on_ray", "steps": {"train": step}})
    job = workspace.jobs.get(execution.step("train").job_id)
    assert job.status == "Completed" and job.parent_id == execution.id
    # The worker belonged to the execution's process, gone now: the job's log says where it ran.
    logs = [message for *_, message in workspace.jobs.logs(job.id)]
    assert logs[0].startswith("Running as a Ray task on "), logs[:3]


def test_tuning_trials_run_as_parallel_ray_tasks(on_ray):
    workspace, _ = on_ray
    result = workspace.tune(
        "churn",
        target="churn",
        algorithm="lightgbm",
        max_jobs=4,
        max_parallel_jobs=2,
        ranges=["n_estimators=10,30"],
    )
    trials = workspace.jobs.list(parent_id=result.job.id, limit=None)
    assert len(trials) == 4
    assert all(t.status == "Completed" for t in trials)
    assert all(_ray_worker(t.pid) for t in trials)
    # Two trials at once: some trial started before another had ended.
    spans = sorted((t.started_at, t.ended_at) for t in trials)
    assert any(later[0] < earlier[1] for earlier, later in zip(spans, spans[1:], strict=False))


def test_batch_transform_scores_each_parquet_part_as_a_ray_task(on_ray, tmp_path):
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    workspace, model = on_ray
    table = pacsv.read_csv(CHURN_CSV).slice(0, 300)
    parts = tmp_path / "in"
    parts.mkdir()
    for i in range(3):
        pq.write_table(table.slice(i * 100, 100), parts / f"part-{i}.parquet")
    out = tmp_path / "out"
    logs: list[str] = []
    job = workspace.transform(model.ref, input=parts, output=out, on_log=logs.append)
    assert job.result["rows"] == 300 and job.result["parts"] == 3
    assert sorted(p.name for p in out.iterdir()) == [f"part-{i}.parquet" for i in range(3)]
    scored = pa.concat_tables(pq.read_table(out / f"part-{i}.parquet") for i in range(3))
    assert scored.num_rows == 300
    # The parts in order, each row beside its prediction.
    assert scored.column("tenure").to_pylist() == table.column("tenure").to_pylist()
    assert scored.column_names[-3:] == ["prediction", "probability_No", "probability_Yes"]
    assert any(line.startswith("Progress 100.0%") for line in logs), logs
    # Run again: each part replaced, none added.
    workspace.transform(model.ref, input=parts, output=out)
    assert len(list(out.iterdir())) == 3


def test_a_killed_ray_worker_marks_the_job_failed_with_the_reason(on_ray):
    workspace, _ = on_ray
    errors: list[BaseException] = []

    def train() -> None:
        try:
            workspace.train(
                "churn",
                target="churn",
                algorithm="random_forest",
                hyperparameters={"n_estimators": 4000},
            )
        except BaseException as exc:  # noqa: BLE001 - checked below
            errors.append(exc)

    thread = threading.Thread(target=train)
    thread.start()
    job = None
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        running = [j for j in workspace.jobs.list(limit=None) if j.status == "InProgress"]
        if running and running[0].pid and _ray_worker(running[0].pid):
            job = running[0]
            break
        time.sleep(0.05)
    assert job is not None, "the training job never ran on a Ray worker"
    os.kill(job.pid, signal.SIGKILL)
    thread.join(timeout=60)
    assert not thread.is_alive()
    assert len(errors) == 1 and isinstance(errors[0], JobFailed), errors
    ended = workspace.jobs.get(job.id)
    assert ended.status == "Failed"
    assert "Ray worker" in ended.failure_reason and str(job.pid) in ended.failure_reason


def test_should_stop_cancels_the_ray_task_and_the_job_ends_stopped(on_ray):
    from kiln.compute import executor_for
    from kiln.training import TrainingOptions, training_spec

    workspace, _ = on_ray
    options = TrainingOptions.of(target="churn", hyperparameters={"n_estimators": 4000})
    spec, _ = training_spec(workspace, "churn", algorithm="random_forest", options=options)
    job = workspace.jobs.create("training", spec.to_dict())

    def should_stop() -> str | None:
        running = workspace.jobs.get(job.id).status == "InProgress"
        return "Stopped by the test." if running else None

    with pytest.raises(JobFailed) as caught:
        executor_for(workspace).run(job, should_stop=should_stop)
    assert caught.value.code == "job.stopped"
    ended = workspace.jobs.get(job.id)
    assert ended.status == "Stopped" and ended.failure_reason == "Stopped by the test."


def test_an_address_that_does_not_answer_is_refused_in_seconds(monkeypatch, ws):
    pytest.importorskip("ray", reason="Ray is not installed: pip install 'kiln[ray]'")
    monkeypatch.setenv("KILN_EXECUTOR", "ray")
    address = f"127.0.0.1:{free_port()}"
    monkeypatch.setenv("KILN_RAY_ADDRESS", address)
    import kiln

    workspace = kiln.Workspace(ws.home)
    workspace.data.ingest(CHURN_CSV, name="churn")
    with pytest.raises(ConfigError, match=address) as caught:
        workspace.train("churn", target="churn", algorithm="linear")
    assert caught.value.code == "executor.unreachable"
    assert "ray start --head" in caught.value.message
    monkeypatch.setenv("KILN_RAY_ADDRESS", "no-port-here")
    with pytest.raises(ConfigError, match="'no-port-here' is not HOST:PORT") as caught:
        kiln.Workspace(ws.home).train("churn", target="churn", algorithm="linear")
    assert caught.value.code == "executor.bad-address"
    job = workspace.jobs.list(limit=None)[0]
    assert job.status == "Failed"
    workspace.close()
