"""Studio's jobs API against a real server: the paged list with its filters, one job, its log
(paged and streamed), metrics, report, and cancelling, with the 4xx answers for bad input."""

from __future__ import annotations

import re
import threading
import time

import httpx
import pytest


@pytest.fixture
def ws(trained_copy):
    """A workspace with a completed training job (and the users of the ``users`` fixture)."""
    return trained_copy[0]


@pytest.fixture
def training_job(trained_copy):
    return trained_copy[1].job


def test_the_job_list_pages_filters_and_refuses_bad_filters(api_as, ws, training_job):
    viewer = api_as("viewer")
    for _ in range(3):
        ws.jobs.create("transform", {"model": "churn:1"})
    page = viewer.get("/jobs", params={"limit": 2}).json()
    assert page["total"] >= 4 and len(page["items"]) == 2 and page["sort"] == "-created_at"
    assert "spec" not in page["items"][0]
    assert viewer.get("/jobs", params={"kind": "training"}).json()["items"][0]["id"] == (
        training_job.id
    )
    assert viewer.get("/jobs", params={"status": "pending", "q": "trans"}).json()["total"] == 3
    assert "training" in viewer.get("/jobs/kinds").json()["kinds"]
    bad_status = viewer.get("/jobs", params={"status": "done"})
    assert bad_status.status_code == 400 and bad_status.json()["error"] == "jobs.bad-status"
    assert "InProgress" in bad_status.json()["detail"]
    bad_sort = viewer.get("/jobs", params={"sort": "spec"})
    assert bad_sort.status_code == 400 and "created_at" in bad_sort.json()["detail"]
    bad_kind = viewer.get("/jobs", params={"kind": "nope"})
    assert bad_kind.status_code == 400 and "training" in bad_kind.json()["detail"]
    assert viewer.get("/jobs", params={"limit": 0}).status_code == 400
    assert viewer.get("/jobs", params={"limit": "many"}).status_code == 422


def test_a_job_its_log_metrics_and_report(api_as, studio, training_job):
    viewer = api_as("viewer")
    job = viewer.get(f"/jobs/{training_job.id}").json()
    assert job["status"] == "Completed" and job["final"] and job["has_report"]
    assert job["spec"] and job["children"] == 0
    logs = viewer.get(f"/jobs/{training_job.id}/logs", params={"tail": 5}).json()
    assert 1 <= len(logs["lines"]) <= 5 and logs["last"] == logs["lines"][-1]["seq"]
    assert viewer.get(f"/jobs/{training_job.id}/logs", params={"tail": 0}).status_code == 400
    assert "series" in viewer.get(f"/jobs/{training_job.id}/metrics").json()
    report = viewer.get(f"/jobs/{training_job.id}/report")
    assert report.status_code == 200 and report.headers["content-type"].startswith("text/html")
    policy = report.headers["content-security-policy"]
    assert "'unsafe-inline'" in policy and "frame-ancestors 'self'" in policy
    library = re.search(r'<script src="(plotly-[0-9a-f]{16}\.min\.js)"', report.text).group(1)
    # The frame's relative URL for it, fetched as a sandboxed frame may: without a session.
    script = httpx.get(f"{studio.url}/api/jobs/{training_job.id}/{library}")
    assert script.status_code == 200 and script.headers["content-type"].startswith("text/javascr")
    missing = viewer.get(f"/jobs/{training_job.id}/plotly-0000000000000000.min.js")
    assert missing.status_code == 404 and missing.json()["error"] == "jobs.no-report"
    assert viewer.get(f"/jobs/{training_job.id}/..%2Fkiln.toml").status_code == 404


def test_unknown_jobs_and_reports_that_do_not_exist_are_404(api_as, ws):
    viewer = api_as("viewer")
    for path in ("", "/logs", "/metrics", "/report", "/logs/stream"):
        answer = viewer.get(f"/jobs/train-000000000000{path}")
        assert answer.status_code == 404, path
        assert answer.json()["error"] == "jobs.unknown-job"
    transform = ws.jobs.create("transform", {})
    ws.jobs.finish(transform.id, "Completed", result={})
    answer = viewer.get(f"/jobs/{transform.id}/report")
    assert answer.status_code == 404 and answer.json()["error"] == "jobs.no-report"
    assert "has no report" in answer.json()["detail"]
    failed = ws.jobs.create("training", {})
    ws.jobs.finish(failed.id, "Failed", failure_reason="out of memory")
    answer = viewer.get(f"/jobs/{failed.id}/report")
    assert answer.status_code == 409 and answer.json()["error"] == "reports.job-not-completed"
    assert viewer.get(f"/jobs/{failed.id}").json()["has_report"] is False


