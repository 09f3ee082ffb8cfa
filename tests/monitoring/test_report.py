"""The HTML report of a monitor run: its sections, aggregates only, and its size at 30 columns."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from kiln.monitoring import (
    check_data_quality,
    dataset_statistics,
    monitor_report,
    suggest_constraints,
)
from kiln.reports import split_library


def _table(rows: int, seed: int, *, drift: bool) -> pd.DataFrame:
    """20 numeric and 10 categorical columns; ``drift`` moves every one of them."""
    rng = np.random.default_rng(seed)
    shift = 1.0 if drift else 0.0
    columns = {f"x{i}": rng.normal(shift * (i + 1), 1 + i, rows) for i in range(20)}
    for i in range(10):
        k = 3 + 20 * i
        shares = np.arange(1, k + 1, dtype=float) ** (2.0 if drift else -1.0)
        columns[f"c{i}"] = rng.choice([f"v{j}" for j in range(k)], rows, p=shares / shares.sum())
    return pd.DataFrame(columns)


def _run(reference: pd.DataFrame, current: pd.DataFrame) -> dict:
    """A monitor run's record as the service stores it (MonitorRun.to_dict())."""
    statistics = dataset_statistics(reference)
    result = check_data_quality(statistics, suggest_constraints(statistics), current)
    return {
        "id": "run-1",
        "monitor": "churn-quality",
        "type": "data-quality",
        "status": "Completed",
        "window_start": "2026-01-01T10:00:00+00:00",
        "window_end": "2026-01-01T11:00:00+00:00",
        "inputs": {"endpoint": "churn", "baseline": "b-1"},
        "metrics": result.metrics,
        "violations": result.violations,
        "summary": {
            "drift": result.drift,
            "statistics": result.statistics,
            "baseline_statistics": statistics,
            "rows": len(current),
            "corrupt_records": 3,
        },
    }


@pytest.fixture(scope="module")
def drifted_run() -> dict:
    return _run(_table(400, 1, drift=False), _table(400, 2, drift=True))


def test_a_thirty_column_report_is_small_and_holds_no_raw_rows(drifted_run):
    current = _table(400, 2, drift=True)
    page = monitor_report(drifted_run)
    body, library = split_library(page)
    assert library is not None  # plotly.js, which kiln.reports.write keeps beside the page
    assert len(body.encode()) < 250_000, len(body.encode())
    drifted = {d["column"] for d in drifted_run["summary"]["drift"] if d["drifted"]}
    assert len(drifted) == 30
    assert body.count('<div id="mf') == 30  # one distribution plot per drifted column
    # No raw value of the window is on the page (the sketches' quantiles are rounded).
    raw = [repr(float(v)) for v in current["x5"].iloc[:50]]
    assert not any(value in body for value in raw)


def test_the_sections(drifted_run):
    page = monitor_report(drifted_run)
    headings = re.findall(r"<h2>([^<]+)</h2>", page)
    assert headings == ["Summary", "Violations", "Drift", "Column statistics", "Metrics"]
    assert "Corrupt records skipped" in page and "2026-01-01T10:00:00+00:00" in page
    assert "baseline_drift_check" in page and "jensen_shannon" in page
    assert '<td class="fail">drifted</td>' in page


def test_no_violation_and_other_monitor_types():
    quiet = _run(_table(400, 1, drift=False), _table(400, 1, drift=False))
    page = monitor_report(quiet)
    assert "No violation: every check passed." in page
    assert '<td class="fail">drifted</td>' not in page
    bias = {
        "id": "run-2",
        "monitor": "churn-bias",
        "type": "bias",
        "status": "Completed",
        "metrics": {"bias.DPPL": 0.31, "violations": 1.0},
        "violations": [
            {
                "column": "gender",
                "check": "bias_drift_check",
                "observed": 0.31,
                "expected": "<= 0.1",
                "evidence": {"interval": [0.2, 0.4]},
            }
        ],
        "summary": {"bias": {"DPPL": 0.31, "DI": 0.62}, "rows": 250},
    }
    page = monitor_report(bias)
    headings = re.findall(r"<h2>([^<]+)</h2>", page)
    assert headings == ["Summary", "Violations", "Bias", "Metrics"]
    assert "DPPL" in page and "bias_drift_check" in page and "interval" in page
