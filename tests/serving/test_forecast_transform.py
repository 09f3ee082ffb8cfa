"""Batch transform of a forecasting model: every series with no input, the series an input names,
history rows of a new series, CSV and Parquet output, a job with logs, and bad options."""

from __future__ import annotations

import pandas as pd
import pytest

from forecast_workspace import HORIZON, SERIES, forecast_workspace, new_series_history
from kiln.errors import ConfigError, DataError


@pytest.fixture(scope="module")
def forecasting(tmp_path_factory):
    workspace, sales, promo = forecast_workspace(tmp_path_factory)
    yield workspace, sales, promo
    workspace.close()


def test_no_input_writes_every_series_forecast_as_a_job_with_logs(forecasting, tmp_path):
    workspace, sales, _ = forecasting
    job = workspace.transform(sales, output=tmp_path / "all.csv")
    assert job.result["rows"] == len(SERIES) * HORIZON and job.result["series"] == len(SERIES)
    written = pd.read_csv(tmp_path / "all.csv")
    assert list(written.columns) == ["store", "date", "step", "mean", "q0.1", "q0.5", "q0.9"]
    assert sorted(written["store"].unique()) == SERIES
    assert written["step"].tolist()[:HORIZON] == list(range(1, HORIZON + 1))
    expected = workspace.models.load(sales).forecast(["s1"])
    mine = written[written["store"] == "s1"]
    assert mine["mean"].to_numpy() == pytest.approx(expected["mean"].to_numpy(), abs=1e-6)
    assert mine["date"].iloc[0] == "2024-02-05"
    assert any("Progress 100.0%" in entry[-1] for entry in workspace.jobs.logs(job.id))


def test_an_input_of_ids_or_of_history_rows_and_parquet_output(forecasting, tmp_path):
    workspace, sales, _ = forecasting
    pd.DataFrame({"store": ["s2"]}).to_csv(tmp_path / "ids.csv", index=False)
    workspace.transform(sales, input=tmp_path / "ids.csv", output=tmp_path / "s2.parquet")
    one = pd.read_parquet(tmp_path / "s2.parquet")
    assert set(one["store"]) == {"s2"} and len(one) == HORIZON
    history = pd.DataFrame(new_series_history("n1")).drop(columns=["price"])
    history.to_parquet(tmp_path / "history.parquet", index=False)
    workspace.transform(sales, input=tmp_path / "history.parquet", output=tmp_path / "n1.csv")
    cold = pd.read_csv(tmp_path / "n1.csv")
    assert set(cold["store"]) == {"n1"} and cold["date"].iloc[0] == "2024-01-22"


def test_bad_transforms_of_a_forecaster_are_refused(forecasting, tmp_path):
    workspace, sales, _ = forecasting
    with pytest.raises(ConfigError) as keep:
        workspace.transform(sales, output=tmp_path / "o.csv", keep="id", id_column="store")
    assert keep.value.code == "transform.bad-keep"
    with pytest.raises(DataError) as missing:
        workspace.transform(sales, input=tmp_path / "none.csv", output=tmp_path / "o.csv")
    assert missing.value.code == "data.file-not-found"
    pd.DataFrame({"store": ["s1", "zz"]}).to_csv(tmp_path / "unknown.csv", index=False)
    with pytest.raises(DataError) as unknown:
        workspace.transform(sales, input=tmp_path / "unknown.csv", output=tmp_path / "o.csv")
    assert unknown.value.code == "forecast.unknown-series" and "'zz'" in unknown.value.message
    assert not (tmp_path / "o.csv").exists()


def test_the_cli_transforms_every_series(forecasting, tmp_path, run_cli):
    workspace, _, promo = forecasting
    result = run_cli(
        "transform", promo, "--output", str(tmp_path / "p.csv"), home=workspace.home, check=True
    )
    assert "forecast rows of 3 series" in result.stdout
    assert len(pd.read_csv(tmp_path / "p.csv")) == len(SERIES) * HORIZON


def test_a_model_that_scores_rows_still_needs_an_input(trained, tmp_path):
    workspace, result = trained
    with pytest.raises(ConfigError) as error:
        workspace.transform(result.model.ref, output=tmp_path / "o.csv")
    assert error.value.code == "transform.no-input"
