"""Canvas in Chromium: the whole flow from a CSV to a downloaded scored file, the errors each
bad input shows (the page keeps working), and the page as a viewer sees it."""

from __future__ import annotations

import dataclasses

import pandas as pd

from conftest import CHURN_CSV
from kiln.automl import automl_progress

# What the one-row form is filled with: a new month-to-month fibre customer.
ROW = {
    "tenure": "2",
    "monthly_charges": "95.5",
    "total_charges": "191",
    "contract": "Month-to-month",
    "internet_service": "Fiber optic",
    "payment_method": "Electronic check",
}


def test_the_whole_canvas_flow_from_a_csv_to_a_downloaded_scored_file(page, ws, tmp_path):
    ws.settings = dataclasses.replace(ws.settings, require_approval=False)
    page.sign_in("scientist", "/canvas")

    # 1. Upload the CSV.
    page.set_input_files("#canvas-file", str(CHURN_CSV))
    assert page.input_value("#canvas-name") == "telco_churn"
    page.fill("#canvas-name", "churn")
    page.screenshot_as("1-upload")
    page.click("#canvas-upload")

    # 2. Choose the target: its classes and the profile's warnings.
    page.wait_for_selector("#canvas-target-column")
    page.select_option("#canvas-target-column", "churn")
    page.wait_for_selector("#canvas-warnings")
    assert "duplicate-rows" in page.inner_text("#canvas-warnings")
    assert "binary" in page.inner_text("#canvas-target-facts")
    page.fill("#canvas-time-limit", "12")
    page.screenshot_as("2-target")
    page.click("#canvas-start")

    # 3. Watch the progress: trials and the best score so far, until it completes.
    page.wait_for_selector("#canvas-progress-facts dd")
    page.wait_for_selector("#canvas-status .badge.InProgress", timeout=30_000)
    page.screenshot_as("3-progress")
    page.wait_for_selector("#canvas-status .badge.Completed", timeout=90_000)
    facts = page.inner_text("#canvas-progress-facts")
    assert "Trials so far" in facts and "Best score so far" in facts
    page.wait_for_selector("#canvas-trials .main-svg")

    # 4. The leaderboard (the ensemble first) and the importance chart.
    page.wait_for_selector("#canvas-leaderboard tbody tr")
    assert "ensemble" in page.inner_text("#canvas-leaderboard tbody tr:first-child")
    # A busy machine may leave the run no time to explain: the page then says why.
    page.wait_for_selector("#canvas-importance .main-svg, #canvas-importance-skipped")
    (job,) = ws.jobs.list(kind="automl")
    explanation = automl_progress(ws, job.id)["result"]["explanation"]
    if explanation["permutation_importance"]:
        assert page.query_selector("#canvas-importance .main-svg")
    else:
        skipped = page.inner_text("#canvas-importance-skipped")
        assert explanation["permutation_importance_skipped"] in skipped
    page.screenshot_as("4-leaderboard")

    # 5. Deploy (this workspace does not require approval: the scientist may).
    assert page.input_value("#canvas-endpoint") == "churn"
    page.click("#canvas-deploy-button")
    page.wait_for_selector("#canvas-predict-form")
    assert ws.endpoints.get("churn").model == "churn:1"
    page.screenshot_as("5-deploy")

    # 6. Predict one row from the form: categories are selects, numbers are number inputs.
    assert page.eval_on_selector("#canvas-input-contract", "e => e.tagName") == "SELECT"
    assert page.get_attribute("#canvas-input-tenure", "type") == "number"
    for name, value in ROW.items():
        selector = f"#canvas-input-{name}"
        if page.eval_on_selector(selector, "e => e.tagName") == "SELECT":
            page.select_option(selector, value)
        else:
            page.fill(selector, value)
    page.click("#canvas-predict-button")
    page.wait_for_selector("#canvas-probabilities")
    assert page.inner_text("#canvas-predicted") in ("Yes", "No")
    assert "Yes" in page.inner_text("#canvas-probabilities")
    page.screenshot_as("6-predict")

    # 7. Batch-score a file and download the scored CSV.
    rows = pd.read_csv(CHURN_CSV, nrows=40).drop(columns=["churn"])
    to_score = tmp_path / "new_customers.csv"
    rows.to_csv(to_score, index=False)
    page.set_input_files("#canvas-score-file", str(to_score))
    page.click("#canvas-score-button")
    page.wait_for_selector("#canvas-download", timeout=60_000)
    page.screenshot_as("7-batch")
    with page.expect_download() as info:
        page.click("#canvas-download")
    saved = tmp_path / "scored.csv"
    info.value.save_as(saved)
    assert info.value.suggested_filename.startswith("scored-churn-1-")
    scored = pd.read_csv(saved)
    assert len(scored) == 40
    assert list(scored.columns[: len(rows.columns)]) == list(rows.columns)
    assert set(scored["prediction"]) <= {"Yes", "No"}
    assert {"probability_No", "probability_Yes"} <= set(scored.columns)
    page.assert_no_errors()


