"""The model lifecycle through the real CLI: approval history, guarded reject/archive with
--undeploy, aliases, delete, export, endpoints delete, gc, and success criteria as a CI gate."""

from __future__ import annotations

import json
import os
import subprocess
import time

import pandas as pd
import pytest

from conftest import CHURN_CSV


@pytest.fixture
def home(trained_copy):
    ws, _ = trained_copy  # churn:1 (Pending) deployed to 'churn' with allow_unapproved
    return ws.home


@pytest.fixture
def run_kiln(capsys):
    """The CLI in this process (its imports paid once, not per command), returning what
    ``run_kiln`` in tests/helpers.py returns: exit status, stdout and stderr (not a terminal)."""
    from kiln.cli import main

    def run(*args: str, home, check: bool = False) -> subprocess.CompletedProcess:
        code = main(["--home", str(home), *args])
        out, err = capsys.readouterr()
        if check:
            assert code == 0, f"kiln {' '.join(args)} exited {code}:\n{out}\n{err}"
        return subprocess.CompletedProcess(args, code, out, err)

    return run


@pytest.fixture
def kiln_json(run_kiln):
    def run(*args, home):
        result = run_kiln(*args, "--json", home=home)
        assert result.returncode == 0, result.stdout + result.stderr
        return json.loads(result.stdout)

    return run


def test_deploy_takes_approved_models_unless_allowed_and_records_it(home, run_kiln, kiln_json):
    refused = run_kiln("deploy", "churn:1", "--endpoint", "other", home=home)
    assert refused.returncode == 2
    assert "registry.not-approved" in refused.stderr and "--allow-unapproved" in refused.stderr
    kiln_json("deploy", "churn:1", "--endpoint", "other", "--allow-unapproved", home=home)
    shown = run_kiln("endpoints", "show", "other", home=home, check=True).stdout
    assert "--allow-unapproved" in shown


def test_reject_of_a_served_model_is_refused_then_undeploy_rolls_back(home, run_kiln, kiln_json):
    kiln_json("models", "approve", "churn:1", "--reason", "first", home=home)
    kiln_json("deploy", "churn:1", "--endpoint", "churn", home=home)  # revision 2, approved
    refused = run_kiln("models", "reject", "churn:1", "--reason", "drift", home=home)
    assert refused.returncode == 2
    assert "served by endpoint(s) churn" in refused.stderr and "--undeploy" in refused.stderr
    # Revision 1 served churn:1 too, so there is nothing Approved to go back to.
    nothing = run_kiln("models", "reject", "churn:1", "--undeploy", home=home)
    assert nothing.returncode == 2 and "registry.no-rollback-target" in nothing.stderr

    shown = kiln_json("models", "show", "churn:1", home=home)
    assert shown["served_by"] == ["churn"] and shown["approval_status"] == "Approved"
    assert [a["reason"] for a in shown["approvals"]] == ["first"]
    table = run_kiln("models", "show", "churn:1", home=home, check=True).stdout
    assert "Approval history" in table and "first" in table


def test_alias_export_archive_delete_and_gc(home, tmp_path, run_kiln, kiln_json):
    kiln_json("models", "alias", "churn:1", "production", home=home)
    assert kiln_json("models", "show", "churn@production", home=home)["aliases"] == [
        "churn@production"
    ]
    out = tmp_path / "model.pkl"
    exported = run_kiln("models", "export", "churn@production", "-o", str(out), home=home)
    assert exported.returncode == 0, exported.stderr
    assert out.exists() and "pickle" in exported.stderr and "trust" in exported.stderr

    refused = run_kiln("models", "delete", "churn:1", "--yes", home=home)
    assert refused.returncode == 2 and "served by endpoint(s) churn" in refused.stderr
    deleted = run_kiln("endpoints", "delete", "churn", "--yes", home=home)
    assert deleted.returncode == 0 and "Deleted endpoint churn" in deleted.stdout
    archived = kiln_json("models", "archive", "churn:1", "--reason", "retired", home=home)
    assert archived["approval_status"] == "Archived"
    kiln_json("models", "delete", "churn:1", "--yes", home=home)
    assert kiln_json("models", "list", home=home) == []

    # The model file is now referenced by nothing; it is young, so gc keeps it until told.
    dry = kiln_json("gc", home=home)
    assert dry["files"] == [] and dry["too_young"] >= 1
    for path in (home / "artifacts").rglob("*"):
        if path.is_file():
            os.utime(path, (time.time() - 7200,) * 2)
    listed = run_kiln("gc", home=home, check=True).stdout
    assert "Would delete 1 file(s)" in listed and "kiln gc --delete" in listed
    collected = kiln_json("gc", "--delete", home=home)
    assert len(collected["files"]) == 1 and collected["deleted"] is True
    assert kiln_json("data", "show", "churn", home=home)["row_count"] == 7043  # data kept


def test_a_failed_success_criterion_exits_3_and_an_impossible_one_is_refused_up_front(
    tmp_path, run_kiln
):
    import kiln

    ws = kiln.Workspace.init(tmp_path / "ws")
    ws.data.ingest(pd.read_csv(CHURN_CSV, nrows=2000), name="churn")
    base = ("train", "--data", "churn", "--target", "churn", "--algorithm", "linear")
    failed = run_kiln(*base, "--require", "roc_auc>=0.999", home=ws.home)
    assert failed.returncode == 3, failed.stdout + failed.stderr
    assert "Success criteria not met" in failed.stderr
    # With --json the same failure exits 3 too, the criteria in the JSON: one code path for
    # --require and --problem criteria, held by test_problem_criteria.py's
    # test_a_model_that_fails_a_criterion_is_rejected_and_the_cli_shows_why (a training job less).
    passed = run_kiln(*base, "--require", "roc_auc>=0.5", home=ws.home)
    assert passed.returncode == 0, passed.stderr

    jobs_before = len(ws.jobs.list(limit=None))
    wrong = run_kiln(*base, "--require", "rmse<3", home=ws.home)
    assert wrong.returncode == 2 and "A binary model does not report 'rmse'" in wrong.stderr
    assert len(ws.jobs.list(limit=None)) == jobs_before  # no Failed job left behind
    ws.close()
