"""Studio's jobs pages in Chromium: the list, a completed job with its report, the log streaming
while a training script runs, and cancelling a running job."""

from __future__ import annotations

import contextlib
import threading
import time
from datetime import datetime, timedelta

import pytest

from kiln.errors import JobFailed

SCRIPT = """
import time
from sklearn.dummy import DummyClassifier


def train(run):
    for i in range({steps}):
        run.log(f"working on step {{i}}")
        run.log_metric("loss", 1 / (i + 1), step=i)
        time.sleep({pause})
    frame = run.frame()
    return DummyClassifier().fit(frame.drop(columns=[run.target]), frame[run.target])
"""


@pytest.fixture
def ws(trained_copy):
    return trained_copy[0]


def _run_script(ws, tmp_path, *, steps: int, pause: float) -> threading.Thread:
    script = tmp_path / "slow_train.py"
    script.write_text(SCRIPT.format(steps=steps, pause=pause))

    def run():
        with contextlib.suppress(JobFailed):  # cancelled from the page
            ws.train(script=script, data="churn", target="churn")

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def _running_script_job(ws):
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        jobs = ws.jobs.list(kind="script", status="InProgress")
        if jobs:
            return jobs[0]
        time.sleep(0.1)
    raise AssertionError("the script job did not start")


def test_the_job_list_filters_and_opens_a_completed_job_with_its_report(page, trained_copy):
    ws, result = trained_copy
    ws.jobs.create("transform", {})
    page.sign_in("viewer", "/jobs")
    page.wait_for_selector(f"#jobs-table a:text-is('{result.job.id}')")
    page.screenshot_as("jobs")
    page.select_option("#jobs-table select[name=kind]", "transform")
    page.wait_for_selector(f"#jobs-table a:text-is('{result.job.id}')", state="detached")
    page.select_option("#jobs-table select[name=kind]", "")
    page.click(f"#jobs-table a:text-is('{result.job.id}')")
    page.wait_for_selector("#job-status .badge.Completed")
    page.wait_for_selector("#job-logs span")
    assert "training" in page.inner_text("#job-facts")
    assert page.locator("#job-cancel-box").is_hidden()
    page.click("#job-report-show")
    frame = page.frame_locator("#job-report")
    # Its charts draw: the report's plotly.js loads in the sandboxed frame, under its own policy.
    frame.locator(".js-plotly-plot .main-svg").first.wait_for()
    assert page.get_attribute("#job-report", "sandbox") == "allow-scripts"
    page.screenshot_as("job-completed")
    page.assert_no_errors()


def test_a_job_kind_without_a_report_says_so(page, ws):
    job = ws.jobs.create("transform", {})
    ws.jobs.finish(job.id, "Failed", failure_reason="no such model", failure_code="x.y")
    page.sign_in("viewer", f"/jobs/{job.id}")
    page.wait_for_selector("#job-no-report")
    assert "no such model" in page.inner_text("#job-failure-reason")
    assert page.inner_text("#job-failure-code") == "x.y"
    page.screenshot_as("job-failed")
    page.assert_no_errors()


def test_an_unknown_job_shows_an_error(page):
    page.sign_in("viewer", "/jobs/train-000000000000")
    page.wait_for_selector("main .error")
    assert "No job with id" in page.inner_text("main .error")
    page.assert_no_errors(r"404")


def test_the_log_streams_while_a_training_script_runs(page, ws, tmp_path):
    thread = _run_script(ws, tmp_path, steps=12, pause=0.5)
    job = _running_script_job(ws)
    page.sign_in("viewer", f"/jobs/{job.id}")
    page.wait_for_selector("#job-status .badge.InProgress")
    page.wait_for_selector("#job-logs[data-streaming=yes]")
    first = page.locator("#job-logs span:has-text('working on step')").count()
    page.wait_for_selector("#job-logs span:has-text('working on step 11')", timeout=60_000)
    assert page.locator("#job-logs span:has-text('working on step')").count() > first
    page.screenshot_as("job-streaming")
    page.wait_for_selector("#job-status .badge.Completed", timeout=60_000)
    page.wait_for_selector("#job-logs[data-streaming=ended]")
    thread.join(timeout=60)
    page.wait_for_selector("#job-metrics-chart .main-svg")
    page.screenshot_as("job-streamed")
    page.assert_no_errors()


