"""Studio's users: names, roles, password hashes, tokens, sessions and the audit log."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from kiln.errors import AccessDenied, ConfigError, NotFound, NotSignedIn, StateError
from kiln.store import UserRow, UserTokenRow, acting_as, now, who
from kiln.users import ROLES, role_allows


def test_roles_are_ordered_each_allowing_what_the_ones_before_it_allow():
    assert ROLES == ("annotator", "viewer", "scientist", "approver", "admin")
    assert role_allows("admin", "viewer")
    assert role_allows("approver", "scientist")
    assert not role_allows("scientist", "approver")
    with pytest.raises(ConfigError, match="Unknown role 'owner'") as caught:
        role_allows("owner", "viewer")
    assert caught.value.code == "users.bad-role"


def test_a_password_is_stored_as_a_salted_scrypt_hash(ws):
    ws.users.add("ana", role="scientist", password="correct horse")
    ws.users.add("bo", role="viewer", password="correct horse")
    with ws.store.read() as session:
        hashes = session.scalars(select(UserRow.password_hash).order_by(UserRow.name)).all()
    assert all(h.startswith("scrypt$16384$8$1$") for h in hashes)
    assert "correct horse" not in "".join(hashes)
    assert hashes[0] != hashes[1]  # each has its own salt
    grant = ws.users.sign_in("ana", "correct horse")
    assert grant.user.name == "ana" and grant.csrf
    with pytest.raises(NotSignedIn) as caught:
        ws.users.sign_in("ana", "wrong horse")
    assert caught.value.code == "studio.bad-credentials"


@pytest.mark.parametrize(
    ("name", "role", "password", "code"),
    [
        ("", "viewer", None, "users.bad-name"),
        ("has space", "viewer", None, "users.bad-name"),
        ("-dash-first", "viewer", None, "users.bad-name"),
        ("x" * 101, "viewer", None, "users.bad-name"),
        ("ok", "owner", None, "users.bad-role"),
        ("ok", "viewer", "short", "users.weak-password"),
    ],
)
def test_bad_users_are_refused_and_nothing_is_stored(ws, name, role, password, code):
    with pytest.raises(ConfigError) as caught:
        ws.users.add(name, role=role, password=password)
    assert caught.value.code == code
    assert ws.users.list() == []


def test_a_name_is_taken_once(ws):
    ws.users.add("ana", role="viewer")
    with pytest.raises(StateError, match="exists already") as caught:
        ws.users.add("ana", role="admin")
    assert caught.value.code == "users.exists"
    with pytest.raises(NotFound) as caught:
        ws.users.set_role("nobody", "admin")
    assert caught.value.code == "users.unknown-user"


def test_a_token_signs_in_until_it_is_revoked_and_only_its_digest_is_stored(ws):
    ws.users.add("ci", role="viewer")
    token = ws.users.create_token("ci")
    assert token.token.startswith(f"kilnu_{token.id}_")
    assert ws.users.token_user(token.token).name == "ci"
    with ws.store.read() as session:
        stored = session.get(UserTokenRow, token.id).secret_hash
    assert token.token.split("_", 2)[2] not in stored
    tampered = token.token[:-2] + ("AA" if not token.token.endswith("AA") else "BB")
    with pytest.raises(NotSignedIn):
        ws.users.token_user(tampered)
    ws.users.revoke_token(token.id)
    with pytest.raises(NotSignedIn):
        ws.users.token_user(token.token)


def test_a_session_expires_when_idle_and_a_new_password_ends_every_session(ws):
    ws.users.add("ana", role="scientist", password="first-password")
    grant = ws.users.sign_in("ana", "first-password")
    user, csrf = ws.users.session_user(grant.session)
    assert (user.name, csrf) == ("ana", grant.csrf)
    with ws.store.write() as session:
        session.execute(update(UserTokenRow).values(expires_at=now() - timedelta(seconds=1)))
    with pytest.raises(NotSignedIn) as caught:
        ws.users.session_user(grant.session)
    assert caught.value.code == "studio.session-expired"
    second = ws.users.sign_in("ana", "first-password")
    ws.users.set_password("ana", "second-password")
    with pytest.raises(NotSignedIn):
        ws.users.session_user(second.session)
    assert ws.users.sign_in("ana", "second-password").user.name == "ana"


def test_a_disabled_user_cannot_sign_in_in_any_way(ws):
    ws.users.add("ana", role="viewer", password="ana-password")
    token = ws.users.create_token("ana").token
    ws.users.disable("ana")
    with pytest.raises(NotSignedIn):
        ws.users.token_user(token)
    with pytest.raises(AccessDenied) as caught:
        ws.users.sign_in("ana", "ana-password")
    assert caught.value.code == "studio.user-disabled"
    with pytest.raises(AccessDenied):
        ws.users.login_link_token("ana")
    ws.users.enable("ana")
    assert ws.users.sign_in("ana", "ana-password").user.active


def test_a_login_link_works_once(ws):
    admin = ws.users.ensure_admin("me")
    assert admin.role == "admin"
    assert ws.users.ensure_admin("me") == admin  # not added twice
    link = ws.users.login_link_token("me").token
    assert ws.users.sign_in_with_token(link).user.name == "me"
    with pytest.raises(NotSignedIn):
        ws.users.sign_in_with_token(link)


def test_acting_as_names_the_studio_user_as_the_maker_of_records(ws):
    plain = who()
    with acting_as("ana (studio)"):
        assert who() == "ana (studio)"
        ws.users.add("made", role="viewer")
    assert who() == plain
    assert ws.users.get("made").created_by == "ana (studio)"


def test_the_audit_log_pages_newest_first_and_filters(ws):
    for i in range(7):
        ws.audit.record("model.approve", f"churn:{i}", reason=f"good {i}", user="ana (studio)")
    ws.audit.record("users.add", "bo", outcome="refused", user="bo (studio)")
    page = ws.audit.page(limit=3)
    assert page.total == 8
    assert [e.target for e in page.items] == ["bo", "churn:6", "churn:5"]
    assert ws.audit.page(action="model.", limit=50).total == 7
    assert ws.audit.page(outcome="refused").items[0].user == "bo (studio)"
    assert [e.target for e in ws.audit.page(q="good 3").items] == ["churn:3"]
    # LIKE's wildcards in q are taken literally
    assert ws.audit.page(q="%").total == 0
    second = ws.audit.page(limit=3, offset=3, sort="id")
    assert [e.target for e in second.items] == ["churn:3", "churn:4", "churn:5"]


def test_the_last_active_admin_cannot_be_demoted_or_disabled(ws):
    ws.users.add("root", role="admin")
    for change in (lambda: ws.users.set_role("root", "approver"), lambda: ws.users.disable("root")):
        with pytest.raises(StateError) as caught:
            change()
        assert caught.value.code == "users.last-admin"
    assert ws.users.get("root").role == "admin" and ws.users.get("root").active
    ws.users.add("second", role="admin")
    ws.users.disable("second")  # a disabled admin does not count as one left
    with pytest.raises(StateError):
        ws.users.set_role("root", "viewer")
    ws.users.enable("second")
    assert ws.users.set_role("root", "viewer").role == "viewer"
    with pytest.raises(StateError):
        ws.users.disable("second")


def test_checking_a_token_or_session_waits_for_no_writer_within_a_minute_of_its_last_use(ws):
    import threading

    ws.users.add("ana", role="viewer", password="ana-password")
    token = ws.users.create_token("ana").token
    grant = ws.users.sign_in("ana", "ana-password")
    ws.users.token_user(token)
    ws.users.session_user(grant.session)  # each use noted once: the next minute's are reads
    checked = []
    with ws.store.write() as session:
        session.execute(update(UserRow).where(UserRow.name == "ana").values(created_by="x"))
        # Another writer (a job, a deploy) holds the store's write lock meanwhile.
        thread = threading.Thread(
            target=lambda: checked.extend(
                [ws.users.token_user(token).name, ws.users.session_user(grant.session)[0].name]
            ),
            daemon=True,
        )
        thread.start()
        thread.join(timeout=5)
        assert not thread.is_alive(), "a token check queued behind another writer"
    assert checked == ["ana", "ana"]


def test_a_tokens_last_use_is_written_at_most_once_a_minute(ws):
    ws.users.add("ana", role="viewer")
    token = ws.users.create_token("ana")

    def last_used():
        with ws.store.read() as session:
            return session.get(UserTokenRow, token.id).last_used_at

    ws.users.token_user(token.token)
    first = last_used()
    assert first is not None
    ws.users.token_user(token.token)
    assert last_used() == first
    with ws.store.write() as session:
        session.get(UserTokenRow, token.id).last_used_at = first - timedelta(seconds=61)
    ws.users.token_user(token.token)
    assert last_used() > first


def test_signing_in_as_an_unknown_user_costs_the_same_hash_as_a_wrong_password(ws, monkeypatch):
    from kiln.users import _users

    ws.users.add("ana", role="viewer", password="ana-password")
    ws.users.add("bo", role="viewer")  # no password: signs in by token only
    checked = []
    real = _users.password_matches
    monkeypatch.setattr(
        _users, "password_matches", lambda *args: checked.append(args[1][:6]) or real(*args)
    )
    for name in ("ana", "nobody", "bo"):
        with pytest.raises(NotSignedIn) as caught:
            ws.users.sign_in(name, "wrong-password")
        assert caught.value.code == "studio.bad-credentials"
    assert checked == ["scrypt"] * 3
