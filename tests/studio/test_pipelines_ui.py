"""Studio's pipelines pages in Chromium: the pipelines and their executions, an execution's DAG
with per-step status, a step's details, and a re-run whose steps come from the cache."""

from __future__ import annotations

import pytest

DEFINITION = """
name: small
steps:
  ingest: {type: ingest, source: data.csv, name: raw}
  clean:
    type: processing
    sql: SELECT * FROM raw WHERE x >= 2
    inputs: {raw: "${steps.ingest.data}"}
  count:
    type: processing
    sql: SELECT count(*) AS n FROM clean
    inputs: {clean: "${steps.clean.data}"}
  top:
    type: processing
    sql: SELECT max(x) AS top FROM raw
    inputs: {raw: "${steps.ingest.data}"}
"""


@pytest.fixture
def executed(ws, tmp_path):
    (tmp_path / "data.csv").write_text("x\n" + "".join(f"{i}\n" for i in range(8)))
    (tmp_path / "pipeline.yaml").write_text(DEFINITION)
    return ws.pipelines.run(tmp_path / "pipeline.yaml")


def test_the_pipelines_page_lists_pipelines_and_executions(page, executed):
    page.sign_in("viewer", "/pipelines")
    page.wait_for_selector("#pipelines-table a:text-is('small')")
    page.wait_for_selector(f"#executions-table a:text-is('{executed.id}')")
    page.screenshot_as("pipelines")
    page.click("#pipelines-table a:text-is('small')")
    page.wait_for_selector("h2:has-text('Executions of')")
    page.wait_for_selector(f"#executions-table a:text-is('{executed.id}')")
    page.assert_no_errors()


def test_an_execution_shows_its_dag_and_a_rerun_comes_from_the_cache(page, ws, executed):
    page.sign_in("scientist", f"/pipelines/executions/{executed.id}")
    page.wait_for_selector("#execution-dag g.step.Completed[data-step=count]")
    assert page.locator("#execution-dag g.step").count() == 4
    assert page.locator("#execution-dag path.edge").count() == 3
    assert page.locator("#execution-dag g.step.cached").count() == 0
    # Steps that wait for another are drawn to its right.
    ingest = page.locator("#execution-dag g[data-step=ingest]").bounding_box()
    count = page.locator("#execution-dag g[data-step=count]").bounding_box()
    assert count["x"] > ingest["x"]
    page.click("#execution-dag g[data-step=clean]")
    page.wait_for_selector("#step-detail h2:has-text('clean')")
    assert "first run" in page.inner_text("#step-detail")
    page.screenshot_as("execution")
    page.click("#execution-rerun")
    page.wait_for_selector("#execution-dag g.step.cached[data-step=count]")
    new = ws.pipelines.executions("small")[0]
    assert new.id != executed.id and page.url.endswith(f"/pipelines/executions/{new.id}")
    assert page.locator("#execution-dag g.step.cached").count() == 4
    assert ws.audit.page(action="pipeline.rerun").items[0].outcome == "ok"
    page.screenshot_as("execution-rerun")
    page.assert_no_errors()
