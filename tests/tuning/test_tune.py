"""Tuning jobs: trials are child training jobs; failures, parallelism, warm start and resume."""

from __future__ import annotations

import pytest

from conftest import CHURN_CSV, FIXTURES, copy_workspace
from kiln.errors import StateError
from kiln.tuning import resume, tune


@pytest.fixture
def churn_ws(ws):
    ws.data.ingest(CHURN_CSV, name="churn")
    return ws


SEARCH = dict(
    target="churn",
    algorithm="lightgbm",
    ranges=["learning_rate=0.01:0.3:log"],
    hyperparameters={"n_estimators": 20},
)


@pytest.fixture(scope="module")
def searched(tmp_path_factory):
    """One three-trial search on churn (two at a time), read by the tests that follow; a test
    that tunes again works on a copy."""
    import kiln

    workspace = kiln.Workspace.init(tmp_path_factory.mktemp("searched") / "ws")
    workspace.data.ingest(CHURN_CSV, name="churn")
    result = tune(workspace, "churn", max_jobs=3, max_parallel_jobs=2, **SEARCH)
    yield workspace, result
    workspace.close()


def test_trials_are_child_training_jobs_and_the_best_is_registered(searched):
    churn_ws, result = searched
    trials = result.to_dict()["trials"]
    assert len(trials) == 3 and all(t["status"] == "Completed" for t in trials)
    children = churn_ws.jobs.list(parent_id=result.job.id, limit=None)
    assert {c.id for c in children} == {t["job"] for t in trials}
    assert all(c.spec["hyperparameters"]["n_estimators"] == 20 for c in children)  # fixed
    best = max(trials, key=lambda t: t["value"])
    assert result.best["job"] == best["job"]
    model = churn_ws.models.get(result.best["model"])
    assert model.metrics["validation"]["roc_auc"] == pytest.approx(best["value"])
    assert len(churn_ws.models.list()) == 1  # only the best trial is registered


def test_a_failing_trial_is_marked_failed_and_the_search_goes_on(ws):
    ws.data.ingest(FIXTURES / "housing_prices.csv", name="housing")
    result = tune(
        ws,
        "housing",
        target="price",
        algorithm="knn",
        strategy="grid",
        max_jobs=2,
        ranges=["n_neighbors=5,1000"],  # 1000 neighbours: more than the training rows
    )
    statuses = {
        t["hyperparameters"]["n_neighbors"]: t["status"] for t in result.to_dict()["trials"]
    }
    assert statuses == {5: "Completed", 1000: "Failed"}
    assert result.best["hyperparameters"]["n_neighbors"] == 5


def test_trials_that_fail_on_their_data_are_failed_trials(churn_ws):
    from kiln.errors import JobFailed

    # A DataError raised in a trial's job reaches the tuning job as a DataError with the trial's
    # job_id: a failed trial, as a crash is, so the tuning job fails only for having none left.
    with pytest.raises(JobFailed) as error:
        tune(
            churn_ws,
            "churn",
            target="contract",
            algorithm="lightgbm",
            problem_type="regression",  # 'contract' holds text
            strategy="grid",
            max_jobs=2,
            ranges=["num_leaves=8,31"],
            hyperparameters={"n_estimators": 5},
        )
    assert error.value.code == "tuning.no-trial"
    tuning_job = churn_ws.jobs.list(kind="tuning")[0]
    assert (tuning_job.failure_code, tuning_job.failure_class) == ("tuning.no-trial", "JobFailed")
    trials = churn_ws.jobs.list(parent_id=tuning_job.id, limit=None)
    assert len(trials) == 2
    assert {(t.status, t.failure_code) for t in trials} == {("Failed", "training.bad-target")}


def test_warm_start_and_resume_keep_finished_trials(searched, tmp_path):
    source, first = searched
    churn_ws = copy_workspace(source, tmp_path / "ws")
    second = tune(churn_ws, "churn", max_jobs=1, warm_start=first.job.id, **SEARCH)
    assert len(second.to_dict()["trials"]) == 1
    logs = " ".join(m for *_, m in churn_ws.jobs.logs(second.job.id))
    assert "Warm start: 3 trial(s)" in logs
    with pytest.raises(StateError, match="only a Failed or Stopped job can resume") as error:
        resume(churn_ws, first.job.id)
    assert error.value.code == "jobs.not-resumable"


