"""kiln endpoints async-config, async-invoke, async-status, async-list and async-result through
the CLI (in process), with a server's workers processing the queue."""

from __future__ import annotations

import json

import orjson
from fastapi.testclient import TestClient
from sqlalchemy import select

from helpers import wait_for
from kiln.serving import create_app
from kiln.store import ScalingEventRow


def test_async_commands_queue_follow_and_fetch_an_invocation(trained_copy, run_cli, tmp_path):
    ws, result = trained_copy
    home = ws.home
    rows = ws.data.load(result.job.result["splits"]["test"]).head(4).drop(columns=["churn"])
    payload = tmp_path / "rows.csv"
    rows.to_csv(payload, index=False)

    configured = run_cli("endpoints", "async-config", "churn", "--max-concurrency", "1", home=home)
    assert configured.returncode == 0, configured.stderr
    assert "max_concurrency" in configured.stdout
    bad = run_cli("endpoints", "async-config", "churn", "--timeout", "3h", home=home)
    assert bad.returncode != 0 and "async.bad-config" in bad.stdout + bad.stderr

    ids = []
    for _ in range(3):  # a backlog of 3: more than the one worker allowed
        queued = run_cli("endpoints", "async-invoke", "churn", str(payload), "--json", home=home)
        assert queued.returncode == 0, queued.stderr
        assert json.loads(queued.stdout)["content_type"] == "text/csv"
        ids.append(json.loads(queued.stdout)["id"])
    inference_id = ids[0]
    listed = run_cli("endpoints", "async-list", "churn", "--json", home=home)
    assert sorted(i["id"] for i in json.loads(listed.stdout)) == sorted(ids)
    early = run_cli("endpoints", "async-result", inference_id, home=home)
    assert early.returncode != 0 and "async.no-result" in early.stdout + early.stderr

    with TestClient(create_app(ws), base_url="http://localhost"):
        wait_for(
            lambda: all(ws.endpoints.async_status(i).done for i in ids),
            timeout=60,
            what="the invocation to finish",
        )
    with ws.store.read() as session:
        workers = session.scalars(
            select(ScalingEventRow.after).where(ScalingEventRow.action == "async-workers")
        ).all()
    assert workers and max(workers) == 1  # --max-concurrency 1
    status = run_cli("endpoints", "async-status", inference_id, home=home)
    assert status.returncode == 0 and "Completed" in status.stdout, status.stdout
    out = tmp_path / "out.jsonl"
    fetched = run_cli("endpoints", "async-result", inference_id, "-o", str(out), home=home)
    assert fetched.returncode == 0, fetched.stderr
    predictions = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    assert len(predictions) == 4 and set(predictions[0]) == {"label", "probabilities"}
    printed = run_cli("endpoints", "async-result", inference_id, home=home)
    assert printed.stdout.encode() == out.read_bytes()
    missing = run_cli("endpoints", "async-status", "nope", home=home)
    assert missing.returncode != 0 and "async.not-found" in missing.stdout + missing.stderr
