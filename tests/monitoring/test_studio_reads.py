"""What Studio reads of monitoring: monitors with their latest run and next scheduled run, a page
of runs without their summaries, each drift statistic across runs, starting a run without
waiting, and a page of an alarm's events."""

from __future__ import annotations

import pytest

from kiln.errors import ConfigError, NotFound


@pytest.fixture
def monitored(monitored_copy):
    """A private copy of the shared workspace with monitor 'quality' (a calm run, then a drifted
    one) and alarm 'drifting' in ALARM, and its two runs."""
    stormy, calm = monitored_copy.monitoring.runs("quality")
    return monitored_copy, calm, stormy


def test_summaries_give_each_monitor_its_latest_run_and_next_run(monitored):
    ws, _calm, stormy = monitored
    [summary] = ws.monitoring.summaries()
    assert summary["name"] == "quality" and summary["next_run_at"] is not None
    last = summary["last_run"]
    assert last["id"] == stormy.id and last["status"] == "Completed"
    assert last["violations"] == len(stormy.violations) > 0
    assert "summary" not in last


def test_a_page_of_runs_is_newest_first_and_checks_its_filters(monitored):
    ws, calm, stormy = monitored
    page = ws.monitoring.runs_page("quality")
    assert [run["id"] for run in page.items] == [stormy.id, calm.id] and page.total == 2
    assert page.items[1]["violations"] == 0 and "summary" not in page.items[0]
    assert [r["id"] for r in ws.monitoring.runs_page("quality", limit=1, offset=1).items] == [
        calm.id
    ]
    assert ws.monitoring.runs_page("quality", status="NoData").total == 0
    with pytest.raises(ConfigError, match="Completed, NoData, Failed") as e:
        ws.monitoring.runs_page("quality", status="done")
    assert e.value.code == "monitor.bad-run-status"
    with pytest.raises(ConfigError, match="Sort by one of: id, started_at, status"):
        ws.monitoring.runs_page("quality", sort="metrics")
    with pytest.raises(NotFound):
        ws.monitoring.runs_page("nope")


def test_drift_history_gives_one_series_per_feature_and_statistic(monitored):
    ws, calm, stormy = monitored
    history = ws.monitoring.drift_history("quality")
    assert history["runs"] == [calm.id, stormy.id] and len(history["times"]) == 2
    tenure = history["features"]["tenure"]
    assert set(tenure) >= {"ks", "psi"}
    assert tenure["psi"] == [calm.metrics["drift.tenure.psi"], stormy.metrics["drift.tenure.psi"]]
    assert tenure["psi"][1] > tenure["psi"][0]
    assert history["metrics"]["rows"] == [200.0, 400.0]  # the hour-long window holds both
    assert "drift.num_cols" in history["metrics"]
    assert ws.monitoring.drift_history("quality", limit=1)["runs"] == [stormy.id]


def test_start_returns_the_job_at_once_and_the_run_is_recorded_when_it_ends(monitored):
    ws, *_ = monitored
    job_id = ws.monitoring.start("quality")
    assert ws.jobs.wait(job_id, timeout=60).status == "Completed"
    assert ws.monitoring.runs_page("quality").items[0]["job_id"] == job_id


def test_a_page_of_alarm_events(monitored):
    ws, *_ = monitored
    page = ws.monitoring.alarms.history_page("drifting")
    assert page.total == 1 and page.items[0]["new_state"] == "ALARM"
    assert page.items == ws.monitoring.alarms.history("drifting")
    with pytest.raises(NotFound):
        ws.monitoring.alarms.history_page("nope")


def test_a_runs_report_is_written_once_with_its_library_beside_it(monitored):
    ws, _calm, stormy = monitored
    path = ws.monitoring.report_path(stormy.id)
    assert path.parent.name == "studio" and "tenure" in path.read_text()
    assert list(path.parent.glob("plotly-*.min.js"))
    written = path.stat().st_mtime_ns
    assert ws.monitoring.report_path(stormy.id).stat().st_mtime_ns == written
    with pytest.raises(NotFound):
        ws.monitoring.report_path("run-000000000000")
