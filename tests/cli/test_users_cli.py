"""``kiln users`` and ``kiln ui``: users from the command line, and Studio started with a
one-time link that signs the OS user in as an admin."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import httpx

from helpers import free_port


def test_users_are_added_listed_changed_and_given_tokens(run_cli, ws):
    home = ws.home
    added = run_cli("users", "add", "ana", "--role", "scientist", home=home, check=True)
    assert "Added user ana as scientist" in added.stdout
    run_cli("users", "set-role", "ana", "approver", home=home, check=True)
    listed = run_cli("users", "list", "--json", home=home, check=True)
    assert '"role": "approver"' in listed.stdout
    token = run_cli("users", "token", "ana", home=home, check=True).stdout
    assert re.search(r"kilnu_tok-[0-9a-f]+_\S+", token)
    refused = run_cli("users", "add", "bo", "--role", "owner", home=home)
    assert refused.returncode == 2
    assert "users.bad-role" in refused.stderr + refused.stdout
    disabled = run_cli("users", "disable", "ana", home=home, check=True)
    assert "disabled" in disabled.stdout


def test_kiln_ui_prints_a_link_that_signs_the_os_user_in_as_an_admin(ws):
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "kiln", "--home", str(ws.home), "ui", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "400"},
    )
    try:
        link = None
        deadline = time.monotonic() + 60
        while link is None and time.monotonic() < deadline:
            line = process.stderr.readline()
            found = re.search(r"(http://127\.0\.0\.1:\d+/api/session/link\?token=\S+)", line)
            link = found.group(1) if found else None
        assert link, "kiln ui printed no sign-in link"
        with httpx.Client(timeout=30) as client:
            for _ in range(200):
                try:
                    answer = client.get(link)
                    break
                except httpx.ConnectError:
                    time.sleep(0.1)
            assert answer.status_code == 303  # to the page itself, signed in
            session = client.get(f"http://127.0.0.1:{port}/api/session").json()
        assert session["user"]["role"] == "admin"
        assert ws.users.get(session["user"]["name"]).role == "admin"
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)
