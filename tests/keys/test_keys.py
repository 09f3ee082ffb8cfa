"""API key records: shown once, stored as a salted hash, revoked by id."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from kiln.errors import ConfigError, NotFound
from kiln.keys import split_key
from kiln.store import ApiKeyRow


def test_a_key_is_returned_once_and_only_its_salted_hash_is_stored(ws):
    created = ws.keys.create(endpoint="churn", name="dashboard", rate_limit=5)
    key_id, secret = split_key(created.key)
    assert created.key.startswith("kiln_") and key_id == created.id and len(secret) >= 40
    with ws.store.read() as session:
        row = session.scalars(select(ApiKeyRow)).one()
        stored = [str(getattr(row, c.name)) for c in ApiKeyRow.__table__.columns]
    assert not any(secret in value for value in stored)
    assert row.salt.startswith("pbkdf2-sha256:")
    [listed] = ws.keys.list()
    assert listed.id == created.id and not hasattr(listed, "key")
    assert listed.to_dict()["status"] == "active" and "key" not in listed.to_dict()
    assert (listed.endpoint, listed.name, listed.rate_limit) == ("churn", "dashboard", 5.0)
    assert ws.keys.verifiers()[created.id].matches(secret)
    assert not ws.keys.verifiers()[created.id].matches(secret[:-1] + "x")


def test_two_keys_get_different_secrets_and_salts(ws):
    first, second = ws.keys.create(), ws.keys.create()
    assert first.key != second.key
    verifiers = ws.keys.verifiers()
    assert verifiers[first.id].salt != verifiers[second.id].salt


def test_revoke_marks_the_key_and_a_second_revoke_keeps_the_first_time(ws):
    created = ws.keys.create()
    revoked = ws.keys.revoke(created.id)
    assert revoked.revoked and revoked.to_dict()["status"] == "revoked"
    assert ws.keys.revoke(created.id).revoked_at == revoked.revoked_at
    assert ws.keys.verifiers()[created.id].revoked_at == revoked.revoked_at


def test_revoking_an_unknown_key_is_not_found(ws):
    with pytest.raises(NotFound) as caught:
        ws.keys.revoke("key-000000000000")
    assert caught.value.code == "keys.unknown-key" and "kiln keys list" in caught.value.message


@pytest.mark.parametrize("rate_limit", [-1, 0, float("inf"), float("nan"), "fast", True])
def test_a_rate_limit_must_be_a_number_above_zero(ws, rate_limit):
    with pytest.raises(ConfigError) as caught:
        ws.keys.create(rate_limit=rate_limit)
    assert caught.value.code == "keys.bad-rate-limit" and repr(rate_limit) in caught.value.message
    assert ws.keys.list() == []  # nothing half-written


def test_a_key_may_name_an_endpoint_not_deployed_yet_but_not_an_invalid_name(ws):
    assert ws.keys.create(endpoint="later").endpoint == "later"
    with pytest.raises(ConfigError) as caught:
        ws.keys.create(endpoint="not a name")
    assert caught.value.code == "name.invalid"


@pytest.mark.parametrize(
    "key", ["", "kiln_", "kiln_abc", "kiln__secret", "key-1_secret", "Bearer kiln_a_b"]
)
def test_split_key_refuses_what_is_not_a_key(key):
    assert split_key(key) is None


def test_split_key_keeps_underscores_of_the_secret():
    assert split_key("kiln_key-1a_b_c-d") == ("key-1a", "b_c-d")