def test_signed_out_callers_get_401(studio):
    assert httpx.get(f"{studio.url}/api/jobs").status_code == 401


def test_cancel_needs_a_scientist_is_audited_and_refuses_an_ended_job(api_as, ws, training_job):
    pending = ws.jobs.create("training", {})
    refused = api_as("viewer").post(f"/jobs/{pending.id}/cancel", json={"reason": "no"})
    assert refused.status_code == 403 and refused.json()["role_needed"] == "scientist"
    scientist = api_as("scientist")
    done = scientist.post(f"/jobs/{pending.id}/cancel", json={"reason": "not needed"})
    assert done.status_code == 200 and done.json()["status"] == "Stopped"
    ended = scientist.post(f"/jobs/{training_job.id}/cancel", json={})
    assert ended.status_code == 409 and ended.json()["error"] == "jobs.not-active"
    events = ws.audit.page(action="job.cancel").items
    assert {(e.outcome, e.user) for e in events} == {
        ("ok", "scientist (studio)"),
        ("failed", "scientist (studio)"),
        ("refused", "viewer (studio)"),
    }
    assert any(e.reason == "not needed" and e.target == pending.id for e in events)


def _events(text: str) -> list[tuple[str, str]]:
    out = []
    for block in text.strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines())
        out.append((fields["event"], fields["data"]))
    return out


def test_the_log_stream_sends_lines_as_they_are_written_and_ends_with_the_job(api_as, ws):
    job = ws.jobs.create("training", {})
    context = ws.jobs.context(job.id)
    context.log("before the stream")
    ws.jobs.start(job.id)

    def work():
        for i in range(3):
            time.sleep(0.4)
            context.log(f"step {i}")
        ws.jobs.finish(job.id, "Completed", result={})

    writer = threading.Thread(target=work)
    started = time.monotonic()
    writer.start()
    with api_as("viewer").stream("GET", f"/jobs/{job.id}/logs/stream") as answer:
        assert answer.headers["content-type"].startswith("text/event-stream")
        text = "".join(answer.iter_text())
    writer.join()
    events = _events(text)
    lines = [data for name, data in events if name == "line"]
    assert len(lines) == 4 and '"step 2"' in lines[-1]
    assert events[0][0] == "line" and "InProgress" in events[1][1]
    assert events[-1] == ("end", '{"status":"Completed"}')
    assert time.monotonic() - started >= 1.2  # it followed the job, not a snapshot
    resumed = api_as("viewer").get(
        f"/jobs/{job.id}/logs/stream", headers={"last-event-id": "0"}, params={"after": 10**9}
    )
    assert len([n for n, _ in _events(resumed.text) if n == "line"]) == 4


def test_the_log_stream_stops_when_the_client_goes_away(studio, users, ws, monkeypatch):
    # The stream's clock, 2.5 times faster: a poll every 0.2 s, a keep-alive after 0.8 s quiet
    # (the server runs in this process, so its module reads these).
    monkeypatch.setattr("kiln.studio._api_jobs.STREAM_POLL_SECONDS", 0.2)
    monkeypatch.setattr("kiln.studio._api_jobs.KEEPALIVE_SECONDS", 0.8)
    job = ws.jobs.create("training", {})  # Pending for as long as this process lives
    ws.jobs.context(job.id).log("waiting")
    reads = []
    read = ws.jobs.log_page
    monkeypatch.setattr(ws.jobs, "log_page", lambda *a, **k: reads.append(1) or read(*a, **k))
    headers = {"authorization": f"Bearer {users['viewer']}"}
    with (
        httpx.Client(base_url=f"{studio.url}/api", headers=headers) as client,
        client.stream("GET", f"/jobs/{job.id}/logs/stream") as answer,
    ):
        lines = answer.iter_lines()  # kept: dropping the iterator closes the connection
        assert next(lines).startswith("id: ")
        time.sleep(0.6)
        assert len(reads) >= 2  # it polls while the client listens
    # Its next keep-alive (0.8 s without news) finds the client gone, and the polling stops.
    time.sleep(1.8)
    after_leaving = len(reads)
    time.sleep(0.6)
    assert len(reads) == after_leaving  # three polls' time, and no read: the stream ended
    assert ws.jobs.get(job.id).status == "Pending"
