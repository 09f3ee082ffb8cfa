"""Signing in and out of Studio's API, roles, CSRF and the audit log, against a real server."""

from __future__ import annotations

from datetime import timedelta

import httpx
from sqlalchemy import update

from kiln.store import UserTokenRow, now


def signed_in_session(studio, name: str) -> tuple[httpx.Client, str]:
    client = httpx.Client(base_url=f"{studio.url}/api", timeout=60)
    answer = client.post("/session", json={"name": name, "password": f"{name}-password"})
    assert answer.status_code == 200, answer.text
    assert "httponly" in answer.headers["set-cookie"].lower()
    assert "samesite=strict" in answer.headers["set-cookie"].lower()
    return client, answer.json()["csrf"]


def test_a_password_signs_in_and_the_session_says_who(studio):
    client, csrf = signed_in_session(studio, "approver")
    session = client.get("/session").json()
    assert session["user"]["name"] == "approver"
    assert session["user"]["role"] == "approver"
    assert session["csrf"] == csrf
    client.close()


def test_nobody_signed_in_is_a_200_with_no_user_and_the_other_routes_401(studio):
    with httpx.Client(base_url=f"{studio.url}/api") as client:
        assert client.get("/session").json()["user"] is None
        answer = client.get("/audit")
        assert answer.status_code == 401
        assert answer.json()["error"] == "studio.not-signed-in"


def test_a_wrong_password_is_refused_without_saying_which_part_was_wrong(studio):
    with httpx.Client(base_url=f"{studio.url}/api") as client:
        wrong = ({"name": "admin", "password": "nope-nope"}, {"name": "ghost", "password": "x"})
        for body in wrong:
            answer = client.post("/session", json=body)
            assert answer.status_code == 401
            assert answer.json() == {
                "error": "studio.bad-credentials",
                "detail": "Wrong user name or password.",
            }
        answer = client.post("/session", json={"name": "admin"})
        assert answer.status_code == 400
        assert answer.json()["error"] == "studio.bad-sign-in"


def test_a_change_without_the_csrf_token_is_refused(studio):
    client, csrf = signed_in_session(studio, "admin")
    body = {"name": "newcomer", "role": "viewer"}
    refused = client.post("/users", json=body)
    assert refused.status_code == 403
    assert refused.json()["error"] == "studio.csrf"
    wrong = client.post("/users", json=body, headers={"x-csrf-token": "forged"})
    assert wrong.status_code == 403
    made = client.post("/users", json=body, headers={"x-csrf-token": csrf})
    assert made.status_code == 201, made.text
    client.close()


def test_an_expired_session_answers_401_saying_so_and_changes_nothing(studio, ws):
    client, csrf = signed_in_session(studio, "admin")
    with ws.store.write() as session:
        session.execute(
            update(UserTokenRow)
            .where(UserTokenRow.purpose == "session")
            .values(expires_at=now() - timedelta(seconds=1))
        )
    answer = client.post(
        "/users", json={"name": "late", "role": "viewer"}, headers={"x-csrf-token": csrf}
    )
    assert answer.status_code == 401
    assert answer.json()["error"] == "studio.session-expired"
    names = [u.name for u in ws.users.list()]
    assert names == ["admin", "annotator", "approver", "scientist", "viewer"]
    client.close()


def test_a_role_below_the_one_needed_gets_403_naming_it_and_the_refusal_is_audited(api_as, ws):
    answer = api_as("approver").post("/users", json={"name": "x", "role": "viewer"})
    assert answer.status_code == 403
    body = answer.json()
    assert body["error"] == "studio.forbidden"
    assert body["role_needed"] == "admin"
    assert "approver is an approver" in body["detail"]
    event = ws.audit.page(limit=1).items[0]
    assert (event.user, event.action, event.target, event.outcome) == (
        "approver (studio)",
        "users.add",
        "x",
        "refused",
    )


def test_an_annotator_reaches_its_session_and_nothing_else(api_as):
    annotator = api_as("annotator")
    assert annotator.get("/session").json()["user"]["role"] == "annotator"
    for path in ("/data", "/jobs", "/models", "/audit"):
        answer = annotator.get(path)
        assert answer.status_code == 403, path
        assert answer.json()["role_needed"] == "viewer"
        assert "annotator" in answer.json()["detail"]


