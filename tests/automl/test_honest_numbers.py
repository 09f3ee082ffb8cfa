"""AutoML's numbers say where they come from: out-of-fold scores under ``oof``, an optional
held-out test split (``--test-size``, ``test_data=``) scored once at the end, a leaderboard of
the candidates that ran with their trial numbers and hyperparameters, and a report whose profile
warnings and run time agree with the stored profile and the job."""

from __future__ import annotations

import html
import io
import json
from contextlib import redirect_stdout

import pandas as pd
import pytest

from conftest import CHURN_CSV
from helpers import table_rows
from kiln import AutoML
from kiln.cli import main
from kiln.errors import ConfigError, DataError

ROWS = 1500


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory):
    """``kiln automl --test-size 0.2`` on churn, whose profile (with its warnings) is stored."""
    import kiln

    home = tmp_path_factory.mktemp("honest") / "ws"
    ws = kiln.Workspace.init(home)
    frame = pd.read_csv(CHURN_CSV).sample(ROWS, random_state=5).reset_index(drop=True)
    ws.data.ingest(frame, name="churn")
    profile = ws.profile("churn", target="churn")
    ws.close()
    # The CLI in this process (its imports paid once); the search runs as a job of its own.
    out = io.StringIO()
    with redirect_stdout(out):
        code = main(
            [
                *("--home", str(home), "automl", "--data", "churn", "--target", "churn"),
                *("--time-limit", "10", "--algorithms", "linear,lightgbm", "--test-size", "0.2"),
            ]
        )
    assert code == 0, out.getvalue()
    return home, out.getvalue(), profile


@pytest.mark.solo
def test_the_test_split_is_held_out_before_the_search_and_scored_at_the_end(cli_run):
    import kiln

    home, _, _ = cli_run
    ws = kiln.Workspace(home)
    version = ws.models.get("churn:1")
    assert set(version.metrics) == {"oof", "test"}
    # Out-of-fold scores cover the 1200 searched rows only; the test split's 300 rows are
    # scored once, by the final model.
    assert sum(map(sum, version.metrics["oof"]["confusion_matrix"])) == ROWS * 0.8
    assert sum(map(sum, version.metrics["test"]["confusion_matrix"])) == ROWS * 0.2
    job = ws.jobs.get(version.job_id)
    assert job.spec["test_size"] == 0.2 and job.result["test_rows"] == ROWS * 0.2
    assert job.result["test_score"] == version.metrics["test"]["roc_auc"]


@pytest.mark.solo
def test_the_cli_leaderboard_names_trials_hyperparameters_and_the_score_source(cli_run):
    _, stdout, _ = cli_run
    rows = table_rows(stdout)
    header = rows[0]
    assert header[:4] == ["rank", "trial", "algorithm", "roc_auc (out-of-fold)"]
    assert "hyperparameters" in header
    candidates = [dict(zip(header, r, strict=True)) for r in rows[1:]]
    assert candidates[0]["algorithm"] == "ensemble"
    assert len(candidates) > 1
    for row in candidates[1:]:
        assert row["trial"].isdigit() and row["roc_auc (out-of-fold)"]
        assert "recipe=" in row["hyperparameters"]
    assert "out of time" not in stdout
    assert "out-of-fold" in stdout and "on the test split (300 rows)" in stdout
    # The floor check and the calibration, one line each (--algorithms linear,lightgbm: both
    # are floor families, so both default trials ran).
    assert "Floor: roc_auc" in stdout and "best default-settings candidate" in stdout
    assert "Calibration: " in stdout


@pytest.mark.solo
def test_the_report_reads_the_stored_profile_and_the_jobs_clock_and_diagnoses_nothing(
    cli_run, tmp_path, run_cli
):
    import kiln

    home, _, profile = cli_run
    warnings = profile.facts["warnings"]
    assert warnings  # churn's profile warns (missing values, correlated charges, ...)
    ws = kiln.Workspace(home)
    job = ws.jobs.get(ws.models.get("churn:1").job_id)
    out = tmp_path / "automl.html"
    printed = run_cli("jobs", "report", job.id, "--out", str(out), home=home, check=True)
    assert "Diagnosis" not in printed.stdout
    page = out.read_text()
    assert "raised no warnings" not in page
    assert f"{len(warnings)} warning(s) in the stored profile" in page
    for warning in warnings:
        assert html.escape(warning["message"]) in page
    assert f"{job.duration_seconds:.1f} s (job started {job.started_at:%H:%M:%S}" in page
    assert "held out before the search" in page
    # The job itself recorded the stored profile's warnings too.
    details = ws.models.get("churn:1").details
    assert details["profile_warnings"] == [w["message"] for w in warnings]
    assert details["profile"] == profile.id


