"""Every Studio page, on a workspace with a trained and deployed model, renders in Chromium
without a console error, for the least trusted roles and for an admin (an annotator has the
labelling pages only); a screenshot of each."""

from __future__ import annotations

import pytest


@pytest.fixture
def ws(trained_copy):
    ws = trained_copy[0]
    ws.labeling.create(
        "churn-check", data="churn", task="classification", labels=["yes", "no"], columns=["tenure"]
    )
    ws.labeling.start_review("churn", when="confidence < 0.6", sample="1%")
    return ws


def pages_of(ws) -> list[str]:
    version = ws.models.list()[0]
    data = ws.data.get_by_id(version.dataset_version_id)
    return [
        "/",
        "/canvas",
        "/data",
        f"/data/{data.name}",
        f"/data/{data.name}/{data.version}",
        "/jobs",
        f"/jobs/{version.job_id}",
        "/experiments",
        "/models",
        f"/models/{version.group}",
        f"/models/{version.group}/{version.version}",
        "/endpoints",
        "/endpoints/churn",
        "/monitors",
        "/labeling",
        "/labeling/churn-check",
        "/labeling/churn-check/annotate",
        "/labeling/churn-review",
        "/pipelines",
        "/audit",
        "/search?q=churn",
    ]


@pytest.mark.parametrize("role", ["annotator", "viewer", "admin"])
def test_every_page_renders_without_console_errors(page, ws, role):
    page.sign_in(role)
    paths = pages_of(ws) + (["/users"] if role == "admin" else [])
    if role == "annotator":  # who has the labelling pages only
        paths = [p for p in paths if p.startswith("/labeling")]
    for path in paths:
        page.open(path)
        page.wait_for_load_state("networkidle")
        shown = page.locator("main .error").all_inner_texts()
        # A viewer is told on Canvas that running it needs the scientist role: not a failure.
        failures = [text for text in shown if "needs the scientist role" not in text]
        assert not failures, (path, failures)
        page.screenshot_as(f"{role}-{path.strip('/').replace('/', '-') or 'overview'}")
    if role != "annotator":  # what the endpoint sends for review: for viewers and above
        page.open("/labeling/churn-review")
        assert page.inner_text("#labeling-review") == "confidence < 0.6, and 1 % of the rest"
    page.assert_no_errors()
