"""Studio's endpoint routes under hostile numbers (the review of issue 16): a window or revision
no endpoint can have is a 4xx with ``error`` and ``detail``, and a refused rollback is audited."""

from __future__ import annotations

import pytest


@pytest.fixture
def ws(trained_copy):
    """A private copy of the trained workspace: endpoint 'churn' at revision 1."""
    return trained_copy[0]


@pytest.mark.parametrize("seconds", ["nan", "inf", "1e300"])
@pytest.mark.parametrize("path", ["/endpoints/churn/compare", "/endpoints/churn/shadow-report"])
def test_an_endpoint_window_that_is_no_number_is_a_400(api_as, path, seconds):
    answer = api_as("viewer").get(path, params={"seconds": seconds})
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"] == "endpoints.bad-window"


def test_rolling_back_to_a_huge_revision_is_a_404_and_audited(api_as, ws):
    answer = api_as("admin").post("/endpoints/churn/rollback", json={"to": 10**30})
    assert answer.status_code == 404, answer.text
    assert answer.json()["error"] == "endpoints.no-such-revision"
    assert ws.audit.page(action="endpoint.rollback").items[0].outcome == "failed"


def test_a_canary_bake_of_infinity_is_a_400_and_starts_no_job(api_as, ws):
    answer = api_as("admin").post(
        "/endpoints/churn/deploy",
        json={
            "model": "churn:1",
            "strategy": "canary:10%:" + "9" * 400 + "s",
            "allow_unapproved": True,
        },
    )
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"] == "endpoints.bad-strategy"
    assert ws.endpoints.get("churn").to_dict().get("active_deployment") is None