def test_bad_inputs_show_their_errors_and_the_page_keeps_working(page, ws, tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    flat = tmp_path / "flat.csv"
    flat.write_text("x,label\n" + "".join(f"{i},same\n" for i in range(30)))
    page.sign_in("scientist", "/canvas")

    page.set_input_files("#canvas-file", str(empty))
    page.click("#canvas-upload")
    page.wait_for_selector("#canvas-data-error .error")
    assert "data.empty" in page.inner_text("#canvas-data-error")
    page.screenshot_as("empty-file")

    ws.settings = dataclasses.replace(ws.settings, studio_max_upload_bytes=1024)
    big = tmp_path / "big.csv"
    big.write_text("a,b\n" + "1,2\n" * 1000)
    page.set_input_files("#canvas-file", str(big))
    page.click("#canvas-upload")
    page.wait_for_selector("#canvas-data-error .error:has-text('studio.upload-too-large')")

    page.set_input_files("#canvas-file", str(flat))
    page.fill("#canvas-name", "flat")
    page.click("#canvas-upload")
    page.wait_for_selector("#canvas-target-column")
    page.select_option("#canvas-target-column", "label")
    page.wait_for_selector("#canvas-target-error .error")
    assert "automl.constant-target" in page.inner_text("#canvas-target-error")
    assert page.is_disabled("#canvas-start")
    page.screenshot_as("one-valued-target")
    page.select_option("#canvas-target-column", "x")
    page.wait_for_selector("#canvas-warnings")
    assert page.is_enabled("#canvas-start")
    page.assert_no_errors(r"Failed to load resource: .* (400|413|422)")


def test_a_scientist_is_told_an_approver_must_deploy_where_approval_is_required(page, ws):
    ws.data.ingest(CHURN_CSV, name="churn")
    job = ws.automl("churn", target="churn", time_limit=10, algorithms=["linear"]).job
    page.sign_in("scientist", f"/canvas?job={job.id}")
    page.wait_for_selector("#canvas-deploy-button")
    page.click("#canvas-deploy-button")
    page.wait_for_selector("#canvas-needs-approver")
    assert "approver" in page.inner_text("#canvas-deploy-error")
    page.screenshot_as("needs-approver")
    page.assert_no_errors(r"Failed to load resource: .* 403")


def test_a_viewer_sees_canvas_but_may_not_start_anything(page, ws):
    ws.data.ingest(CHURN_CSV, name="churn")
    page.sign_in("viewer", "/canvas")
    page.wait_for_selector("#canvas-dataset option[value='churn:1']", state="attached")
    assert "scientist role" in page.inner_text("main .error")
    assert page.is_disabled("#canvas-upload")
    page.select_option("#canvas-dataset", "churn:1")
    page.click("#canvas-use")
    page.wait_for_selector("#canvas-target-column")
    page.screenshot_as("viewer")
    page.assert_no_errors()


def test_an_unknown_run_says_so_once(page):
    page.sign_in("viewer", "/canvas?job=automl-000000000000")
    page.wait_for_selector("#canvas-progress-error .error")
    assert "No job" in page.inner_text("#canvas-progress-error")
    page.wait_for_timeout(2500)  # the page stopped asking: one refusal, not one a second
    assert len([e for e in page.errors if "404" in e]) == 1
    page.assert_no_errors(r"Failed to load resource: .* 404")
