"""Studio's monitoring API against a real server: monitors with their latest run, runs a page at
a time, a run's violations, drift over time, running a monitor now, alarms and their events,
with the 4xx answers for bad input."""

from __future__ import annotations

import re

import httpx
import pytest


@pytest.fixture
def ws(monitored_copy):
    """Monitor 'quality' on endpoint 'churn' with a calm and a drifted run; alarm 'drifting'
    in ALARM (tests/studio/conftest.py: monitored)."""
    return monitored_copy


def test_monitors_runs_violations_history_and_reports(api_as, studio):
    viewer = api_as("viewer")
    [monitor] = viewer.get("/monitors").json()["items"]
    assert monitor["name"] == "quality" and monitor["last_run"]["violations"] > 0
    assert viewer.get("/monitors/quality").json()["endpoint"] == "churn"
    runs = viewer.get("/monitors/quality/runs").json()
    assert runs["total"] == 2 and runs["sort"] == "-started_at"
    stormy = runs["items"][0]
    run = viewer.get(f"/monitor-runs/{stormy['id']}").json()
    assert len(run["violations"]) == stormy["violations"] > 0
    history = viewer.get("/monitors/quality/history").json()
    assert len(history["runs"]) == 2 and "psi" in history["features"]["tenure"]
    report = viewer.get(f"/monitor-runs/{stormy['id']}/report")
    assert report.status_code == 200 and "tenure" in report.text
    assert "'unsafe-inline'" in report.headers["content-security-policy"]
    library = re.search(r'<script src="(plotly-[0-9a-f]{16}\.min\.js)"', report.text).group(1)
    script = httpx.get(f"{studio.url}/api/monitor-runs/{stormy['id']}/{library}")
    assert script.status_code == 200


def test_bad_monitor_input_is_refused(api_as):
    viewer = api_as("viewer")
    unknown = viewer.get("/monitors/nope")
    assert unknown.status_code == 404 and unknown.json()["error"] == "monitor.unknown"
    assert "quality" in unknown.json()["detail"]
    assert viewer.get("/monitors/nope/runs").status_code == 404
    assert viewer.get("/monitor-runs/run-000000000000").status_code == 404
    assert viewer.get("/monitor-runs/run-000000000000/report").status_code == 404
    bad = viewer.get("/monitors/quality/runs", params={"status": "done"})
    assert bad.status_code == 400 and "NoData" in bad.json()["detail"]
    assert viewer.get("/monitors/quality/runs", params={"sort": "x"}).status_code == 400
    assert viewer.get("/alarms/nope").status_code == 404


def test_running_a_monitor_now_needs_a_scientist_and_is_audited(api_as, ws):
    refused = api_as("viewer").post("/monitors/quality/run", json={})
    assert refused.status_code == 403 and refused.json()["role_needed"] == "scientist"
    started = api_as("scientist").post("/monitors/quality/run", json={"reason": "check"})
    assert started.status_code == 202
    job_id = started.json()["job_id"]
    assert ws.jobs.wait(job_id, timeout=60).status == "Completed"
    assert api_as("viewer").get("/monitors/quality/runs").json()["total"] == 3
    unknown = api_as("scientist").post("/monitors/nope/run", json={})
    assert unknown.status_code == 404
    events = ws.audit.page(action="monitor.run").items
    assert [e.outcome for e in events] == ["failed", "ok", "refused"]
    assert events[1].detail["job_id"] == job_id and events[1].reason == "check"


def test_alarms_their_events_and_evaluating_them(api_as, ws):
    viewer = api_as("viewer")
    [alarm] = viewer.get("/alarms").json()["items"]
    assert alarm["name"] == "drifting" and alarm["state"] == "ALARM"
    events = viewer.get("/alarms/drifting/events").json()
    assert events["total"] == 1 and events["items"][0]["new_state"] == "ALARM"
    assert viewer.get("/alarms/drifting/events", params={"limit": 0}).status_code == 400
    assert viewer.post("/alarms/evaluate", json={}).status_code == 403
    answer = api_as("scientist").post("/alarms/evaluate", json={})
    assert answer.status_code == 200 and "changes" in answer.json()
    assert ws.audit.page(action="alarms.evaluate").items[0].outcome == "ok"