def test_admins_manage_users_and_each_change_is_audited_with_its_reason(api_as, ws):
    admin = api_as("admin")
    assert admin.post("/users", json={"name": "dana", "role": "viewer"}).status_code == 201
    changed = admin.patch("/users/dana", json={"role": "scientist", "reason": "joins the team"})
    assert changed.json()["role"] == "scientist"
    assert admin.patch("/users/dana", json={"disabled": True}).json()["status"] == "disabled"
    listed = admin.get("/users", params={"q": "dan"}).json()
    assert [u["name"] for u in listed["items"]] == ["dana"]
    events = admin.get("/audit", params={"action": "users.", "limit": 10}).json()["items"]
    assert [(e["action"], e["target"], e["outcome"]) for e in events] == [
        ("users.change", "dana", "ok"),
        ("users.change", "dana", "ok"),
        ("users.add", "dana", "ok"),
    ]
    assert events[1]["reason"] == "joins the team"
    assert events[1]["detail"] == {"role": "scientist"}
    # The user who made the record is the Studio user, not the server's OS user.
    assert ws.users.get("dana").created_by == "admin (studio)"


def test_a_login_link_signs_in_once(studio, ws):
    url = studio.login_url("viewer")
    with httpx.Client(timeout=60) as client:
        first = client.get(url, follow_redirects=False)
        assert first.status_code == 303
        assert first.headers["location"] == "/"
        assert client.get(f"{studio.url}/api/session").json()["user"]["name"] == "viewer"
    with httpx.Client(timeout=60) as client:
        again = client.get(url)
        assert again.status_code == 401
        assert again.json()["error"] == "studio.not-signed-in"


def test_a_disabled_user_is_signed_out_everywhere_at_once(api_as, ws):
    viewer = api_as("viewer")
    assert viewer.get("/audit").status_code == 200
    ws.users.disable("viewer")
    answer = viewer.get("/audit")
    assert answer.status_code == 401


def test_paging_parameters_are_checked(api_as):
    viewer = api_as("viewer")
    for params, code in (
        ({"limit": 0}, "page.bad-limit"),
        ({"limit": 501}, "page.bad-limit"),
        ({"offset": -1}, "page.bad-offset"),
        ({"sort": "password"}, "page.bad-sort"),
    ):
        answer = viewer.get("/audit", params=params)
        assert answer.status_code == 400, params
        assert answer.json()["error"] == code


def test_studio_answers_only_its_own_host_names(studio):
    with httpx.Client(timeout=60) as client:
        answer = client.get(f"{studio.url}/api/session", headers={"host": "evil.example"})
        assert answer.status_code == 400


def test_pages_carry_a_content_security_policy_that_allows_nothing_from_elsewhere(studio):
    with httpx.Client(timeout=60) as client:
        page = client.get(f"{studio.url}/")
        assert page.status_code == 200
        policy = page.headers["content-security-policy"]
        assert "default-src 'self'" in policy
        assert "script-src 'self';" in policy
        assert "http" not in page.text.split("<body>")[0].replace("http-equiv", "")
        assert client.get(f"{studio.url}/static/plotly.js").status_code == 200


def test_the_api_is_described_in_openapi(studio):
    with httpx.Client(timeout=60) as client:
        schema = client.get(f"{studio.url}/openapi.json").json()
    assert "/api/session" in schema["paths"]
    assert "/api/audit" in schema["paths"]
    assert client.is_closed


def test_admins_create_list_and_revoke_serving_api_keys_and_others_may_not(api_as, ws):
    made = api_as("admin").post("/keys", json={"endpoint": "churn", "rate_limit": 5})
    assert made.status_code == 201, made.text
    key = made.json()
    assert key["key"].startswith(f"kiln_{key['id']}_")
    listed = api_as("admin").get("/keys").json()["items"]
    assert [k["id"] for k in listed] == [key["id"]]
    assert "key" not in listed[0] and "secret_hash" not in listed[0]
    for role in ("viewer", "scientist", "approver"):
        refused = api_as(role).get("/keys")
        assert refused.status_code == 403
        assert refused.json()["role_needed"] == "admin"
    bad = api_as("admin").post("/keys", json={"rate_limit": -1})
    assert bad.status_code == 400
    assert bad.json()["error"] == "keys.bad-rate-limit"
    revoked = api_as("admin").post(f"/keys/{key['id']}/revoke").json()
    assert revoked["status"] == "revoked"
    assert ws.keys.get(key["id"]).revoked
    unknown = api_as("admin").post("/keys/key-nope/revoke")
    assert unknown.status_code == 404
    events = [(e.action, e.outcome) for e in ws.audit.page(action="keys.").items]
    assert events == [
        ("keys.revoke", "failed"),
        ("keys.revoke", "ok"),
        ("keys.create", "failed"),
        ("keys.list", "refused"),
        ("keys.list", "refused"),
        ("keys.list", "refused"),
        ("keys.create", "ok"),
    ]
