"""A model version's life after training: approval history, serving guards on reject and archive
(with rollback), aliases, deletion, export, and collecting the files no record refers to."""

import os
import sqlite3
import time

import pandas as pd
import pytest
from fastapi.testclient import TestClient

import kiln
from helpers import ON_BOTH_STORES
from kiln.errors import ConfigError, NotFound, StateError


@pytest.fixture
def models(ws, trained):
    """``ws`` with three registered versions of one model, ``m:1``..``m:3``, all Pending."""
    source, result = trained
    model = source.models.load(result.model.ref)
    for _ in range(3):
        ws.models.register(
            model, group="m", algorithm="lightgbm", target="churn", hyperparameters={}, metrics={}
        )
    return ws


@ON_BOTH_STORES
def test_every_approval_decision_is_kept_with_who_when_why(models):
    models.models.approve("m:1", reason="beats the baseline")
    models.models.reject("m:1", reason="leaks the target")
    models.models.approve("m:1", reason="leak fixed upstream, re-checked")
    history = models.models.approvals("m:1")
    assert [(e["status"], e["reason"]) for e in history] == [
        ("Approved", "beats the baseline"),
        ("Rejected", "leaks the target"),
        ("Approved", "leak fixed upstream, re-checked"),
    ]
    assert all("@" in e["by"] and e["at"].endswith("Z") for e in history)
    assert models.models.get("m:1").approval_reason == "leak fixed upstream, re-checked"
    assert models.models.approvals("m:2") == []


def test_rejecting_a_served_version_is_refused_and_changes_nothing(models):
    models.models.approve("m:1")
    models.endpoints.deploy("m:1", endpoint="prod")
    with pytest.raises(StateError, match="served by endpoint\\(s\\) prod") as info:
        models.models.reject("m:1", reason="drift")
    assert info.value.code == "registry.deployed" and "--undeploy" in info.value.message
    assert models.models.get("m:1").approval_status == "Approved"
    assert models.models.approvals("m:1")[-1]["status"] == "Approved"
    with pytest.raises(StateError, match="registry.deployed|served by"):
        models.models.archive("m:1")


@ON_BOTH_STORES
def test_undeploy_rolls_each_endpoint_back_to_its_previous_approved_version(models):
    models.models.approve("m:1")
    models.endpoints.deploy("m:1", endpoint="prod")
    models.endpoints.deploy("m:2", endpoint="prod", allow_unapproved=True)  # never approved
    models.models.approve("m:3")
    models.endpoints.deploy("m:3", endpoint="prod")
    models.endpoints.deploy("m:3", endpoint="canary")  # its only revision: nothing to go back to

    with pytest.raises(StateError, match="no earlier revision") as info:
        models.models.reject("m:3", reason="bad", undeploy=True)
    assert info.value.code == "registry.no-rollback-target"
    # All or nothing: prod was not rolled back either, and m:3 is still Approved.
    assert models.endpoints.get("prod").model == "m:3"
    assert models.models.get("m:3").approval_status == "Approved"

    models.endpoints.delete("canary")
    rejected = models.models.reject("m:3", reason="bad", undeploy=True)
    assert rejected.approval_status == "Rejected"
    prod = models.endpoints.get("prod")
    assert prod.model == "m:1"  # m:2 was skipped: Pending, not Approved
    last = models.endpoints.history("prod")[-1]
    assert last["revision"] == prod.revision == 4
    assert last["note"] == "rolled back to revision 1: m:3 was Rejected"


