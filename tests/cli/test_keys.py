"""``kiln keys``: create prints the key once, list never shows a secret, revoke by id."""

from __future__ import annotations

import json
import subprocess

import pytest

from kiln.keys import split_key


@pytest.fixture
def run_kiln(capsys):
    """The CLI in this process: exit status, stdout and stderr."""
    from kiln.cli import main

    def run(*args: str, home) -> subprocess.CompletedProcess:
        code = main(["--home", str(home), *args])
        out, err = capsys.readouterr()
        return subprocess.CompletedProcess(args, code, out, err)

    return run


def test_create_prints_the_key_once_and_list_never_shows_it(ws, run_kiln):
    created = run_kiln("keys", "create", "--name", "dashboard", "--rate-limit", "5", home=ws.home)
    assert created.returncode == 0, created.stderr
    [key] = [line for line in created.stdout.split() if line.startswith("kiln_")]
    key_id, secret = split_key(key)
    assert "Authorization: Bearer" in created.stderr
    listed = run_kiln("keys", "list", home=ws.home)
    assert key_id in listed.stdout and "dashboard" in listed.stdout and "5/s" in listed.stdout
    assert secret not in listed.stdout
    as_json = json.loads(run_kiln("keys", "list", "--json", home=ws.home).stdout)
    assert [k["id"] for k in as_json] == [key_id] and secret not in json.dumps(as_json)


def test_create_as_json_carries_the_key(ws, run_kiln):
    created = json.loads(
        run_kiln("keys", "create", "--endpoint", "churn", "--json", home=ws.home).stdout
    )
    assert split_key(created["key"])[0] == created["id"] and created["endpoint"] == "churn"


def test_a_key_for_an_endpoint_not_deployed_yet_is_created_with_a_note(ws, run_kiln):
    created = run_kiln("keys", "create", "--endpoint", "later", home=ws.home)
    assert created.returncode == 0 and "kiln_" in created.stdout
    assert "no endpoint named later yet" in created.stderr


def test_revoke_then_list_shows_it_revoked(ws, run_kiln):
    key_id = ws.keys.create().id
    revoked = run_kiln("keys", "revoke", key_id, home=ws.home)
    assert revoked.returncode == 0 and f"{key_id} is revoked" in revoked.stdout
    assert "revoked" in run_kiln("keys", "list", home=ws.home).stdout


def test_bad_input_exits_2_with_the_code(ws, run_kiln):
    unknown = run_kiln("keys", "revoke", "key-000000000000", home=ws.home)
    assert unknown.returncode == 2 and "keys.unknown-key" in unknown.stderr
    negative = run_kiln("keys", "create", "--rate-limit", "-1", home=ws.home)
    assert negative.returncode == 2 and "keys.bad-rate-limit" in negative.stderr
    assert "-1" in negative.stderr
    assert ws.keys.list() == []
