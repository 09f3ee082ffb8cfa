"""Studio's monitors pages in Chromium: the monitors and alarms, a monitor's runs with a run's
violations and the drift charts, running it now, and an alarm's events."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from kiln.monitoring import simulate_traffic

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "retraining" / "retraining_loop.py"


@pytest.fixture
def ws(trained_copy):
    """Monitor 'quality' on endpoint 'churn' with a calm and a drifted run; alarm 'drifting'."""
    ws, _ = trained_copy
    ws.endpoints.set_capture("churn", 100)
    churn = ws.data.load("churn")
    spec = importlib.util.spec_from_file_location("retraining_loop", EXAMPLE)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    ws.monitoring.create("quality", endpoint="churn", type="data-quality")
    for drift, seed in ((0.0, 1), (1.0, 2)):
        rows = simulate_traffic(churn, rows=200, drift=drift, exclude=("churn",), seed=seed)
        example.replay(ws, "churn", rows.drop(columns=["churn"]))
        ws.monitoring.run("quality")
    ws.monitoring.alarms.create("drifting", on="monitor:quality", when="drift.num_cols > 2")
    ws.monitoring.alarms.evaluate()
    return ws


def test_the_monitors_page_lists_monitors_and_alarms(page):
    page.sign_in("viewer", "/monitors")
    page.wait_for_selector("#monitors-table a:text-is('quality')")
    assert "Completed" in page.inner_text("#monitors-table")
    page.wait_for_selector("#alarms-table .badge.alarm-ALARM")
    assert page.locator("#alarms-evaluate").is_hidden()
    page.screenshot_as("monitors")
    page.click("#alarms-table a:text-is('drifting')")
    page.wait_for_selector("#alarm-events tbody tr td .badge.alarm-ALARM")
    page.screenshot_as("alarm")
    page.assert_no_errors()


def test_a_monitor_shows_runs_violations_and_drift_over_time(page, ws):
    page.sign_in("scientist", "/monitors/quality")
    page.wait_for_selector("#monitor-runs tbody tr .run-show")
    page.wait_for_selector("#monitor-drift [data-feature=tenure] .main-svg")
    page.wait_for_selector("#monitor-chart-overall .main-svg")
    page.click("#monitor-runs tbody tr:first-child .run-show")
    page.wait_for_selector("#run-violations td:text-is('tenure')")
    page.screenshot_as("monitor")
    page.click("#run-report-show")
    page.frame_locator("#run-report").locator(".js-plotly-plot .main-svg").first.wait_for()
    page.click("#monitor-run-now")
    page.wait_for_selector("#monitor-runs .page-info:has-text('of 3')", timeout=60_000)
    assert ws.audit.page(action="monitor.run").items[0].outcome == "ok"
    page.assert_no_errors()