def test_a_served_version_rolls_back_through_the_server(models):
    from kiln.serving import create_app

    models.models.approve("m:1")
    models.models.approve("m:2")
    models.endpoints.deploy("m:1", endpoint="prod")
    models.endpoints.deploy("m:2", endpoint="prod")
    row = pd.read_csv(
        os.path.join(os.path.dirname(__file__), "..", "..", "examples", "churn", "telco_churn.csv"),
        nrows=1,
    ).drop(columns=["churn"])
    with TestClient(create_app(models), base_url="http://localhost") as client:
        body = row.to_dict(orient="records")

        def served() -> str:
            response = client.post("/endpoints/prod/invocations", json=body)
            assert response.status_code == 200, response.text
            return response.json()["model"]

        assert served() == "m:2"
        models.models.archive("m:2", reason="retired", undeploy=True)
        deadline = time.monotonic() + 10
        while served() != "m:1":
            assert time.monotonic() < deadline, "the server kept serving the archived version"
            time.sleep(0.1)

        models.endpoints.delete("prod")
        deadline = time.monotonic() + 10
        while client.post("/endpoints/prod/invocations", json=body).status_code != 404:
            assert time.monotonic() < deadline, "the server kept serving a deleted endpoint"
            time.sleep(0.1)


@ON_BOTH_STORES
def test_aliases_name_a_version_wherever_a_version_is_taken(models):
    assert models.models.set_alias("m:2", "production").ref == "m:2"
    assert models.models.get("m@production").ref == "m:2"
    assert models.models.get("m@2").ref == "m:2"  # a number after @ is still a version
    models.models.approve("m@production")
    assert models.endpoints.deploy("m@production", endpoint="prod").model == "m:2"

    models.models.set_alias("m:3", "production")  # moving it does not redeploy
    assert models.models.get("m@production").ref == "m:3"
    assert models.endpoints.get("prod").model == "m:2"
    assert models.models.aliases() == {"m@production": "m:3"}

    with pytest.raises(NotFound, match="has no alias 'staging'; its aliases are m@production"):
        models.models.get("m@staging")
    with pytest.raises(NotFound, match="No model named 'ghost'"):
        models.models.get("ghost@production")
    with pytest.raises(ConfigError) as info:
        models.models.set_alias("m:1", "prod-1")
    assert info.value.code == "name.invalid-alias"

    models.models.remove_alias("m@production")
    assert models.models.aliases("m") == {}
    assert models.models.get("m:3").ref == "m:3"


@ON_BOTH_STORES
def test_delete_needs_a_version_refuses_a_served_one_and_removes_the_record(models):
    with pytest.raises(ConfigError, match="'m:1'") as info:
        models.models.delete("m")
    assert info.value.code == "registry.delete-needs-version"
    models.models.approve("m:1")
    models.endpoints.deploy("m:1", endpoint="prod")
    with pytest.raises(StateError, match="served by endpoint\\(s\\) prod"):
        models.models.delete("m:1")

    models.models.set_alias("m:2", "staging")
    models.models.reject("m:2", reason="worse")
    deleted = models.models.delete("m@staging")
    assert deleted.ref == "m:2"
    assert [v.ref for v in models.models.list("m")] == ["m:1", "m:3"]
    assert models.models.aliases() == {}
    with pytest.raises(NotFound, match="has no version 2"):
        models.models.get("m:2")
    # Its file stays (other versions share the same bytes here; gc decides per file).
    assert models.artifacts.exists(deleted.digest)

    models.endpoints.delete("prod")
    models.models.delete("m:1")
    models.models.delete("m:3")
    with pytest.raises(NotFound, match="No model named 'm'"):
        models.models.list("m")


def test_export_writes_the_verified_model_file_that_load_model_reads(models, tmp_path):
    (tmp_path / "out").mkdir()
    path = models.models.export("m:1", tmp_path / "out")  # a folder: the file is named for it
    assert path == tmp_path / "out" / "m-1.kiln-model"
    assert models.models.export("m:2", tmp_path / "m2.pkl") == tmp_path / "m2.pkl"
    model = kiln.load_model(path)
    frame = pd.read_csv(
        os.path.join(os.path.dirname(__file__), "..", "..", "examples", "churn", "telco_churn.csv"),
        nrows=5,
    )
    assert len(model.predict(frame.drop(columns=["churn"]))) == 5
    with pytest.raises(StateError, match="exists") as info:
        models.models.export("m:1", path)
    assert info.value.code == "registry.export-exists"
    assert models.models.export("m:1", path, overwrite=True) == path


