"""Studio's Data, Experiments and Search pages in Chromium: each renders without console errors,
with a screenshot; the SQL box survives a failing query; the column chooser persists."""

from __future__ import annotations

import pytest


@pytest.fixture
def ws(experimented_copy):
    """Churn ingested and profiled, two runs of experiment 'baseline'."""
    experimented_copy.profile("churn:1", model=False)
    return experimented_copy


def test_the_data_pages_show_data_sets_a_version_and_its_profile(page):
    page.sign_in("viewer", "/data")
    page.wait_for_selector("#datasets-table td a:text-is('churn')")
    assert "7,043" in page.inner_text("#datasets-table")
    page.screenshot_as("data")
    page.click("#datasets-table td a:text-is('churn')")
    page.wait_for_selector("#versions-table td a:text-is('v1')")
    page.screenshot_as("data-versions")
    page.click("#versions-table td a:text-is('v1')")
    page.wait_for_selector("#head-table tbody tr")
    assert "tenure" in page.inner_text("#schema-table") and "numeric" in page.inner_text(
        "#schema-table"
    )
    assert "7,043" in page.inner_text("#version-facts")
    page.wait_for_selector("#lineage-downstream a:text-is('churn_train:1')")
    frame = page.frame_locator("#profile-frame")
    frame.locator("body").wait_for()
    frame.locator(".js-plotly-plot").first.wait_for()  # the report's own scripts ran
    page.locator("#profile-frame").scroll_into_view_if_needed()
    page.screenshot_as("data-version")
    page.open("/data/churn/9")
    page.wait_for_selector("main .error")
    assert "has no version 9" in page.inner_text("main .error")
    page.assert_no_errors(r"status of 404")


def test_the_sql_box_shows_an_error_then_runs_the_next_query(page):
    page.sign_in("scientist", "/data")
    page.fill("#sql-input", "SELECT nope FROM churn")
    page.click("#sql-run")
    page.wait_for_selector("#sql-result .error")
    assert "data.bad-query" in page.inner_text("#sql-result .error")
    page.screenshot_as("sql-error")
    page.fill("#sql-input", "SELECT tenure, contract FROM churn ORDER BY tenure DESC")
    page.click("#sql-run")
    page.wait_for_selector("#sql-table tbody tr")
    assert "1–50 of 7,043" in page.inner_text("#sql-info")
    page.click("#sql-next")
    page.wait_for_selector("#sql-info:has-text('51–100 of 7,043')")
    page.screenshot_as("sql")
    page.assert_no_errors(r"status of 400")


def test_the_experiment_page_sorts_runs_chooses_columns_and_compares(page):
    page.sign_in("viewer", "/experiments")
    page.wait_for_selector("#experiments-table td a:text-is('baseline')")
    page.screenshot_as("experiments")
    page.click("#experiments-table td a:text-is('baseline')")
    page.wait_for_selector("#runs-table tbody tr:nth-child(2)")
    page.wait_for_selector("#compare-area svg.parcoords polyline.run")
    assert page.locator("#compare-area polyline.run").count() == 2
    page.click("#column-chooser summary")
    page.check("#column-chooser input[value='param.n_estimators']")
    page.wait_for_selector("#runs-table th[data-key='param.n_estimators']")
    page.click("#runs-table th[data-key='metric.roc_auc']")
    page.wait_for_selector("#runs-table th.sorted-asc[data-key='metric.roc_auc']")
    page.screenshot_as("experiment")
    page.reload()
    page.wait_for_selector("#runs-table th[data-key='param.n_estimators']")  # kept
    page.assert_no_errors()


def test_search_groups_what_it_finds_with_links(page, ws):
    job = ws.jobs.list(experiment="baseline")[0]
    page.sign_in("viewer")
    page.fill("#search-box", "churn")
    page.press("#search-box", "Enter")
    page.wait_for_selector("#search-datasets a:text-is('churn:1')")
    assert page.locator("#search-model_groups a:text-is('churn')").count() == 1
    page.screenshot_as("search")
    page.open(f"/search?q={job.id[:10]}")
    page.wait_for_selector(f"#search-jobs a:text-is('{job.id}')")
    page.open("/search?q=zzz")
    page.wait_for_selector("#search-empty")
    page.assert_no_errors()