def test_a_scientist_cancels_a_running_job(page, ws, tmp_path):
    thread = _run_script(ws, tmp_path, steps=200, pause=0.5)
    job = _running_script_job(ws)
    page.sign_in("scientist", f"/jobs/{job.id}")
    page.wait_for_selector("#job-status .badge.InProgress")
    page.fill("#job-cancel-reason", "wrong data")
    page.click("#job-cancel")
    page.wait_for_selector("#job-status .badge.Stopped", timeout=60_000)
    assert page.locator("#job-cancel-box").is_hidden()
    page.screenshot_as("job-cancelled")
    thread.join(timeout=60)
    assert ws.jobs.get(job.id).status == "Stopped"
    assert ws.audit.page(action="job.cancel").items[0].reason == "wrong data"
    page.assert_no_errors()


def test_cancelling_a_job_that_has_just_ended_shows_why_it_was_refused(page, ws):
    job = ws.jobs.create("training", {})  # Pending, its creator (this process) alive
    # The page is held still (no stream; its clock paused, so no poll, and nothing in flight)
    # so the job ends behind its back. An installed clock runs until paused.
    page.clock.install()
    page.route("**/logs/stream*", lambda route: route.fulfill(status=204))
    page.sign_in("scientist", f"/jobs/{job.id}")
    page.wait_for_selector("#job-status .badge.Pending")
    page.clock.pause_at(datetime.now() + timedelta(seconds=1))
    page.wait_for_load_state("networkidle")
    ws.jobs.finish(job.id, "Completed", result={})
    page.click("#job-cancel")
    page.wait_for_selector(".toast.bad")
    assert "already ended Completed" in page.inner_text(".toast.bad")
    assert "jobs.not-active" in page.inner_text(".toast.bad")
    page.wait_for_selector("#job-status .badge.Completed")
    page.screenshot_as("job-cancel-refused")
    page.assert_no_errors(r"409")


def test_a_job_with_100000_log_lines_opens_at_its_end_with_only_the_last_1000(page, ws):
    """The page loads the tail, not the whole log; benchmarks/ui.py times how fast it opens."""
    from kiln.store import JobLogRow, now

    job = ws.jobs.create("training", {})
    ws.jobs.finish(job.id, "Completed", result={})
    at = now()
    with ws.store.write() as session:
        session.execute(
            JobLogRow.__table__.insert(),
            [
                {"job_id": job.id, "time": at, "level": "INFO", "message": f"line {i}"}
                for i in range(100_000)
            ],
        )
    page.sign_in("viewer", "/jobs")
    page.open(f"/jobs/{job.id}")
    page.wait_for_selector("#job-logs span:has-text('line 99999')")
    assert page.locator("#job-logs span").count() == 1000
    page.click("#job-logs-earlier")
    page.wait_for_selector("#job-logs span:has-text('line 98000')")
    assert page.locator("#job-logs span").count() == 2000
    page.screenshot_as("job-long-log")
    page.assert_no_errors()


def test_a_jobs_children_link_to_the_list_of_them(page, ws):
    parent = ws.jobs.create("tuning", {})
    children = [ws.jobs.create("training", {"trial": i}, parent_id=parent.id) for i in range(2)]
    ws.jobs.create("training", {})  # another job, not a trial
    page.sign_in("viewer", f"/jobs/{parent.id}")
    page.click("#job-facts a:text-is('2 jobs')")
    page.wait_for_selector(f"#jobs-table a:text-is('{children[0].id}')")
    assert page.locator("#jobs-table tbody tr").count() == 2
    assert f"parent_id = {parent.id}" in page.inner_text("main")
    page.assert_no_errors()