def _age(ws, digest: str, seconds: float) -> None:
    key = ws.artifacts._key(digest)
    then = time.time() - seconds
    os.utime(key, (then, then))


def test_gc_finds_only_unreferenced_old_files_and_deletes_them_when_asked(models):
    referenced = models.models.get("m:1").digest
    orphan = models.artifacts.put_bytes(b"left behind by a crashed job")
    fresh = models.artifacts.put_bytes(b"stored a moment ago by a running job")
    for digest in (referenced, orphan):
        _age(models, digest, 7200)

    dry = models.collect_garbage()
    assert [f["digest"] for f in dry["files"]] == [orphan]
    assert dry["deleted"] is False and dry["too_young"] == 1 and dry["kept"] == 1
    assert models.artifacts.exists(orphan)  # a dry run deletes nothing

    done = models.collect_garbage(delete=True)
    assert [f["digest"] for f in done["files"]] == [orphan]
    assert not models.artifacts.exists(orphan)
    assert models.artifacts.exists(fresh) and models.artifacts.exists(referenced)
    models.models.load("m:1")  # still loads

    with pytest.raises(ConfigError) as info:
        models.collect_garbage(min_age_seconds=-1)
    assert info.value.code == "gc.bad-age"


@ON_BOTH_STORES
def test_gc_keeps_files_named_only_inside_json_records(models):
    # A tuning trial's model is recorded only in its job's result; an ingested data set in its
    # version row; both must survive a collection.
    digest = models.artifacts.put_bytes(b"a trial's model")
    job = models.jobs.create("training", {"note": "trial"})
    models.jobs.finish(job.id, "Completed", result={"artifact": digest})
    models.data.ingest(pd.DataFrame({"x": [1, 2]}), name="tiny")
    for stored in models.artifacts.stored():
        os.utime(stored.key, (time.time() - 7200,) * 2)
    assert models.collect_garbage(delete=True)["files"] == []
    assert models.artifacts.exists(digest)
    assert len(models.data.load("tiny")) == 2


def test_migration_keeps_each_versions_approval_as_its_first_event(tmp_path):
    from pathlib import Path

    asset = Path(__file__).resolve().parents[1] / "assets" / "kiln_0006.db"
    home = tmp_path / "old"
    kiln.Workspace.init(home).close()
    db = home / "kiln.db"
    db.write_bytes(asset.read_bytes())
    with sqlite3.connect(db) as connection:
        connection.execute(
            "INSERT INTO model_groups (name, description, created_at, created_by) "
            "VALUES ('old', '', '2026-01-01 00:00:00', 'a@h')"
        )
        for version, status, at in ((1, "Approved", "'2026-01-02 00:00:00'"), (2, None, "NULL")):
            connection.execute(
                'INSERT INTO model_versions (id, "group", version, digest, algorithm, '
                "problem_type, target, signature, metrics, hyperparameters, library_versions, "
                "approval_status, approval_by, approval_at, approval_reason, created_at, "
                f"created_by) VALUES ('model-{version}', 'old', {version}, 'x', 'linear', "
                "'binary', 'y', '{}', '{}', '{}', '{}', "
                f"'{status or 'PendingManualApproval'}', 'b@h', {at}, 'fine', "
                "'2026-01-01 00:00:00', 'a@h')"
            )
    ws = kiln.Workspace(home)
    assert ws.models.approvals("old:1") == [
        {"status": "Approved", "reason": "fine", "at": "2026-01-02T00:00:00Z", "by": "b@h"}
    ]
    assert ws.models.approvals("old:2") == []
    ws.close()


def test_gc_keeps_the_plotly_js_a_stored_profile_page_loads(ws, churn_csv):
    ws.data.ingest(churn_csv, name="churn")
    ws.profile("churn", target="churn")
    for stored in ws.artifacts.stored():
        os.utime(stored.key, (time.time() - 7200,) * 2)
    assert ws.collect_garbage(delete=True)["files"] == []
    profile = ws.profile("churn", target="churn")  # the stored one, read back whole
    assert profile.library_path is not None and profile.library_path.exists()
