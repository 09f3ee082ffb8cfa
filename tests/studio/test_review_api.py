"""Studio API under hostile input (the review of issue 16): numbers past a 64-bit integer, the
SQL box's limits, the last admin. Every refusal is a 4xx with ``error`` and ``detail``."""

from __future__ import annotations

import pytest


def _refused(answer, status: int, code: str) -> None:
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert body["error"] == code
    assert body["detail"]


@pytest.mark.parametrize(
    "path", ["/data", "/experiments", "/models", "/models/versions", "/endpoints", "/audit"]
)
def test_an_offset_past_a_64_bit_integer_is_a_400(api_as, path):
    _refused(api_as("viewer").get(path, params={"offset": 10**19}), 400, "page.bad-offset")


def test_a_query_box_offset_past_a_64_bit_integer_is_a_400(api_as):
    answer = api_as("viewer").post("/data/query", json={"sql": "SELECT 1", "offset": 10**19})
    _refused(answer, 400, "page.bad-offset")


@pytest.mark.parametrize(
    "path", ["/data/churn/99999999999999999999999", "/models/churn/10000000000000000000000"]
)
def test_a_version_past_a_64_bit_integer_is_a_400(api_as, path):
    _refused(api_as("viewer").get(path), 400, "name.invalid-ref")


def test_the_query_box_runs_one_select_only(api_as):
    viewer = api_as("viewer")
    sneaked = "SELECT 1) AS x; CREATE TABLE y AS SELECT 1; SELECT * FROM (SELECT 1"
    _refused(viewer.post("/data/query", json={"sql": sneaked}), 400, "data.bad-query")
    for sql in ("SET memory_limit = '20GB'", "SELECT 1; SELECT 2"):
        _refused(viewer.post("/data/query", json={"sql": sql}), 400, "data.not-a-select")


def test_a_slow_query_box_query_is_stopped_as_a_400(api_as, ws, monkeypatch):
    import pandas as pd

    monkeypatch.setattr("kiln.data._catalog.QUERY_SECONDS", 0.5)
    ws.data.ingest(pd.DataFrame({"a": range(2000)}), name="t")
    sql = "SELECT sum(x.a * y.a * z.a) FROM t x, t y, t z"
    answer = api_as("viewer").post("/data/query", json={"sql": sql})
    _refused(answer, 400, "data.query-timeout")


def test_an_admin_cannot_demote_or_disable_the_last_admin_from_studio(api_as, ws):
    admin = api_as("admin")
    for change in ({"role": "viewer"}, {"disabled": True}):
        answer = admin.patch("/users/admin", json=change)
        _refused(answer, 409, "users.last-admin")
    assert ws.users.get("admin").role == "admin"
    events = ws.audit.page(action="users.change").items
    assert [e.outcome for e in events[:2]] == ["failed", "failed"]


def test_a_change_that_fails_with_a_bug_is_still_audited(api_as, ws, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(type(ws.users), "create_token", broken)
    answer = api_as("admin").post("/users/viewer/tokens")
    assert answer.status_code == 500
    assert answer.json()["error"] == "internal"
    event = ws.audit.page(action="users.token").items[0]
    assert (event.outcome, event.detail["error"]) == ("failed", "internal")


def test_a_query_box_page_of_huge_values_is_a_400(api_as):
    sql = "SELECT repeat('x', 1000000) AS s FROM range(100)"
    answer = api_as("viewer").post("/data/query", json={"sql": sql, "limit": 100})
    _refused(answer, 400, "data.page-too-large")


@pytest.mark.parametrize("path", ["/search", "/data", "/models", "/audit", "/users"])
def test_a_search_text_too_long_for_a_like_pattern_is_a_400(api_as, path):
    answer = api_as("admin").get(path, params={"q": "a" * 60_000})
    _refused(answer, 400, "page.long-search")


def test_a_wrong_password_is_recorded_in_the_audit_log(studio, users, ws):
    import httpx

    with httpx.Client(base_url=f"{studio.url}/api", timeout=60) as client:
        answer = client.post("/session", json={"name": "admin", "password": "guess-guess"})
    _refused(answer, 401, "studio.bad-credentials")
    event = ws.audit.page(action="session.sign-in").items[0]
    assert (event.target, event.outcome) == ("admin", "refused")
    assert event.detail == {"error": "studio.bad-credentials"}
