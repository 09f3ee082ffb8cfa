"""ws.train(problem_type="forecasting"): the backtest, the registered model, its report, and
each bad input refused before any job starts."""

import numpy as np
import pandas as pd
import pytest

import kiln
from kiln.errors import KilnError
from kiln.forecasting import backtest_frames

HORIZON = 7
OPTIONS = {"problem_type": "forecasting", "target": "sales", "timestamp": "date", "id": "store"}


def sales_table(lengths=(5, 40, 40, 40, 40)) -> pd.DataFrame:
    """Daily sales with a weekly season; store s0 is shorter than a season."""
    rng = np.random.default_rng(0)
    parts = []
    for i, n in enumerate(lengths):
        t = np.arange(n)
        parts.append(
            pd.DataFrame(
                {
                    "store": f"s{i}",
                    "date": pd.date_range("2024-01-01", periods=n, freq="D").strftime("%Y-%m-%d"),
                    "sales": 50 + 10 * np.sin(2 * np.pi * t / 7) + rng.normal(0, 2, n) + 3 * i,
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


def ingest(ws, frame: pd.DataFrame, name: str, folder) -> None:
    path = folder / f"{name}.csv"
    frame.to_csv(path, index=False)
    ws.data.ingest(path, name=name)


@pytest.fixture(scope="module")
def fc(tmp_path_factory):
    """A workspace with the sales data, the bad tables, and one trained seasonal-naive model."""
    folder = tmp_path_factory.mktemp("forecasting")
    ws = kiln.Workspace.init(folder / "ws")
    table = sales_table()
    ingest(ws, table, "sales", folder)
    bad_time = table.copy()
    bad_time.loc[3, "date"] = "not a date"
    ingest(ws, bad_time, "bad_time", folder)
    ingest(ws, pd.concat([table, table.iloc[[20]]]), "twice", folder)
    ingest(ws, table.drop(index=[25, 26]), "gaps", folder)
    result = ws.train("sales", algorithm="seasonal_naive", horizon=HORIZON, backtests=2, **OPTIONS)
    yield ws, result
    ws.close()


def test_trains_backtests_and_registers_a_forecaster(fc):
    ws, result = fc
    assert set(result.metrics["backtest"]) >= {"mase", "smape", "mape", "rmse", "wql", "coverage"}
    assert result.job.kind == "forecasting" and result.job.result["backtest"]["windows"] == 2
    version = ws.models.get(result.model.ref)
    assert version.algorithm == "seasonal_naive"
    model = ws.models.load(result.model.ref)
    forecast = model.forecast(["s1"])
    assert len(forecast) == HORIZON and {"mean", "q0.1", "q0.9"} <= set(forecast.columns)
    # The short series is listed; shorter than a season, the naive baseline forecasts it.
    assert result.job.result["series"]["short"] == ["s0"]
    short = model.forecast(["s0"])
    last = sales_table().query("store == 's0'")["sales"].iloc[-1]
    assert np.allclose(short["mean"], last)


def test_drop_leaves_the_short_series_out(fc):
    ws, _ = fc
    result = ws.train(
        "sales", algorithm="naive", horizon=HORIZON, backtests=1, short_series="drop", **OPTIONS
    )
    assert result.job.result["series"]["dropped"] == ["s0"]
    with pytest.raises(KilnError) as caught:
        ws.models.load(result.model.ref).forecast(["s0"])
    assert caught.value.code == "forecast.unknown-series"


def test_the_report_shows_the_backtest_and_the_worst_series(fc, tmp_path):
    ws, result = fc
    report = ws.report(result.job.id, out=tmp_path / "report.html")
    page = report.path.read_text("utf-8")
    per_series = backtest_frames(ws, result.job.result["backtest"]["tables"])["per_series"]
    worst = per_series.sort_values("mase").iloc[-1]["series"]
    assert report.sections[1:] == [
        "Backtest metrics",
        "Metrics by horizon step",
        "Forecasts against actuals",
        "Worst series",
        "Series notes",
    ]
    # one plot by step, then the sampled series: every scored one here (s0 is too short)
    assert len(per_series) == 4
    assert page.count('class="plotly-graph-div"') == 1 + 4
    assert f"the worst by MASE ({worst})" in page
    assert "forecast by a baseline" in page and "<li>s0</li>" in page


@pytest.mark.parametrize(
    ("data", "options", "code"),
    [
        ("bad_time", {}, "timeseries.bad-timestamp"),
        ("sales", {"horizon": 0}, "forecast.bad-horizon"),
        ("twice", {}, "timeseries.duplicate-timestamps"),
        ("gaps", {}, "timeseries.gaps"),
        ("sales", {"ratios": (0.8, 0.1, 0.1)}, "forecast.bad-option"),
        ("sales", {"horizn": 3}, "training.unknown-option"),
        ("sales", {"timestamp": None}, "forecast.missing-option"),
        ("sales", {"problem_type": None}, "forecast.needs-problem-type"),
        ("sales", {"horizon": 40}, "forecast.too-short"),  # the longest series has 40 days
    ],
)
def test_bad_input_is_refused_before_any_job(fc, data, options, code):
    ws, _ = fc
    jobs = len(ws.jobs.list(limit=None))
    given = OPTIONS | {"horizon": HORIZON} | options
    given = {k: v for k, v in given.items() if v is not None}
    with pytest.raises(KilnError) as caught:
        ws.train(data, algorithm="naive", **given)
    assert caught.value.code == code
    if code == "forecast.too-short":  # forecasting AutoML checks it before its job too
        with pytest.raises(KilnError, match="the longest has 40") as caught:
            ws.automl(data, time_limit=10, **given)
    assert len(ws.jobs.list(limit=None)) == jobs


def test_a_forecasting_problem_routes_training_and_checks_its_criteria(fc):
    ws, _ = fc
    ws.problems.create(
        "demand",
        {
            "target": "sales",
            "problem_type": "forecasting",
            "criteria": ["backtest.mase < 0.0001"],  # no forecaster meets it
        },
    )
    result = ws.train(
        "sales",
        algorithm="seasonal_naive",
        problem="demand",
        timestamp="date",
        id="store",
        horizon=HORIZON,
        backtests=1,
    )
    assert result.job.kind == "forecasting"
    assert result.job.result["problem"] == "demand:1"
    assert result.model.approval_status == "Rejected"
    assert result.job.result["criteria"][0]["metric"] == "mase"


def test_series_too_short_for_a_model_of_changes_are_named_in_the_log(fc):
    # differences=35 needs 35 values and the horizon, 42: no store has them (s0 has 5, the
    # others 40), so the registered lightgbm is the naive baseline on every series.
    ws, _ = fc
    result = ws.train(
        "sales",
        algorithm="lightgbm",
        horizon=HORIZON,
        backtests=1,
        hyperparameters={"differences": 35, "n_estimators": 20},
        **OPTIONS,
    )
    lines = [line[3] for line in ws.jobs.logs(result.job.id)]
    warned = [line for line in lines if "shorter than the 42 values" in line]
    assert warned and "5 of 5 series" in warned[0] and "naive baseline" in warned[0], lines
