"""A forecaster in Studio: its model, job and report pages render (no console error) and its
API records carry the backtest."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest


@pytest.fixture
def forecast_ws(ws, tmp_path):
    t = np.arange(40)
    frame = pd.concat(
        pd.DataFrame(
            {
                "store": f"s{i}",
                "date": pd.date_range("2024-01-01", periods=40, freq="D").strftime("%Y-%m-%d"),
                "sales": 20 + i + 5 * np.sin(2 * np.pi * t / 7),
            }
        )
        for i in range(3)
    )
    frame.to_csv(tmp_path / "sales.csv", index=False)
    ws.data.ingest(tmp_path / "sales.csv", name="sales")
    result = ws.train(
        "sales",
        algorithm="seasonal_naive",
        problem_type="forecasting",
        target="sales",
        timestamp="date",
        id="store",
        horizon=7,
        backtests=2,
    )
    return ws, result


def test_a_forecasters_pages_render_and_its_records_carry_the_backtest(page, api_as, forecast_ws):
    ws, result = forecast_ws
    api = api_as("viewer")
    version = api.get("/models/sales/1").raise_for_status().json()
    assert "backtest" in str(version) and "mase" in str(version)
    job = api.get(f"/jobs/{result.job.id}").raise_for_status().json()
    assert job["kind"] == "forecasting"
    report = api.get(f"/jobs/{result.job.id}/report")
    assert report.status_code == 200 and "Backtest" in report.text
    page.sign_in("viewer")
    for path in ("/models", "/models/sales", "/models/sales/1", f"/jobs/{result.job.id}"):
        page.open(path)
        page.wait_for_load_state("networkidle")
        assert not page.locator("main .error").all_inner_texts(), path
        assert "null" not in page.inner_text("main").split(), path
        page.screenshot_as(path.strip("/").replace("/", "-"))
    page.assert_no_errors()
