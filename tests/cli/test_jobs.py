"""``kiln jobs``: list with trials under their job, a readable show, ids by prefix, wait and
cancel with their exit statuses."""

from __future__ import annotations

import json

import pytest

from conftest import CHURN_CSV
from helpers import start_kiln, wait_for


def kiln(capsys, *args: str, home) -> tuple[int, str, str]:
    """Run the CLI in this process: its exit status, stdout and stderr (not a terminal)."""
    from kiln.cli import main

    code = main(["--home", str(home), *args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def tuned(ws):
    """A tuning job with three trials, the best registered; an older failed training job."""
    failed = ws.jobs.create("training", {})
    ws.jobs.finish(failed.id, "Failed", failure_reason="Traceback ...\nValueError: bad things")
    tuning = ws.jobs.create("tuning", {"objective": "roc_auc"})
    trials = []
    for trial, alpha in enumerate((0.000123456, 0.5, 12345.678)):
        job = ws.jobs.create(
            "training",
            {"hyperparameters": {"alpha": alpha, "max_iter": 1000, "penalty": "l2"}},
            parent_id=tuning.id,
        )
        ws.jobs.finish(job.id, "Completed", result={"artifact": f"a{trial}"})
        trials.append(job)
    ws.jobs.finish(
        tuning.id,
        "Completed",
        result={
            "best": {"trial": 1, "job": trials[1].id, "model": "churn:7", "value": 0.8461},
            "trials": [
                {"trial": i, "job": t.id, "hyperparameters": t.spec["hyperparameters"]}
                for i, t in enumerate(trials)
            ],
        },
    )
    return ws, tuning, trials, failed


def test_list_hides_trials_and_counts_them_on_their_job(tuned, capsys):
    ws, tuning, trials, failed = tuned
    code, out, _ = kiln(capsys, "jobs", "list", home=ws.home)
    assert code == 0
    assert tuning.id in out and failed.id in out
    assert not any(t.id in out for t in trials)
    row = next(line for line in out.splitlines() if tuning.id in line)
    assert "model churn:7" in row and row.rstrip(" │").endswith("3")
    failed_row = next(line for line in out.splitlines() if failed.id in line)
    assert "ValueError: bad things" in failed_row


def test_list_all_shows_trials_indented_under_their_job(tuned, capsys):
    ws, tuning, trials, failed = tuned
    code, out, _ = kiln(capsys, "jobs", "list", "--all", home=ws.home)
    assert code == 0
    lines = out.splitlines()
    at = next(i for i, line in enumerate(lines) if tuning.id in line)
    for offset, trial in enumerate(trials, start=1):
        assert f"└ {trial.id}" in lines[at + offset]


def test_list_filters_and_limit(tuned, capsys):
    ws, tuning, trials, failed = tuned
    _, out, _ = kiln(capsys, "jobs", "list", "--status", "failed", "--json", home=ws.home)
    assert [j["id"] for j in json.loads(out)] == [failed.id]
    _, out, _ = kiln(capsys, "jobs", "list", "--kind", "tuning", "--json", home=ws.home)
    assert [j["id"] for j in json.loads(out)] == [tuning.id]
    _, out, _ = kiln(capsys, "jobs", "list", "--limit", "1", "--json", home=ws.home)
    assert [j["id"] for j in json.loads(out)] == [tuning.id]
    _, out, _ = kiln(capsys, "jobs", "list", "--parent", tuning.id[:9], "--json", home=ws.home)
    assert sorted(j["id"] for j in json.loads(out)) == sorted(t.id for t in trials)
    code, _, err = kiln(capsys, "jobs", "list", "--status", "Done", home=ws.home)
    assert code == 2 and "jobs.bad-status" in err


def test_show_prints_fields_not_python_dicts_and_hyperparameters_with_sense(tuned, capsys):
    ws, tuning, trials, _ = tuned
    code, out, _ = kiln(capsys, "jobs", "show", trials[0].id[:10], home=ws.home)
    assert code == 0
    assert "{" not in out and "'" not in out
    assert "alpha=0.0001235, max_iter=1000, penalty=l2" in out
    assert any("started by" in line and tuning.id in line for line in out.splitlines())
    _, out, _ = kiln(capsys, "jobs", "show", tuning.id, home=ws.home)
    assert "{" not in out
    assert "alpha=12346, max_iter=1000" in out and "alpha=0.5," in out
    assert "churn:7" in out and trials[1].id in out


def test_wait_exit_statuses(tuned, capsys):
    ws, tuning, _, failed = tuned
    code, out, _ = kiln(capsys, "jobs", "wait", tuning.id, home=ws.home)
    assert code == 0 and f"Job {tuning.id} Completed" in out and "churn:7" in out
    code, out, _ = kiln(capsys, "jobs", "wait", failed.id, home=ws.home)
    assert code == 4 and "bad things" in out
    pending = ws.jobs.create("training", {})  # this process is in charge: it stays Pending
    code, _, err = kiln(capsys, "jobs", "wait", pending.id, "--timeout", "0.2", home=ws.home)
    assert code == 6 and "still Pending" in err
    code, out, _ = kiln(capsys, "jobs", "cancel", pending.id, home=ws.home)
    assert code == 5 and "Stopped" in out and "Cancelled by" in out
    code, _, err = kiln(capsys, "jobs", "wait", "train-", home=ws.home)
    assert code == 2 and "jobs.short-id" in err


@pytest.mark.solo
def test_cancel_stops_a_running_training_job(tmp_path, capsys):
    """The job's own process is asked to stop (SIGINT); the command that runs the job sees it
    Stopped with the reason given, and registers nothing."""
    from kiln import Workspace

    ws = Workspace.init(tmp_path / "ws")
    ws.data.ingest(CHURN_CSV, name="churn")
    train = start_kiln(
        "train",
        "--data",
        "churn",
        "--target",
        "churn",
        "--algorithm",
        "random_forest",
        "--hp",
        "n_estimators=2000",
        home=ws.home,
        log=tmp_path / "train.log",
    )
    try:
        job = wait_for(
            lambda: next((j for j in ws.jobs.list() if j.status == "InProgress"), None),
            what="the training job to run",
        )
        # The cancel in this process: the processes under test are the command and its job.
        code, out, err = kiln(
            capsys, "jobs", "cancel", job.id[:10], "--reason", "Wrong data set.", home=ws.home
        )
        assert train.wait(timeout=120) == 2
    finally:
        if train.poll() is None:
            train.kill()
    assert code == 5, out + err
    assert f"Job {job.id} Stopped" in out and "Wrong data set." in out
    stopped = ws.jobs.get(job.id)
    assert stopped.status == "Stopped" and stopped.failure_reason == "Wrong data set."
    assert "job.stopped" in (tmp_path / "train.log").read_text()
    assert ws.models.list() == []
    ws.close()


def test_list_counts_the_trials_an_automl_job_ran_in_its_own_process(ws, capsys):
    job = ws.jobs.create("automl", {})
    ws.jobs.finish(job.id, "Completed", result={"model": "churn:9", "trials": 42})
    code, out, _ = kiln(capsys, "jobs", "list", home=ws.home)
    row = next(line for line in out.splitlines() if job.id in line)
    assert code == 0 and "model churn:9" in row and row.rstrip(" │").endswith("42")
