"""Studio's monitors pages in Chromium: the monitors and alarms, a monitor's runs with a run's
violations and the drift charts, running it now, and an alarm's events."""

from __future__ import annotations

import pytest


@pytest.fixture
def ws(monitored_copy):
    """Monitor 'quality' on endpoint 'churn' with a calm and a drifted run; alarm 'drifting'
    in ALARM (tests/studio/conftest.py: monitored)."""
    return monitored_copy


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
