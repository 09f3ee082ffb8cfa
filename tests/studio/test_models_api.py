"""Studio's models and endpoints API on a real server: paged groups and versions, a version's
card and approvals, approving and rejecting by role, deploying by role and strategy, rollback,
and the 4xx answers for what cannot be done."""

from __future__ import annotations

import httpx
import pytest

import kiln


@pytest.fixture
def ws(two_models_copy, request):
    """churn:1 and churn:2 Approved, churn:3 pending; 'churn' serves churn:1. Parametrized
    indirectly with False: a workspace that does not require approval."""
    workspace, first, _ = two_models_copy
    workspace.models.register(
        workspace.models.load(first),
        group="churn",
        algorithm="lightgbm",
        target="churn",
        hyperparameters={},
        metrics={"test": {"roc_auc": 0.5}},
    )
    if getattr(request, "param", True) is False:
        config = workspace.home / "kiln.toml"
        config.write_text(
            config.read_text().replace("require_approval = true", "require_approval = false")
        )
        workspace = kiln.Workspace(workspace.home)
        assert not workspace.settings.require_approval
    return workspace


def test_groups_and_versions_are_paged_filtered_and_sorted(api_as):
    viewer = api_as("viewer")
    groups = viewer.get("/models").json()
    assert groups["total"] == 1
    churn = groups["items"][0]
    assert (churn["name"], churn["versions"], churn["latest"]["ref"]) == ("churn", 3, "churn:3")
    versions = viewer.get("/models/versions", params={"group": "churn", "limit": 2}).json()
    assert [v["ref"] for v in versions["items"]] == ["churn:3", "churn:2"]
    assert versions["total"] == 3 and versions["sort"] == "-created_at"
    assert "signature" not in versions["items"][0] and "details" not in versions["items"][0]
    pending = viewer.get("/models/churn/versions", params={"status": "PendingManualApproval"})
    assert [v["ref"] for v in pending.json()["items"]] == ["churn:3"]
    by_auc = viewer.get("/models/churn/versions", params={"sort": "test.roc_auc"}).json()
    assert by_auc["items"][0]["ref"] == "churn:3"  # 0.5, below the trained ones
    assert viewer.get("/models/algorithms").json() == {"algorithms": ["lightgbm"]}
    group = viewer.get("/models/churn").json()
    assert group["versions"] == 3 and group["aliases"] == {}


def test_a_version_page_has_its_card_criteria_approvals_endpoints_and_lineage(api_as):
    viewer = api_as("viewer")
    body = viewer.get("/models/churn/1").json()
    assert body["version"]["ref"] == "churn:1"
    assert body["card"]["data_set"] == "churn:1"
    assert body["card"]["headline_metric"]["metric"] == "roc_auc"
    assert body["endpoints"] == ["churn"]
    assert [a["status"] for a in body["approvals"]] == ["Approved"]
    lineage = viewer.get("/models/churn/1/lineage").json()
    kinds = {node["kind"] for node in lineage["nodes"]}
    assert {"dataset_version", "model_version", "endpoint"} <= kinds


def test_unknown_groups_versions_and_endpoints_are_404(api_as):
    viewer = api_as("viewer")
    for path, code in (
        ("/models/nope", "registry.unknown-model"),
        ("/models/nope/versions", "registry.unknown-model"),
        ("/models/churn/99", "registry.unknown-version"),
        ("/models/churn/99/lineage", "registry.unknown-version"),
        ("/endpoints/nope", "serving.unknown-endpoint"),
        ("/endpoints/nope/history", "serving.unknown-endpoint"),
        ("/endpoints/nope/metrics", "serving.unknown-endpoint"),
        ("/endpoints/nope/health", "serving.unknown-endpoint"),
    ):
        answer = viewer.get(path)
        assert answer.status_code == 404, path
        assert answer.json()["error"] == code, path
    answer = viewer.get("/models/versions", params={"status": "Maybe"})
    assert answer.status_code == 400 and answer.json()["error"] == "registry.bad-status"
    answer = viewer.get("/models/versions", params={"sort": "signature"})
    assert answer.status_code == 400 and answer.json()["error"] == "page.bad-sort"


