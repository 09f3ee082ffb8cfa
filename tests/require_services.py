"""A pytest plugin: with ``KILN_REQUIRE_SERVICES=1`` (as ``.ci/run`` sets it) a skipped test is a
failure, so a server a test could not start never passes unnoticed in CI."""

from __future__ import annotations

import os

import pytest


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if (
        report.skipped
        and os.environ.get("KILN_REQUIRE_SERVICES") == "1"
        and not hasattr(report, "wasxfail")
    ):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"KILN_REQUIRE_SERVICES=1 turns this skip into a failure: {reason}"
