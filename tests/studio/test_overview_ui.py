"""The overview page on a workspace with records: the counts come from the paged lists."""

from __future__ import annotations

import pytest


@pytest.fixture
def ws(trained_copy):
    return trained_copy[0]


def test_the_overview_counts_the_workspace_records(page, ws):
    page.sign_in("viewer")
    page.wait_for_selector("#recent-jobs tbody tr td a")
    assert page.inner_text("#stat-datasets b") == str(len(ws.data.list()))
    assert page.inner_text("#stat-versions b") == "1"
    assert page.inner_text("#stat-endpoints b") == "1"
    assert page.inner_text("#stat-pending b") == "1"  # the trained model awaits approval
    page.screenshot_as("overview")
    page.click("#stat-versions")
    page.wait_for_selector("main h1:text-is('Models')")
    page.assert_no_errors()