def test_an_approver_approves_and_rejects_with_a_reason_and_it_is_audited(api_as, ws):
    approver = api_as("approver")
    answer = approver.post("/models/churn/3/approve", json={"reason": "beats churn:2"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["approval_status"] == "Approved"
    assert answer.json()["approval_by"] == "approver (studio)"
    for body in ({"reason": "  "}, {}):
        no_reason = approver.post("/models/churn/3/reject", json=body)
        assert no_reason.status_code == 400
        assert no_reason.json()["error"] == "studio.reason-required"
    rejected = approver.post("/models/churn/3/reject", json={"reason": "leaks the label"})
    assert rejected.json()["approval_status"] == "Rejected"
    history = approver.get("/models/churn/3").json()["approvals"]
    assert [(a["status"], a["reason"]) for a in history] == [
        ("Approved", "beats churn:2"),
        ("Rejected", "leaks the label"),
    ]
    events = ws.audit.page(action="model.", limit=10).items
    assert [(e.action, e.target, e.outcome) for e in events] == [
        ("model.reject", "churn:3", "ok"),
        ("model.reject", "churn:3", "failed"),
        ("model.reject", "churn:3", "failed"),
        ("model.approve", "churn:3", "ok"),
    ]
    assert events[0].reason == "leaks the label"


def test_nobody_signed_in_gets_401_and_a_viewer_changes_nothing(api_as, studio, ws):
    with httpx.Client(base_url=f"{studio.url}/api", timeout=60) as anonymous:
        for path in ("/models", "/models/versions", "/endpoints", "/endpoints/churn/history"):
            assert anonymous.get(path).status_code == 401, path
        answer = anonymous.post("/models/churn/3/approve", json={"reason": "x"})
        assert answer.status_code == 401
    viewer = api_as("viewer")
    for path, body in (
        ("/endpoints/churn/deploy", {"model": "churn:2"}),
        ("/endpoints/churn/weights", {"weights": {"primary": 2}}),
        ("/endpoints/churn/promote", {"variant": "primary"}),
        ("/endpoints/churn/rollback", {}),
    ):
        answer = viewer.post(path, json=body)
        assert answer.status_code == 403, path
        assert answer.json()["error"] == "studio.forbidden"
    assert ws.endpoints.get("churn").revision == 1
    refusals = ws.audit.page(outcome="refused", limit=10).items
    assert {e.action for e in refusals} == {
        "endpoint.deploy",
        "endpoint.weights",
        "endpoint.promote",
        "endpoint.rollback",
    }


def test_viewers_and_scientists_cannot_approve(api_as, ws):
    for role in ("viewer", "scientist"):
        for verb in ("approve", "reject"):
            answer = api_as(role).post(f"/models/churn/3/{verb}", json={"reason": "why not"})
            assert answer.status_code == 403
            assert answer.json()["role_needed"] == "approver"
            assert "approver" in answer.json()["detail"]
    assert ws.models.get("churn:3").approval_status == "PendingManualApproval"


def test_rejecting_a_served_version_is_409_unless_undeployed(api_as):
    approver = api_as("approver")
    answer = approver.post("/models/churn/1/reject", json={"reason": "drift"})
    assert answer.status_code == 409 and answer.json()["error"] == "registry.deployed"


def test_deploy_needs_an_approver_where_approval_is_required(api_as, ws):
    scientist = api_as("scientist")
    answer = scientist.post("/endpoints/churn/deploy", json={"model": "churn:2"})
    assert answer.status_code == 403 and answer.json()["role_needed"] == "approver"
    answer = api_as("approver").post("/endpoints/churn/deploy", json={"model": "churn:2"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["endpoint"]["model"] == "churn:2"
    assert ws.endpoints.get("churn").model == "churn:2"
    pending = api_as("approver").post("/endpoints/churn/deploy", json={"model": "churn:3"})
    assert pending.status_code == 409 and pending.json()["error"] == "registry.not-approved"


@pytest.mark.parametrize("ws", [False], indirect=True)
def test_a_scientist_deploys_where_approval_is_not_required_but_not_unapproved(api_as, ws):
    scientist = api_as("scientist")
    answer = scientist.post("/endpoints/churn/deploy", json={"model": "churn:3"})
    assert answer.status_code == 200, answer.text
    assert ws.endpoints.get("churn").model == "churn:3"
    answer = scientist.post(
        "/endpoints/churn/deploy", json={"model": "churn:2", "allow_unapproved": True}
    )
    assert answer.status_code == 403 and answer.json()["role_needed"] == "approver"
    assert api_as("viewer").post("/endpoints/churn/rollback", json={}).status_code == 403
    rolled = scientist.post("/endpoints/churn/rollback", json={"to": 1, "reason": "back"})
    assert rolled.status_code == 200 and rolled.json()["endpoint"]["model"] == "churn:1"


def test_a_rejected_model_and_bad_strategies_are_refused(api_as, ws):
    ws.models.reject("churn:3", reason="bad")
    approver = api_as("approver")
    answer = approver.post("/endpoints/churn/deploy", json={"model": "churn:3"})
    assert answer.status_code == 409 and answer.json()["error"] == "registry.rejected"
    for strategy in ("canary:150%:1m", "canary:0%:1m", "canary:-5%:1m", "sideways"):
        answer = approver.post(
            "/endpoints/churn/deploy", json={"model": "churn:2", "strategy": strategy}
        )
        assert answer.status_code == 400, strategy
        assert answer.json()["error"] == "endpoints.bad-strategy"
    answer = approver.post(
        "/endpoints/churn/deploy", json={"model": "churn:2", "variant": "green", "weight": -1}
    )
    assert answer.status_code == 400 and answer.json()["error"] == "endpoints.bad-weight"
    answer = approver.post("/endpoints/churn/weights", json={"weights": {"primary": -0.5}})
    assert answer.status_code == 400 and answer.json()["error"] == "endpoints.bad-weight"
    answer = approver.post("/endpoints/churn/rollback", json={"to": 7})
    assert answer.status_code == 404 and answer.json()["error"] == "endpoints.no-such-revision"
    assert ws.endpoints.get("churn").revision == 1


def test_a_canary_answers_with_its_job_at_once_and_shows_in_the_history(api_as, ws):
    approver = api_as("approver")
    answer = approver.post(
        "/endpoints/churn/deploy",
        json={"model": "churn:2", "strategy": "canary:10%:1s", "reason": "try it"},
    )
    assert answer.status_code == 200, answer.text
    job = answer.json()["job"]
    assert job["kind"] == "deployment"
    again = approver.post("/endpoints/churn/rollback", json={})
    assert again.status_code == 409
    assert again.json()["error"] == "endpoints.deployment-in-progress"
    assert ws.jobs.wait(job["id"], timeout=120).status == "Completed"
    history = approver.get("/endpoints/churn/history", params={"limit": 3}).json()
    assert history["items"][0]["outcome"] == "completed"
    assert history["items"][0]["strategy"] == "canary:10%:1s"
    assert history["items"][0]["job"] == job["id"]
    assert {r["created_by"] for r in history["items"]} == {"approver (studio)"}
    event = ws.audit.page(action="endpoint.deploy", limit=1).items[0]
    assert (event.outcome, event.reason, event.detail["job"]) == ("ok", "try it", job["id"])


def test_endpoints_list_page_metrics_scaling_and_shadow_report(api_as, ws):
    viewer = api_as("viewer")
    listed = viewer.get("/endpoints").json()
    assert [e["name"] for e in listed["items"]] == ["churn"]
    assert listed["items"][0]["model"] == "churn:1"
    page = viewer.get("/endpoints/churn").json()
    assert page["endpoint"]["revision"] == 1 and page["deploy_role"] == "approver"
    assert viewer.get("/endpoints/churn/health").json() == {"status": "ready"}
    metrics = viewer.get("/endpoints/churn/metrics", params={"seconds": 600, "step": 60})
    assert metrics.status_code == 200 and metrics.json()["variants"] == {}
    bad = viewer.get("/endpoints/churn/metrics", params={"seconds": 600, "step": 0})
    assert bad.status_code == 400 and bad.json()["error"] == "endpoints.bad-window"
    compared = viewer.get("/endpoints/churn/compare").json()
    assert compared["endpoint"] == "churn" and compared["quality"]["variants"] == {}
    scaling = viewer.get("/endpoints/churn/scaling").json()
    assert scaling["events"] == [] and scaling["async_recent"] == []
    no_shadow = viewer.get("/endpoints/churn/shadow-report")
    assert no_shadow.status_code == 409 and no_shadow.json()["error"] == "endpoints.no-shadow"
    ws.endpoints.deploy("churn:2", endpoint="churn", shadow=True)
    report = viewer.get("/endpoints/churn/shadow-report")
    assert report.status_code == 200 and report.headers["content-type"].startswith("text/html")
    policy = report.headers["content-security-policy"]
    assert "sandbox allow-scripts" in policy and "default-src 'none'" in policy
    assert "shadow" in report.text.lower()