@pytest.mark.solo  # signals and child processes against the clock: run alone
def test_pruning_stops_losing_boosted_trials(ws):
    ws.data.ingest(FIXTURES / "housing_prices.csv", name="housing")
    result = tune(
        ws,
        "housing",
        target="price",
        algorithm="lightgbm",
        max_jobs=6,
        early_stopping="auto",
        ranges=["learning_rate=0.0005:0.3:log"],
        hyperparameters={"n_estimators": 300, "early_stopping_rounds": 0},
    )
    stopped = [t for t in result.to_dict()["trials"] if t["status"] == "Stopped"]
    assert stopped, "no trial was pruned"
    reason = ws.jobs.get(stopped[0]["job"]).failure_reason
    logs = " ".join(m for *_, m in ws.jobs.logs(stopped[0]["job"]))
    assert "Pruned by its tuning job at iteration" in logs, (reason, logs[-300:])
    assert ws.jobs.metrics(stopped[0]["job"])["live_validation_loss"]


def test_bayesian_search_and_the_report(ws):
    ws.data.ingest(FIXTURES / "housing_prices.csv", name="housing")
    result = tune(
        ws,
        "housing",
        target="price",
        algorithm="linear",
        strategy="bayesian",
        max_jobs=3,  # the fewest completed trials that draw every section (contours need 3)
        ranges=["alpha=0.001:1000:log", "l1_ratio=0:1"],
        hyperparameters={"penalty": "elasticnet"},
    )
    assert result.job.result["objective"] == "rmse" and result.job.result["direction"] == "minimize"
    report = ws.jobs.report(result.job.id, out=ws.home / "tuning.html")
    assert report.sections == [
        "Summary",
        "Trials",
        "Optimisation history",
        "Slice plots",
        "Parameter importance",
        "Contour plots",
    ]


