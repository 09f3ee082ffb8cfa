"""Forecast monitoring: actuals uploaded (SDK, HTTP, CLI), joined with the captured forecasts,
scored as by hand, and a forecast-quality monitor's run and violations."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from forecast_workspace import forecast_workspace, history_rows
from kiln.errors import ConfigError, DataError
from kiln.serving import create_app
from kiln.store import now


@pytest.fixture(scope="module")
def monitored(tmp_path_factory):
    """'fc' serves ``sales`` and captured one forecast of s0 (2 steps) and one of s1 (1 step);
    actuals arrived for both of s0's steps and for a day nobody forecast."""
    workspace, sales, _ = forecast_workspace(tmp_path_factory)
    workspace.endpoints.deploy(sales, endpoint="fc")
    workspace.endpoints.set_capture("fc", 100)
    with TestClient(create_app(workspace), base_url="http://localhost") as client:
        answers = [
            client.post("/endpoints/fc/invocations", json=body).json()
            for body in ({"series": ["s0"], "horizon": 2}, {"series": ["s1"], "horizon": 1})
        ]
        uploaded = client.post(
            "/endpoints/fc/actuals",
            json=[
                {"store": "s0", "date": "2024-02-05", "sales": 40.0},
                {"store": "s0", "date": "2024-02-06", "sales": 70.0},
            ],
        )
        csv = client.post(
            "/endpoints/fc/actuals",
            content=b"store,date,sales\ns2,2024-03-01,1\n",
            headers={"content-type": "text/csv"},
        )
        refused = client.post("/endpoints/fc/actuals", json={"store": "s0"})
    yield workspace, answers, (uploaded, csv, refused)
    workspace.close()


def hand_metrics(forecast: list[dict], actuals: list[float]) -> dict:
    """MASE, sMAPE, WQL and coverage of s0's two steps, computed here from the definitions."""
    history = history_rows()
    y = history.loc[history["store"] == "s0", "sales"].to_numpy(float)
    scale = np.mean(np.abs(y[7:] - y[:-7]))  # seasonal naive error, a weekly season
    means = np.array([s["mean"] for s in forecast])
    actual = np.array(actuals)
    errors = np.abs(actual - means)
    pinball = 0.0
    for q in (0.1, 0.5, 0.9):
        predicted = np.array([s["quantiles"][f"{q:g}"] for s in forecast])
        diff = actual - predicted
        pinball += np.sum(2 * np.maximum(q * diff, (q - 1) * diff)) / 3
    low = np.array([s["quantiles"]["0.1"] for s in forecast])
    high = np.array([s["quantiles"]["0.9"] for s in forecast])
    return {
        "mase": np.mean(errors / scale),
        "smape": np.mean(2 * errors / (np.abs(actual) + np.abs(means))),
        "wql": pinball / np.sum(np.abs(actual)),
        "coverage": np.mean((actual >= low) & (actual <= high)),
        "rmse": np.sqrt(np.mean(errors**2)),
    }


def test_actuals_are_uploaded_over_http_and_refused_when_malformed(monitored):
    _, _, (uploaded, csv, refused) = monitored
    assert uploaded.status_code == 200, uploaded.text
    assert uploaded.json() | {"first": None, "last": None} == {
        "endpoint": "fc",
        "received": 2,
        "stored": 2,
        "series": 1,
        "first": None,
        "last": None,
    }
    assert csv.status_code == 200 and csv.json()["stored"] == 1
    assert refused.status_code == 422 and refused.json()["error"] == "request.bad-body"


def test_forecast_quality_equals_the_hand_computed_metrics(monitored):
    workspace, answers, _ = monitored
    quality = workspace.monitoring.forecast_quality("fc")
    assert quality["forecasts"] == 3 and quality["matched"] == 2
    forecast = answers[0]["predictions"][0]["forecast"]
    expected = hand_metrics(forecast, [40.0, 70.0])
    for name, value in expected.items():
        assert quality["metrics"][name] == pytest.approx(value, rel=1e-5), name
    assert [row["step"] for row in quality["by_step"]] == [1, 2]
    assert quality["by_variant"]["primary"]["matched"] == 2
    assert quality["by_variant"]["primary"]["mase"] == quality["metrics"]["mase"]
    step_two = quality["by_step"][1]
    assert step_two["smape"] == pytest.approx(
        2 * abs(70 - forecast[1]["mean"]) / (70 + abs(forecast[1]["mean"])), rel=1e-5
    )


