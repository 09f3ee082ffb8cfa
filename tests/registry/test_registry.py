import pytest

import kiln
from kiln.errors import IntegrityError, NotFound, StateError


def test_approve_and_reject_record_who_when_why(trained_copy):
    ws, result = trained_copy  # a copy: the session's shared workspace stays read-only
    ref = result.model.ref
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


def test_deploy_refuses_rejected_and_honours_require_approval(ws, trained):
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
    (ws.home / "kiln.toml").write_text("[kiln]\nrequire_approval = true\n")
    strict = kiln.Workspace(ws.home)
    with pytest.raises(StateError, match="require_approval"):
        strict.endpoints.deploy(second.ref, endpoint="e")
    assert strict.endpoints.get("e").model == version.ref


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
        ws.endpoints.deploy(version.ref, endpoint="t")
    with pytest.raises(NotFound):
        ws.endpoints.get("t")


def test_deployment_history_and_revisions(ws, trained):
    source, result = trained
    model = source.models.load(result.model.ref)
    first = ws.models.register(
        model, group="h", algorithm="x", target="churn", hyperparameters={}, metrics={}
    )
    second = ws.models.register(
        model, group="h", algorithm="x", target="churn", hyperparameters={}, metrics={}
    )
    ws.endpoints.deploy(first.ref, endpoint="h")
    endpoint = ws.endpoints.deploy(second.ref, endpoint="h")
    assert endpoint.revision == 2 and endpoint.model == "h:2"
    assert [h["variants"][0]["model"] for h in ws.endpoints.history("h")] == ["h:1", "h:2"]