@pytest.mark.solo  # signals and child processes against the clock: run alone
def test_a_killed_tuning_job_resumes_without_repeating_finished_trials(churn_ws):
    import os
    import signal
    import subprocess
    import sys
    import time

    from kiln.store._tables import JobRow

    script = (
        "import kiln; from kiln.tuning import tune; "
        f"ws = kiln.Workspace({str(churn_ws.home)!r}); "
        "tune(ws, 'churn', target='churn', algorithm='lightgbm', max_jobs=4, "
        "ranges=['learning_rate=0.01:0.3:log'], hyperparameters={'n_estimators': 20})"
    )
    process = subprocess.Popen([sys.executable, "-c", script], stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    job = None
    while time.time() < deadline:
        tuning = churn_ws.jobs.list(kind="tuning")
        if tuning and len(churn_ws.jobs.list(parent_id=tuning[0].id, status="Completed")) >= 2:
            job = tuning[0]
            break
        time.sleep(0.2)
    assert job is not None
    with churn_ws.store.read() as session:
        pid = session.get(JobRow, job.id).pid
    os.kill(pid, signal.SIGKILL)  # the tuning job's own process
    process.wait(timeout=60)
    assert churn_ws.jobs.get(job.id).status == "Failed"
    kept = {c.id for c in churn_ws.jobs.list(parent_id=job.id, status="Completed")}
    result = resume(churn_ws, job.id)
    trials = result.to_dict()["trials"]
    completed = {t["job"] for t in trials if t["status"] == "Completed"}
    assert kept <= completed and len(completed) == 4
    logs = " ".join(m for *_, m in churn_ws.jobs.logs(job.id))
    assert f"Resuming: {len(kept)} finished trial(s) are kept." in logs


def test_cli_json_and_bad_options(tmp_path, churn_csv, capsys):
    import json

    import kiln
    from kiln.cli import main

    home = tmp_path / "ws"
    workspace = kiln.Workspace.init(home)  # set up in-process: the CLI under test is tune
    workspace.data.ingest(churn_csv, name="churn")
    workspace.close()
    # The CLI in this process (its trials still run as jobs of their own).
    base = ("--home", str(home), "tune", "--data", "churn", "--target", "churn")
    code = main(
        [
            *base,
            *("--algorithm", "lightgbm", "--max-jobs", "2", "--hp", "n_estimators=20"),
            *("--range", "num_leaves=8,31", "--json"),
        ]
    )
    out, err = capsys.readouterr()
    assert code == 0, out + err
    result = json.loads(out)
    assert result["best"]["model"] == "churn:1" and len(result["trials"]) == 2
    code = main([*base, "--algorithm", "lightgbm", "--range", "num_leaf=8:64"])
    out, err = capsys.readouterr()
    assert code == 2 and "Did you mean 'num_leaves'?" in err + out


@pytest.mark.solo  # signals and child processes against the clock: run alone
def test_a_tune_command_sigkilled_with_its_jobs_resumes_from_the_cli(churn_ws, tmp_path, run_cli):
    import json
    import os
    import signal

    from helpers import start_kiln, wait_for

    cli = start_kiln(
        *("tune", "--data", "churn", "--target", "churn", "--algorithm", "lightgbm"),
        *("--max-jobs", "4", "--hp", "n_estimators=20", "--range", "learning_rate=0.01:0.3:log"),
        home=churn_ws.home,
        log=tmp_path / "tune.log",
        new_session=True,
        # The process group is the point: a job's process forked by a warm worker is in the
        # worker's group, and stops itself (tests/compute/test_zygote.py).
        env={"KILN_WARM_WORKERS": "0"},
    )

    def two_trials_done():
        tuning = churn_ws.jobs.list(kind="tuning")
        done = tuning and churn_ws.jobs.list(parent_id=tuning[0].id, status="Completed")
        return len(done or []) >= 2 and tuning[0]

    job = wait_for(two_trials_done, timeout=240, what="two finished trials")
    os.killpg(cli.pid, signal.SIGKILL)  # the CLI, the tuning job's process and its trial's
    cli.wait(timeout=60)
    # Read again: the tuning job is found lost (its process is gone) and says how to resume.
    lost = wait_for(
        lambda: (j := churn_ws.jobs.get(job.id)).status != "InProgress" and j,
        timeout=60,
        what="the tuning job to be found lost",
    )
    assert (lost.status, lost.failure_code) == ("Failed", "job.lost")
    assert f"Resume it with 'kiln tune --resume {job.id}'." in lost.failure_reason
    kept = {c.id for c in churn_ws.jobs.list(parent_id=job.id, status="Completed")}
    # The resume in this process: the processes under test are the killed ones.
    out = run_cli("tune", "--resume", job.id, "--json", home=churn_ws.home)
    assert out.returncode == 0, out.stdout + out.stderr
    trials = json.loads(out.stdout)["trials"]
    completed = {t["job"] for t in trials if t["status"] == "Completed"}
    assert kept <= completed and len(completed) == 4
    assert churn_ws.jobs.get(job.id).status == "Completed"
    logs = " ".join(m for *_, m in churn_ws.jobs.logs(job.id))
    assert f"Resuming: {len(kept)} finished trial(s) are kept." in logs
    # Every trial ended one way or another: none was left running by the kill.
    assert {c.status for c in churn_ws.jobs.list(parent_id=job.id)} <= {"Completed", "Failed"}


@pytest.mark.solo  # signals and child processes against the clock: run alone
def test_sigterm_to_a_tune_command_stops_its_trials_and_registers_nothing(churn_ws, tmp_path):
    import os
    import signal

    from helpers import start_kiln, wait_for
    from kiln.compute._process import is_running

    cli = start_kiln(
        *("tune", "--data", "churn", "--target", "churn", "--algorithm", "random_forest"),
        # More trials than the test waits for: on a busy machine the first trial seen running
        # was once the last of three, and the search completed before the signal reached it.
        *("--max-jobs", "20", "--hp", "n_estimators=3000", "--range", "max_depth=3,5"),
        home=churn_ws.home,
        log=tmp_path / "tune.log",
    )

    def trial_running():
        trials = churn_ws.jobs.list(kind="training", status="InProgress")
        return trials and trials[0]

    trial = wait_for(trial_running, timeout=240, what="a trial to run")
    os.kill(cli.pid, signal.SIGTERM)
    assert cli.wait(timeout=120) == -signal.SIGTERM, (tmp_path / "tune.log").read_text()
    tuning = churn_ws.jobs.get(trial.parent_id)
    assert tuning.status == "Stopped"
    assert "received SIGTERM" in tuning.failure_reason
    stopped = churn_ws.jobs.get(trial.id)
    assert (stopped.status, stopped.failure_reason) == ("Stopped", "Stopped with its tuning job.")
    assert {c.status for c in churn_ws.jobs.list(parent_id=tuning.id)} == {"Stopped"}
    assert not is_running(trial.pid, None) and not is_running(tuning.pid, None)
    assert churn_ws.models.list() == []