@pytest.mark.solo
def test_the_report_lists_only_candidates_that_ran(cli_run, tmp_path):
    import kiln
    from conftest import copy_workspace
    from kiln.store import JobRow

    home, _, _ = cli_run
    ws = copy_workspace(kiln.Workspace(home), tmp_path / "ws")
    job_id = ws.models.get("churn:1").job_id
    with ws.store.write() as session:  # a trial the time limit stopped before it started
        row = session.get(JobRow, job_id)
        result = dict(row.result)
        never = {**result["leaderboard"][-1], "trial": 999, "algorithm": "knn"}
        result["leaderboard"] = [*result["leaderboard"], never | {"state": "out of time"}]
        row.result = result
    written = ws.jobs.report(job_id, out=tmp_path / "automl.html")
    page = written.path.read_text()
    assert ">knn<" not in page and ">999<" not in page
    assert "1 candidate(s) stopped by the time limit before they started" in page
    assert written.diagnosis is None


@pytest.mark.solo
def test_models_list_and_show_label_automl_scores_by_source(cli_run, run_cli):
    home, _, _ = cli_run
    rows = table_rows(run_cli("models", "list", home=home, check=True).stdout)
    row = dict(zip(rows[0], rows[1], strict=True))
    assert row["test"] and row["out-of-fold"] and "validation" not in row
    shown = json.loads(run_cli("models", "show", "churn:1", "--json", home=home).stdout)
    assert set(shown["metrics"]) == {"oof", "test"}


def test_test_data_scores_the_final_model_on_another_data_set(tmp_path):
    frame = pd.read_csv(CHURN_CSV).sample(900, random_state=9).reset_index(drop=True)
    automl = AutoML(
        target="churn", time_limit=10, algorithms=["linear"], workspace=str(tmp_path / "ws")
    ).fit(frame.iloc[:700], test_data=frame.iloc[700:])
    metrics = automl.model.metrics
    assert sum(map(sum, metrics["test"]["confusion_matrix"])) == 200
    assert sum(map(sum, metrics["oof"]["confusion_matrix"])) == 700
    assert automl.result.to_dict()["test_rows"] == 200


@pytest.fixture
def churn_ws(ws):
    ws.data.ingest(CHURN_CSV, name="churn")
    return ws


@pytest.mark.parametrize(
    ("options", "code", "words"),
    [
        ({"test_size": 1.5}, "automl.bad-test-size", "between 0 and 1"),
        ({"test_size": 0}, "automl.bad-test-size", "between 0 and 1"),
        ({"test_size": 0.2, "test_data": "churn"}, "automl.bad-test-size", "not both"),
        ({"test_data": "churn"}, "automl.bad-test-data", "is the training data set"),
    ],
)
def test_bad_test_options_fail_before_any_job(churn_ws, options, code, words):
    with pytest.raises(ConfigError) as error:
        churn_ws.automl("churn", target="churn", time_limit=30, **options)
    assert error.value.code == code and words in error.value.message
    assert churn_ws.jobs.list() == []


def test_test_data_without_the_training_columns_is_refused_before_any_job(churn_ws):
    churn_ws.data.ingest(pd.read_csv(CHURN_CSV).drop(columns=["tenure"]), name="other")
    with pytest.raises(DataError) as error:
        churn_ws.automl("churn", target="churn", time_limit=30, test_data="other")
    assert error.value.code == "automl.bad-test-data" and "'tenure'" in error.value.message
    assert churn_ws.jobs.list() == []


def test_an_older_automl_jobs_metrics_show_as_out_of_fold(ws, run_cli):
    job = ws.jobs.create("automl", {"dataset": "churn:1", "target": "churn"})
    ws.jobs.finish(job.id, "Completed", result={"metrics": {"validation": {"roc_auc": 0.9123}}})
    ws.close()
    rows = table_rows(run_cli("jobs", "show", job.id, home=ws.home, check=True).stdout)
    assert ["metric", "out-of-fold"] in rows and ["roc_auc", "0.9123"] in rows
