"""Studio's model and endpoint pages in Chromium: the lists, a version's page with its criteria
and card, approving as an approver and not as a viewer, starting a canary and seeing it in the
deployment history, and a rollback. Each page renders without console errors."""

from __future__ import annotations

import httpx
import pytest


@pytest.fixture
def ws(two_models_copy):
    """churn:1 and churn:2 Approved, churn:3 pending (with its success criteria); 'churn' serves
    churn:1."""
    workspace, first, _ = two_models_copy
    version = workspace.models.register(
        workspace.models.load(first),
        group="churn",
        algorithm="lightgbm",
        target="churn",
        hyperparameters={"n_estimators": 60},
        metrics={"test": {"roc_auc": 0.81, "recall": 0.52}},
        dataset_version_id=workspace.models.get(first).dataset_version_id,
    )
    results = [
        {"criterion": "roc_auc>=0.8", "kind": "metric", "split": "test", "metric": "roc_auc",
         "op": ">=", "value": 0.81, "threshold": 0.8, "passed": True, "source": "require"},
        {"criterion": "recall>=0.7", "kind": "metric", "split": "test", "metric": "recall",
         "op": ">=", "value": 0.52, "threshold": 0.7, "passed": False, "source": "require"},
    ]  # fmt: skip
    workspace.models.add_details(version.ref, criteria={"passed": False, "results": results})
    return workspace


def test_the_models_pages_render_and_sort(page):
    page.sign_in("viewer", "/models")
    page.wait_for_selector("#model-groups td a:text-is('churn')")
    page.wait_for_selector("#model-versions td a:text-is('churn:3')")
    page.screenshot_as("models")
    page.select_option("#model-versions select[name=status]", "Approved")
    page.locator("#model-versions td a:text-is('churn:3')").wait_for(state="detached")
    assert page.locator("#model-versions td a:text-is('churn:2')").count() == 1
    page.click("#model-groups td a:text-is('churn')")
    page.wait_for_selector("#group-versions td a:text-is('churn:1')")
    page.click("#group-versions th[data-key='test.roc_auc']")
    page.wait_for_selector("#group-versions th.sorted-asc[data-key='test.roc_auc']")
    page.screenshot_as("model-group")
    page.assert_no_errors()


def test_a_viewer_sees_the_version_but_no_decision_buttons_and_the_api_says_403(
    page, studio, users
):
    page.sign_in("viewer", "/models/churn/3")
    page.wait_for_selector("#criteria table")
    criteria = page.inner_text("#criteria")
    assert "recall>=0.7" in criteria and "fail" in criteria and "pass" in criteria
    assert "churn:1" in page.inner_text("#version-facts")  # the data set version
    page.wait_for_selector("#lineage .lineage-node")
    assert page.locator("#approve-button").count() == 0
    assert page.locator("#reject-button").count() == 0
    assert "approver role" in page.inner_text("#decision-note")
    page.screenshot_as("model-version-viewer")
    answer = httpx.post(
        f"{studio.url}/api/models/churn/3/approve",
        json={"reason": "trying"},
        headers={"authorization": f"Bearer {users['viewer']}"},
    )
    assert answer.status_code == 403 and answer.json()["role_needed"] == "approver"
    page.assert_no_errors()


def test_an_approver_approves_a_version_with_a_reason(page, ws):
    page.sign_in("approver", "/models/churn/3")
    page.wait_for_selector("#approve-button")
    page.fill("#decision-reason", "good enough for a canary")
    page.click("#approve-button")
    page.wait_for_selector("#approvals td:text-is('good enough for a canary')")
    assert ws.models.get("churn:3").approval_status == "Approved"
    assert ws.models.get("churn:3").approval_by == "approver (studio)"
    page.screenshot_as("model-version-approved")
    page.click("#reject-button")  # no reason: refused, said in a toast, nothing changes
    page.wait_for_selector(".toast.bad")
    assert "studio.reason-required" in page.inner_text("#toasts")
    assert ws.models.get("churn:3").approval_status == "Approved"
    page.assert_no_errors(r"status of 400")


def test_an_approver_starts_a_canary_and_sees_it_in_the_history_then_rolls_back(page, ws):
    page.sign_in("approver", "/endpoints")
    page.wait_for_selector("#endpoints-table td a:text-is('churn')")
    page.screenshot_as("endpoints")
    page.click("#endpoints-table td a:text-is('churn')")
    page.wait_for_selector("#canary-form")
    page.fill("#canary-model", "churn:2")
    page.select_option("#canary-strategy", "canary")
    page.fill("#canary-percent", "20")
    page.fill("#canary-bake", "1s")
    page.click("#canary-submit")
    # Each step of the deployment is a revision; the page follows them without a reload.
    page.wait_for_selector("#history-table td:text-is('canary:20%:1s')", timeout=60_000)
    page.wait_for_selector("#history-table .badge:text-is('completed')", timeout=90_000)
    assert ws.endpoints.get("churn").model == "churn:2"
    page.wait_for_selector("#variants td a:text-is('churn:2')")
    page.wait_for_selector("#chart-timeline .main-svg")
    page.screenshot_as("endpoint-after-canary")
    revision = ws.endpoints.get("churn").revision
    page.select_option("#rollback-revision", "1")
    page.click("#rollback-submit")
    page.wait_for_selector(f"#history-table td:text-is('{revision + 1}')")
    page.wait_for_selector("#history-table td:has-text('rollback to revision 1')")
    assert ws.endpoints.get("churn").model == "churn:1"
    event = ws.audit.page(action="endpoint.", limit=2).items
    assert [(e.action, e.outcome) for e in event] == [
        ("endpoint.rollback", "ok"),
        ("endpoint.deploy", "ok"),
    ]
    page.assert_no_errors()


def test_a_scientist_sees_the_endpoint_but_not_the_deploy_forms(page, ws):
    ws.endpoints.deploy("churn:2", endpoint="churn", shadow=True)
    page.sign_in("scientist", "/endpoints/churn")
    page.wait_for_selector("#deploy-note")
    assert "approver" in page.inner_text("#deploy-note")
    assert page.locator("#canary-form").count() == 0
    assert page.locator("#promote-button").count() == 0
    page.wait_for_selector("#chart-invocations .main-svg")
    page.wait_for_selector("#quality-refresh")
    frame = page.frame_locator("#shadow-report")
    frame.locator("text=Shadow test of shadow on churn").wait_for()
    assert "requests compared" in frame.locator("body").inner_text()
    page.screenshot_as("endpoint-scientist")
    page.assert_no_errors()


def test_an_approver_deploys_a_version_to_a_new_endpoint_from_its_page(page, ws):
    page.sign_in("approver", "/models/churn/2")
    page.wait_for_selector("#deploy-form")
    page.fill("#deploy-endpoint", "churn_eu")
    page.select_option("#deploy-strategy", "all-at-once")
    assert page.locator("#deploy-percent").is_hidden()
    page.screenshot_as("model-version-deploy")
    page.click("#deploy-submit")
    page.wait_for_selector("#variants td a:text-is('churn:2')")
    assert ws.endpoints.get("churn_eu").model == "churn:2"
    assert ws.endpoints.history("churn_eu")[0]["created_by"] == "approver (studio)"
    page.assert_no_errors()