def test_a_later_upload_by_the_cli_replaces_an_actual(monitored, tmp_path, run_cli):
    workspace, answers, _ = monitored
    path = tmp_path / "later.csv"
    pd.DataFrame([{"store": "s0", "date": "2024-02-06", "sales": 55.5}]).to_csv(path, index=False)
    try:
        shown = run_cli("endpoints", "actuals", "fc", str(path), home=workspace.home, check=True)
        assert "Stored 1 actual value(s) of 1 series" in shown.stdout
        quality = workspace.monitoring.forecast_quality("fc")
        forecast = answers[0]["predictions"][0]["forecast"]
        expected = hand_metrics(forecast, [40.0, 55.5])
        assert quality["metrics"]["mase"] == pytest.approx(expected["mase"], rel=1e-5)
    finally:
        workspace.monitoring.upload_actuals(
            "fc", [{"store": "s0", "date": "2024-02-06", "sales": 70.0}]
        )


@pytest.mark.parametrize(
    ("rows", "code", "field"),
    [
        ([{"store": "s0", "date": "2024-02-05"}], "forecast.bad-actuals", "sales"),
        ([{"store": "s0", "date": "2024-02-05", "sales": "many"}], "forecast.bad-actuals", "sales"),
        ([{"store": "s0", "date": "someday", "sales": 1}], "timeseries.bad-timestamp", "date"),
        ([], "forecast.bad-actuals", None),
    ],
)
def test_bad_actuals_are_refused_and_nothing_is_stored(monitored, rows, code, field):
    workspace, _, _ = monitored
    before = workspace.artifacts.list_named("actuals/fc")
    with pytest.raises(DataError) as error:
        workspace.monitoring.upload_actuals("fc", rows)
    assert error.value.code == code
    if field:
        assert error.value.field == field
    assert workspace.artifacts.list_named("actuals/fc") == before


def test_a_forecast_quality_monitor_raises_violations_and_alarms(monitored, run_cli):
    workspace, _, _ = monitored
    default = workspace.monitoring.create("fc-default", endpoint="fc", type="forecast-quality")
    assert default.config["thresholds"] == {"mase": 1.2, "coverage": 0.7}
    run_cli(
        "monitor",
        "create",
        "fc-strict",
        "--endpoint",
        "fc",
        "--type",
        "forecast-quality",
        "--window",
        "1d",
        "--threshold",
        "mase=0.001",
        "--threshold",
        "coverage=1",
        home=workspace.home,
        check=True,
    )
    alarm = workspace.monitoring.alarms.create(
        "fc-mase", on="monitor:fc-strict", when="mase > 0.001"
    )
    run = workspace.monitoring.run("fc-strict", at=now() + timedelta(minutes=1))
    assert run.status == "Completed", run.failure_reason
    quality = workspace.monitoring.forecast_quality("fc")
    assert run.metrics["mase"] == pytest.approx(quality["metrics"]["mase"], rel=1e-6)
    assert run.metrics["matched_steps"] == 2.0
    assert {v["column"] for v in run.violations} >= {"mase"}
    assert all(v["check"] == "forecast_quality_check" for v in run.violations)
    assert "Forecast quality" in workspace.monitoring.report(run.id).read_text()
    assert workspace.monitoring.alarms.get(alarm.name).state == "ALARM"


def test_monitors_of_the_wrong_kind_are_refused(monitored, trained):
    workspace, _, _ = monitored
    with pytest.raises(ConfigError) as wrong_type:
        workspace.monitoring.create("fc-dq", endpoint="fc", type="data-quality")
    assert wrong_type.value.code == "monitor.forecasting-endpoint"
    with pytest.raises(ConfigError) as bad_threshold:
        workspace.monitoring.create(
            "fc-bad", endpoint="fc", type="forecast-quality", thresholds={"accuracy": 0.9}
        )
    assert bad_threshold.value.code == "monitor.bad-threshold"
    churn, _ = trained
    with pytest.raises(ConfigError) as not_forecasting:
        churn.monitoring.upload_actuals("churn", [{"store": "s0"}])
    assert not_forecasting.value.code == "monitor.not-forecasting"
