import pytest

import kiln
from helpers import ON_BOTH_STORES
from kiln.errors import IntegrityError, NotFound, StateError


@ON_BOTH_STORES
def test_approve_and_reject_record_who_when_why(ws, trained):
    source, result = trained
    ref = ws.models.register(
        source.models.load(result.model.ref),
        group="m",
        algorithm="lightgbm",
        target="churn",
        hyperparameters={},
        metrics={},
    ).ref
    approved = ws.models.approve(ref, reason="beats the baseline")
    assert approved.approval_status == "Approved"
    assert approved.approval_reason == "beats the baseline"
    assert "@" in approved.approval_by and approved.approval_at is not None
    rejected = ws.models.reject(ref, reason="drift")
    assert rejected.approval_status == "Rejected" and rejected.approval_reason == "drift"
    assert rejected.approval_at >= approved.approval_at
    assert ws.models.get(ref).approval_status == "Rejected"  # stored, not just returned


def test_list_get_and_unknown_refs(trained):
    ws, result = trained
    assert result.model.ref in [v.ref for v in ws.models.list()]
    assert ws.models.get("churn").version == result.model.version
    with pytest.raises(NotFound, match="kiln models list"):
        ws.models.get("nope")
    with pytest.raises(NotFound, match="has no version 99"):
        ws.models.get("churn:99")


@ON_BOTH_STORES
def test_deploy_refuses_rejected_and_unapproved_unless_allowed(ws, trained):
    source, result = trained
    # A workspace of its own, so the shared one keeps its approved model.
    model = source.models.load(result.model.ref)
    version = ws.models.register(
        model, group="m", algorithm="lightgbm", target="churn", hyperparameters={}, metrics={}
    )
    ws.models.reject(version.ref, reason="worse than m:0")
    with pytest.raises(StateError, match="Rejected") as info:
        ws.endpoints.deploy(version.ref, endpoint="e")
    assert info.value.code == "registry.rejected"
    ws.models.approve(version.ref)
    assert ws.endpoints.deploy(version.ref, endpoint="e").model == version.ref

    second = ws.models.register(
        model, group="m", algorithm="lightgbm", target="churn", hyperparameters={}, metrics={}
    )
    with pytest.raises(StateError, match="--allow-unapproved") as info:
        ws.endpoints.deploy(second.ref, endpoint="e")
    assert info.value.code == "registry.not-approved"
    assert ws.endpoints.get("e").model == version.ref
    ws.endpoints.deploy(second.ref, endpoint="e", allow_unapproved=True)
    latest = ws.endpoints.history("e")[-1]
    assert latest["note"] == "deployed m:2 while PendingManualApproval (--allow-unapproved)"
    assert latest["variants"][0]["approval_status"] == "PendingManualApproval"

    # A workspace that opts out deploys pending models without the flag, still recorded.
    config = ws.home / "kiln.toml"
    config.write_text(
        config.read_text().replace("require_approval = true", "require_approval = false")
    )
    lenient = kiln.Workspace(ws.home)
    lenient.endpoints.deploy(second.ref, endpoint="lenient")
    assert "require_approval = false" in lenient.endpoints.history("lenient")[-1]["note"]
    lenient.models.archive(version.ref, undeploy=True)
    with pytest.raises(StateError, match="Archived") as info:
        lenient.endpoints.deploy(version.ref, endpoint="lenient", allow_unapproved=True)
    assert info.value.code == "registry.rejected"


def test_a_tampered_model_artifact_is_refused(ws, trained):
    source, result = trained
    model = source.models.load(result.model.ref)
    version = ws.models.register(
        model, group="t", algorithm="lightgbm", target="churn", hyperparameters={}, metrics={}
    )
    path = ws.artifacts.local_path(version.digest)
    data = bytearray(path.read_bytes())
    data[-10] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match="model t:1"):
        ws.models.load(version.ref)
    with pytest.raises(IntegrityError):
        ws.endpoints.deploy(version.ref, endpoint="t", allow_unapproved=True)
    with pytest.raises(NotFound):
        ws.endpoints.get("t")


@ON_BOTH_STORES
def test_deployment_history_and_revisions(ws, trained):
    source, result = trained
    model = source.models.load(result.model.ref)
    first = ws.models.register(
        model, group="h", algorithm="x", target="churn", hyperparameters={}, metrics={}
    )
    second = ws.models.register(
        model, group="h", algorithm="x", target="churn", hyperparameters={}, metrics={}
    )
    ws.endpoints.deploy(first.ref, endpoint="h", allow_unapproved=True)
    endpoint = ws.endpoints.deploy(second.ref, endpoint="h", allow_unapproved=True)
    assert endpoint.revision == 2 and endpoint.model == "h:2"
    assert [h["variants"][0]["model"] for h in ws.endpoints.history("h")] == ["h:1", "h:2"]
