"""The queue of asynchronous invocations: submitting, leases, retries and the attempt cap, and the
endpoint's asynchronous settings."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from datetime import timedelta

import pytest
from sqlalchemy import update

from kiln.errors import ConfigError, NotFound, RequestError
from kiln.store import AsyncInvocationRow, now


@pytest.fixture
def ws(trained_copy):
    return trained_copy[0]


def _expire_leases(ws) -> None:
    with ws.store.write() as session:
        session.execute(
            update(AsyncInvocationRow).values(lease_expires_at=now() - timedelta(seconds=1))
        )


def test_a_leased_invocation_is_taken_by_one_server_only_until_its_lease_runs_out(ws):
    queue = ws.endpoints.async_queue
    submitted = ws.endpoints.async_invoke("churn", b'[{"tenure": 1}]')
    assert submitted.status == "Pending" and submitted.content_type == "application/json"
    first = queue.claim(["churn"], "server-a")
    assert first.id == submitted.id and first.lease_owner == "server-a" and first.attempts == 1
    assert queue.claim(["churn"], "server-b") is None  # held by server-a
    assert queue.claim(["other"], "server-b") is None
    assert queue.renew("server-a") == 1
    _expire_leases(ws)
    assert queue.backlog(["churn"])["churn"]["pending"] == 1  # an expired lease is waiting again
    second = queue.claim(["churn"], "server-b")
    assert second.id == submitted.id and second.attempts == 2
    # server-a comes back from a pause: it no longer holds the row and cannot finish it.
    assert queue.complete(first, "server-a", model="churn:1", rows=1) is None
    finished = queue.complete(second, "server-b", model="churn:1", rows=1)
    assert finished.status == "Completed" and finished.lease_owner is None


def test_an_invocation_taken_too_often_fails_with_the_reason(ws):
    queue = ws.endpoints.async_queue
    submitted = ws.endpoints.async_invoke("churn", b'[{"tenure": 1}]')
    for attempt in (1, 2, 3):
        assert queue.claim(["churn"], f"server-{attempt}").attempts == attempt
        _expire_leases(ws)
    last = queue.claim(["churn"], "server-4")
    assert last.status == "Failed" and last.error_code == "async.too-many-attempts"
    assert "3 times" in last.error
    assert ws.endpoints.async_status(submitted.id).status == "Failed"
    assert queue.claim(["churn"], "server-5") is None


def test_submitting_checks_what_is_cheap_to_check(ws, tmp_path):
    with pytest.raises(NotFound) as unknown:
        ws.endpoints.async_invoke("nope", b"[]")
    assert "nope" in unknown.value.message
    with pytest.raises(NotFound) as missing:
        ws.endpoints.async_invoke("churn", input_location=str(tmp_path / "absent.csv"))
    assert missing.value.code == "async.input-not-found"
    with pytest.raises(NotFound):
        ws.endpoints.async_invoke("churn", input_location="nosuchdata:3")
    odd = tmp_path / "rows.xlsx"
    odd.write_bytes(b"x")
    with pytest.raises(RequestError) as unknown_format:
        ws.endpoints.async_invoke("churn", input_location=str(odd))
    assert unknown_format.value.code == "async.unsupported-input"
    with pytest.raises(RequestError) as media:
        ws.endpoints.async_invoke("churn", b"x", content_type="text/plain")
    assert media.value.code == "async.unsupported-media-type" and media.value.http_status == 415
    with pytest.raises(RequestError) as both:
        ws.endpoints.async_invoke("churn", b"[]", input_location="churn:1")
    assert both.value.code == "async.bad-input"
    version = ws.endpoints.async_invoke("churn", input_location="churn:1")
    assert version.input_location == "churn:1" and version.content_type == "dataset"
    assert ws.endpoints.async_list("churn", status="Pending")[0].id == version.id


@pytest.mark.parametrize(
    ("settings", "wrong"),
    [
        ({"max_concurrency": 0}, "0"),
        ({"timeout": "2h"}, "2h"),
        ({"on_success": "ftp://x"}, "ftp://x"),
        ({"max_payload_mb": 2048}, "2048"),
    ],
)
def test_bad_async_settings_are_refused_naming_the_value(ws, settings, wrong):
    with pytest.raises(ConfigError) as refused:
        ws.endpoints.async_config("churn", **settings)
    assert refused.value.code == "async.bad-config" and wrong in refused.value.message


def test_async_settings_are_an_endpoint_revision_and_reach_new_invocations(ws):
    before = ws.endpoints.get("churn").revision
    endpoint = ws.endpoints.async_config(
        "churn", max_concurrency=4, timeout="10m", on_failure="http://hooks.local/f"
    )
    assert endpoint.revision == before + 1
    assert endpoint.config["async"] == {
        "max_concurrency": 4,
        "timeout_seconds": 600.0,
        "on_failure": "http://hooks.local/f",
    }
    invocation = ws.endpoints.async_invoke("churn", b"[]")
    assert invocation.timeout_seconds == 600.0
    assert invocation.webhook == {"on_failure": "http://hooks.local/f"}
    assert ws.endpoints.async_config("churn", on_failure="").config["async"] == {
        "max_concurrency": 4,
        "timeout_seconds": 600.0,
    }
    assert "async" not in ws.endpoints.async_config("churn", reset=True).config


def test_leases_of_dead_server_processes_on_this_machine_end_at_once(ws):
    queue = ws.endpoints.async_queue
    ws.endpoints.async_invoke("churn", b'[{"tenure": 1}]')
    ws.endpoints.async_invoke("churn", b'[{"tenure": 2}]')
    finished = subprocess.Popen([sys.executable, "-c", "pass"])
    finished.wait()
    host = socket.gethostname()
    queue.claim(["churn"], f"{host}:{finished.pid}:dead", lease_seconds=600)
    queue.claim(["churn"], f"{host}:{os.getpid()}:alive", lease_seconds=600)
    assert queue.claim(["churn"], "another") is None
    assert queue.expire_dead_leases() == 1
    retried = queue.claim(["churn"], "another")
    assert retried.attempts == 2 and retried.lease_owner == "another"
    assert queue.claim(["churn"], "another") is None  # the live process keeps its row


def test_a_released_invocation_is_pending_again_without_using_an_attempt(ws):
    queue = ws.endpoints.async_queue
    ws.endpoints.async_invoke("churn", b'[{"tenure": 1}]')
    taken = queue.claim(["churn"], "stopping-server")
    assert not queue.release(taken, "someone-else")  # only the lease holder gives it back
    assert queue.release(taken, "stopping-server")
    again = queue.get(taken.id)
    assert again.status == "Pending" and again.attempts == 0 and again.lease_owner is None
    assert queue.claim(["churn"], "next-server").attempts == 1


def test_deleting_an_endpoint_fails_its_unfinished_invocations(ws):
    queue = ws.endpoints.async_queue
    waiting = ws.endpoints.async_invoke("churn", b'[{"tenure": 1}]')
    taken = queue.claim(["churn"], "server-a")
    done = ws.endpoints.async_invoke("churn", b'[{"tenure": 2}]')
    done = queue.complete(queue.claim(["churn"], "server-a"), "server-a", model="m", rows=1)
    pending = ws.endpoints.async_invoke("churn", b'[{"tenure": 3}]')
    ws.endpoints.delete("churn")
    for inference_id in (waiting.id, pending.id):
        failed = ws.endpoints.async_status(inference_id)
        assert failed.status == "Failed" and failed.error_code == "async.endpoint-deleted"
        assert "'churn' was deleted" in failed.error and failed.lease_owner is None
    assert ws.endpoints.async_status(done.id).status == "Completed"  # a finished one stays
    assert queue.complete(taken, "server-a", model="m", rows=1) is None  # its worker lost it
    # A new endpoint of the same name does not inherit the old one's queue.
    ws.endpoints.deploy("churn:1", endpoint="churn", allow_unapproved=True)
    assert queue.claim(["churn"], "server-b") is None


def test_an_input_url_no_filesystem_can_open_is_unreadable_not_a_processing_failure(ws):
    from kiln.errors import DataError

    invocation = ws.endpoints.async_invoke("churn", input_location="gs://bucket/rows.csv")
    with pytest.raises(DataError, match="gs://bucket/rows.csv: ImportError") as caught:
        list(ws.endpoints.async_queue.input_chunks(invocation, rows=10))
    assert caught.value.code == "async.input-unreadable"


def test_a_multi_model_endpoint_takes_no_async_settings(ws):
    from kiln.errors import StateError

    ws.endpoints.deploy(endpoint="stores", multi_model=True, allow_unapproved=True)
    revision = ws.endpoints.get("stores").revision
    with pytest.raises(StateError, match="'stores' is a multi-model") as caught:
        ws.endpoints.async_config("stores", max_concurrency=3)
    assert caught.value.code == "multimodel.not-supported"
    assert ws.endpoints.get("stores").revision == revision  # nothing written


def test_a_result_written_where_it_cannot_be_names_the_path(ws, tmp_path):
    from kiln.errors import ConfigError

    queue = ws.endpoints.async_queue
    ws.endpoints.async_invoke("churn", b'[{"tenure": 1}]')
    invocation = queue.claim(["churn"], "server-a")
    output = tmp_path / "output.jsonl"
    output.write_bytes(b'{"label": "No"}\n')
    queue.write_output(invocation, output)
    queue.complete(invocation, "server-a", model="churn:1", rows=1)
    for out in (tmp_path, tmp_path / "missing" / "p.jsonl"):
        with pytest.raises(ConfigError, match=f"to {out}: ") as caught:
            ws.endpoints.async_result(invocation.id, out=out)
        assert caught.value.code == "async.bad-output"
    assert ws.endpoints.async_result(invocation.id) == b'{"label": "No"}\n'


def test_a_payload_file_of_unknown_format_and_an_unknown_endpoint_are_named(ws, tmp_path):
    rows = tmp_path / "rows.txt"
    rows.write_text("tenure\n1\n")
    with pytest.raises(RequestError, match="rows.txt") as caught:
        ws.endpoints.async_invoke("churn", rows)
    assert caught.value.code == "async.unsupported-input"
    assert ws.endpoints.async_invoke("churn", rows, content_type="text/csv").status == "Pending"
    with pytest.raises(NotFound, match="No payload file") as caught:
        ws.endpoints.async_invoke("churn", tmp_path / "missing")
    assert caught.value.code == "async.input-not-found"
    with pytest.raises(NotFound, match="'nosuch'"):
        ws.endpoints.async_list("nosuch")
    assert ws.endpoints.async_list("churn", status="Failed") == []  # it exists: nothing failed
