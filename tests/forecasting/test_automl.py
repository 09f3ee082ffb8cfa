"""Forecasting AutoML: the search, its time limit, failing candidates, the greedy ensemble, and
the job that registers and serves the choice."""

from __future__ import annotations

import dataclasses
import json
import sys
import time
import types

import numpy as np
import pandas as pd
import pytest

from kiln.errors import ConfigError, DataError
from kiln.forecasting import (
    FORECASTERS,
    EnsembleForecaster,
    ForecastSpec,
    LocalForecaster,
    backtest,
    forecast_automl,
    get_forecaster,
    prepare_panel,
    register_forecaster,
    score_forecasts,
    search_forecasters,
)
from kiln.forecasting import _automl as automl_module
from kiln.forecasting._automl import PROBE_SERIES, _choose, _estimate
from kiln.forecasting._ensemble import ensemble_loss, greedy_ensemble
from kiln.forecasting._forecaster import SeasonalNaive

QUANTILES = [0.1, 0.5, 0.9]


class Biased(SeasonalNaive):
    """Seasonal naive shifted by ``bias``: two opposite ones average to better than either."""

    name = "biased"

    def forecast_series(self, y, horizon):
        mean, quantiles = super().forecast_series(y, horizon)
        bias = self.hyperparameters.get("bias", 0.0)
        return mean + bias, quantiles + bias


class BiasedUp(Biased):
    def __init__(self, **settings):
        super().__init__(bias=1.5, **settings)


class BiasedDown(Biased):
    def __init__(self, **settings):
        super().__init__(bias=-1.5, **settings)


class Broken(LocalForecaster):
    name = "broken"

    def forecast_series(self, y, horizon):
        raise RuntimeError("this candidate always fails")


class Slow(SeasonalNaive):
    """Longer per window than the whole time limit the deadline test gives."""

    name = "slow"

    def _fit(self, panel):
        time.sleep(1.0)


@pytest.fixture
def test_forecasters(monkeypatch):
    """The test-only forecasters, registered under their names (and removed afterwards)."""
    module = types.ModuleType("kiln_test_forecasters")
    classes = {"up": BiasedUp, "down": BiasedDown, "broken": Broken, "slow": Slow}
    for cls in classes.values():
        setattr(module, cls.__name__, cls)
    monkeypatch.setitem(sys.modules, module.__name__, module)
    saved = dict(FORECASTERS)
    for name, cls in classes.items():
        register_forecaster(name, f"{module.__name__}:{cls.__name__}", "A test forecaster.")
    yield
    FORECASTERS.clear()
    FORECASTERS.update(saved)


def sales(series: int = 4, length: int = 56, noise: float = 1.0) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    t = np.arange(length)
    return pd.concat(
        pd.DataFrame(
            {
                "store": f"s{i}",
                "date": pd.date_range("2024-01-01", periods=length, freq="D"),
                "sales": 20 + 5 * np.sin(2 * np.pi * t / 7) + rng.normal(0, noise, length),
            }
        )
        for i in range(series)
    )


@pytest.fixture(scope="module")
def problem():
    spec = ForecastSpec(
        target="sales", timestamp="date", id_columns=["store"], horizon=7, backtests=2
    ).check()
    panel, _, _ = prepare_panel(sales(), spec)
    return spec, panel


def search(problem, candidates, *, time_limit=30.0, metric="wql"):
    spec, panel = problem
    lines: list[str] = []
    found = search_forecasters(
        panel,
        spec,
        time_limit=time_limit,
        deadline=time.time() + time_limit,
        metric=metric,
        candidates=candidates,
        log=lines.append,
    )
    return found, {row["candidate"]: row for row in found.leaderboard}, lines


@pytest.mark.parametrize("metric", ["wql", "mase"])
def test_the_ensemble_wins_when_it_beats_every_candidate(problem, test_forecasters, metric):
    found, rows, _ = search(problem, ["seasonal_naive", "naive", "up", "down"], metric=metric)
    assert found.algorithm == "ensemble"
    weights = {m["algorithm"]: m["weight"] for m in found.hyperparameters["members"]}
    assert len(weights) > 1 and sum(weights.values()) == pytest.approx(1)
    assert rows["ensemble"]["weight"] == 1.0
    assert sum(rows[name]["weight"] for name in ("seasonal_naive", "naive", "up", "down")) == (
        pytest.approx(1)
    )
    # Compared on the same windows, the choice is never worse than seasonal naive.
    assert found.backtest.metrics[metric] < rows["seasonal_naive"]["metrics"][metric]
    assert found.windows == [1, 2] and found.backtest.windows == 2
    assert found.leaderboard[0]["candidate"] == "ensemble"  # sorted best first


def test_the_best_single_candidate_wins_when_the_ensemble_does_not_beat_it(problem):
    spec, _ = problem
    seasonal, _, _ = prepare_panel(sales(noise=0.0), spec)  # seasonal naive is exact on it
    found, rows, lines = search((spec, seasonal), ["seasonal_naive", "naive", "drift"])
    assert found.algorithm == "seasonal_naive" and found.hyperparameters == {}
    assert rows["seasonal_naive"]["weight"] == 1.0 and "ensemble" not in rows
    assert any(line.startswith("Chose seasonal_naive alone") for line in lines)
    assert found.backtest.metrics == rows["seasonal_naive"]["metrics"]


def test_lightgbm_is_tried_on_levels_on_changes_and_on_changes_over_a_season(problem):
    spec, panel = problem
    _, rows, _ = search(problem, ["seasonal_naive", "lightgbm"])
    differences = {k: r["hyperparameters"].get("differences") for k, r in rows.items()}
    assert differences["lightgbm"] is None and differences["lightgbm_changes"] == 1
    assert differences["lightgbm_seasonal_changes"] == 7  # the panel's season
    assert rows["lightgbm_seasonal_changes"]["state"] == "complete"
    assert rows["lightgbm_changes"]["algorithm"] == "lightgbm"
    # A season of one step would repeat the model of changes from the previous step.
    yearly = dataclasses.replace(panel, season_length=1)
    _, rows, lines = search((spec, yearly), ["seasonal_naive", "lightgbm"])
    assert rows["lightgbm_seasonal_changes"]["state"] == "skipped"
    assert any("lightgbm_seasonal_changes: the season is one step" in line for line in lines)


def test_a_failing_or_unregistered_candidate_is_logged_and_skipped(problem, test_forecasters):
    found, rows, lines = search(problem, ["seasonal_naive", "broken"])
    assert rows["broken"]["state"] == "failed"
    assert "this candidate always fails" in rows["broken"]["reason"]
    assert any("broken failed and is skipped" in line for line in lines)
    assert found.algorithm == "seasonal_naive"
    # A planned algorithm this kiln does not register (one on another branch, say).
    found, rows, lines = search(problem, ["seasonal_naive", "unregistered"])
    assert rows["unregistered"]["state"] == "not registered"
    assert "Skipped unregistered: no forecaster of that name is registered." in lines


def test_the_greedy_selection_keeps_its_best_round():
    # y = 0; +1 and -1 average to 0 after two rounds, but every later odd round adds one more.
    up, down = np.ones((4, 1)), -np.ones((4, 1))
    weights, loss = greedy_ensemble([up, down], lambda v: float(np.abs(v).mean()), rounds=25)
    assert weights.tolist() == [0.5, 0.5] and loss == 0.0
    thirds = [{"algorithm": "naive", "weight": 0.333333} for _ in range(3)]  # rounded shares
    ensemble = EnsembleForecaster(members=thirds, horizon=2, quantiles=QUANTILES, season_length=7)
    assert ensemble.weights.sum() == pytest.approx(1, abs=1e-12)


def test_when_every_candidate_fails_the_error_names_their_failures(problem, test_forecasters):
    with pytest.raises(DataError, match="Every forecasting candidate failed.*broken: Runtime") as e:
        search(problem, ["broken"])
    assert e.value.code == "forecast.automl-nothing-fitted" and "time limit will not" in str(
        e.value
    )


def test_candidates_after_the_deadline_are_skipped_and_logged(problem, test_forecasters):
    # slow's first window takes longer than the whole limit: its backtest stops there and is
    # left out, and mean (after it) is not started.
    found, rows, lines = search(problem, ["seasonal_naive", "slow", "mean"], time_limit=0.5)
    assert rows["slow"]["state"] == "out of time" and rows["slow"]["windows"] == 1
    assert rows["mean"]["state"] == "out of time" and "seconds" not in rows["mean"]
    assert any(line.startswith("Skipped mean: out of time") for line in lines)
    assert found.algorithm == "seasonal_naive"


def test_a_candidate_whose_probed_cost_does_not_fit_is_skipped(problem, test_forecasters):
    # On more than PROBE_SERIES series, a candidate not measured yet is first timed on a sample
    # of them: slow's one probe window already takes more than the time left.
    spec, _ = problem
    panel, _, _ = prepare_panel(sales(series=PROBE_SERIES + 1, length=28), spec)
    found, rows, lines = search((spec, panel), ["seasonal_naive", "slow"], time_limit=0.5)
    assert rows["slow"]["state"] == "out of time" and "seconds" not in rows["slow"]
    assert any(line.startswith("Skipped slow: out of time (estimated") for line in lines)


def test_a_probed_cost_is_a_fixed_part_and_a_part_per_series(monkeypatch):
    # A window costs 1 s plus 0.01 s a series (a fake clock): on 1,000 series, 11 s; scaling
    # the sample's whole time by 100 would say 110 s and skip a cheap candidate.
    clock = [0.0]

    class Series:
        def __init__(self, names):
            self.names = list(names)

        def ids(self):
            return self.names

        def subset(self, names):
            return Series(names)

    def fake_backtest(make, panel, **_):
        clock[0] += 1.0 + 0.01 * len(panel.ids())

    monkeypatch.setattr(automl_module, "backtest", fake_backtest)
    monkeypatch.setattr(automl_module.time, "perf_counter", lambda: clock[0])
    spec = ForecastSpec(target="y", timestamp="t", horizon=7)
    panel = Series(f"s{i}" for i in range(1000))
    assert _estimate("naive", None, panel, spec, {}, 0) == pytest.approx(11.0)
    # The other baselines cost about what the reference, measured first, did.
    assert _estimate("drift", None, panel, spec, {"seasonal_naive": 2.0}, 0) == 3.0


def test_candidates_on_fewer_windows_are_compared_on_the_windows_all_ran(problem):
    spec, panel = problem
    settings = {"horizon": 7, "quantiles": QUANTILES, "season_length": 7}
    forecasts, rows = {}, []
    for name, windows in (("seasonal_naive", 2), ("naive", 1)):
        result = backtest(
            lambda name=name: get_forecaster(name, **settings),
            panel,
            horizon=7,
            windows=windows,
            quantiles=QUANTILES,
        )
        result.forecasts["window"] += 2 - windows  # as the search numbers them
        forecasts[name] = result.forecasts
        rows.append({"candidate": name, "algorithm": name, "hyperparameters": {}})
        rows[-1] |= {"state": "complete", "seconds": result.seconds, "windows": windows}
    lines: list[str] = []
    found = _choose(rows, forecasts, spec, "wql", 2, lines.append, time_left=0.0)
    assert found.windows == [2] and set(found.backtest.forecasts["window"]) == {2}
    last = forecasts["seasonal_naive"].query("window == 2")
    assert rows[0]["metrics"] == score_forecasts(last, QUANTILES)[0]
    assert "Candidates are compared on the last 1 backtest window(s), which all ran." in lines


def test_the_ensemble_is_not_chosen_when_its_refit_does_not_fit_the_time_left(
    problem, test_forecasters
):
    spec, panel = problem
    settings = {"horizon": 7, "quantiles": QUANTILES, "season_length": 7}
    forecasts, rows = {}, []
    for name in ("up", "down"):
        make = lambda name=name: get_forecaster(name, **settings)  # noqa: E731
        result = backtest(make, panel, horizon=7, windows=2, quantiles=QUANTILES)
        forecasts[name] = result.forecasts
        rows.append({"candidate": name, "algorithm": name, "hyperparameters": {}})
        rows[-1] |= {"state": "complete", "seconds": result.seconds, "windows": 2}
    assert _choose(rows, forecasts, spec, "wql", 2, print).algorithm == "ensemble"
    lines: list[str] = []
    found = _choose(rows, forecasts, spec, "wql", 2, lines.append, time_left=0.0)
    assert found.algorithm in ("up", "down")
    assert any("does not fit the 0.0s left" in line for line in lines)


def test_the_ensemble_forecaster_is_the_weighted_combination(problem, test_forecasters):
    spec, panel = problem
    settings = {"horizon": 7, "quantiles": QUANTILES, "season_length": 7}
    members = [
        {"algorithm": "up", "hyperparameters": {}, "weight": 0.25},
        {"algorithm": "naive", "hyperparameters": {}, "weight": 0.75},
    ]
    ensemble = EnsembleForecaster(members=members, **settings).fit(panel)
    future = panel.future(7)
    got = ensemble.predict(panel, future)
    up = get_forecaster("up", **settings).fit(panel).predict(panel, future)
    naive = get_forecaster("naive", **settings).fit(panel).predict(panel, future)
    for column in ["mean", "q0.1", "q0.5", "q0.9"]:
        np.testing.assert_allclose(got[column], 0.25 * up[column] + 0.75 * naive[column])
    with pytest.raises(ConfigError, match="sum to 1") as error:
        EnsembleForecaster(members=[{**members[0], "weight": 0.5}], **settings)
    assert error.value.code == "forecast.bad-hyperparameter"


@pytest.mark.parametrize("metric", ["wql", "mase"])
def test_the_selection_loss_is_the_backtest_metric(problem, metric):
    spec, panel = problem
    found, _, _ = search(problem, ["naive"])
    forecasts = found.backtest.forecasts
    values = forecasts[["mean", "q0.1", "q0.5", "q0.9"]].to_numpy(dtype=float)
    loss = ensemble_loss(forecasts, QUANTILES, metric)(values)
    assert loss == pytest.approx(score_forecasts(forecasts, QUANTILES)[0][metric], abs=1e-6)


BAD_OPTIONS = [
    ({"time_limit": 0}, "forecast.bad-time-limit"),
    ({"time_limit": 9.5}, "forecast.bad-time-limit"),
    ({"time_limit": "60"}, "forecast.bad-time-limit"),
    ({"time_limit": 10, "metric": "rmse"}, "forecast.bad-metric"),
    ({"time_limit": 10, "candidates": ["prophet"]}, "forecast.unknown-algorithm"),
    ({"time_limit": 10, "candidates": []}, "forecast.unknown-algorithm"),
]


def test_bad_options_are_refused_before_any_job(ws):
    spec = ForecastSpec(target="sales", timestamp="date", id_columns=["store"], horizon=7)
    for options, code in BAD_OPTIONS:
        with pytest.raises(ConfigError) as error:
            forecast_automl(ws, "sales", spec, **options)
        assert error.value.code == code, options
    assert ws.jobs.list() == []
    with pytest.raises(ConfigError, match="timestamp") as error:
        ws.automl("sales", time_limit=10, target="sales", problem_type="forecasting", horizon=7)
    assert error.value.code == "forecast.missing-option"
    # A forecasting problem routes ws.automl to forecasting AutoML (whose time limit is refused).
    ws.problems.create("demand", {"target": "sales", "problem_type": "forecasting"})
    with pytest.raises(ConfigError) as error:
        ws.automl("sales", time_limit=5, problem="demand", timestamp="date")
    assert error.value.code == "forecast.bad-time-limit"
    with pytest.raises(ConfigError, match="test_size") as error:
        ws.automl("sales", time_limit=10, target="sales", problem_type="forecasting",
                  timestamp="date", test_size=0.2)  # fmt: skip
    assert error.value.code == "training.unknown-option"


def test_automl_job_registers_a_model_with_its_leaderboard_that_serves(ws, tmp_path, run_cli):
    path = tmp_path / "sales.csv"
    sales(series=3, length=42).to_csv(path, index=False)
    ws.data.ingest(str(path), name="sales")
    out = run_cli(
        "automl", "--data", "sales", "--problem-type", "forecasting", "--target", "sales",
        "--timestamp", "date", "--id", "store", "--horizon", "7", "--backtests", "2",
        "--quantiles", "0.1,0.5,0.9", "--time-limit", "60", "--require", "mase<5",
        "--algorithms", "seasonal_naive,naive,drift", "--json",
        home=ws.home, check=True,
    )  # fmt: skip
    summary = json.loads(out.stdout)
    assert summary["passed"] is True
    job = ws.jobs.get(summary["job"])
    assert job.kind == "forecasting"
    assert job.spec["algorithm"] == "auto" and job.spec["time_limit"] == 60
    board = job.result["leaderboard"]["rows"]
    assert board == summary["leaderboard"]["rows"]
    version = ws.models.get(summary["model"])
    assert board[0]["candidate"] == version.algorithm == "seasonal_naive"
    assert {r["state"] for r in board} == {"complete"}
    assert version.details["leaderboard"]["rows"] == board
    assert summary["metrics"]["backtest"]["mase"] == board[0]["metrics"]["mase"]
    report = ws.report(job.id)
    assert report.sections[:2] == ["Summary", "Leaderboard"]
    assert "AutoML (60 s): seasonal_naive" in report.path.read_text()
    model = ws.models.load(version.ref)
    forecast = model.forecast(["s1"])
    assert len(forecast) == 7 and {"mean", "q0.1", "q0.9"} <= set(forecast.columns)


def test_forecasting_options_need_the_forecasting_problem_type(ws, run_cli):
    out = run_cli("automl", "--data", "sales", "--time-limit", "60", "--horizon", "7", home=ws.home)
    assert out.returncode == 2 and "forecast.needs-problem-type" in out.stderr
    with pytest.raises(ConfigError) as error:
        ws.automl("sales", time_limit=60, target="sales", timestamp="date")
    assert error.value.code == "forecast.needs-problem-type"


def test_deepar_needs_many_series_draws_fewer_paths_on_a_big_panel_and_fits_its_time(
    problem, monkeypatch
):
    calls = []

    def backtest_spy(make, panel, **options):
        calls.append(make().hyperparameters)
        return backtest(lambda: get_forecaster("seasonal_naive", **settings), panel, **options)

    spec, panel = problem
    settings = {"horizon": spec.horizon, "quantiles": spec.quantiles, "season_length": 7}
    monkeypatch.setattr(automl_module, "_torch_installed", lambda: True)
    monkeypatch.setattr(automl_module, "backtest", backtest_spy)
    _, rows, _ = search(problem, ["seasonal_naive", "deepar"])  # 4 series: too few for it
    assert rows["deepar"]["state"] == "skipped" and "has 4" in rows["deepar"]["reason"]
    monkeypatch.setattr(automl_module, "DEEPAR_MIN_SERIES", 4)
    # Sampling as slow as 10,000 series: a share of the 30 s affords fewer than 100 paths.
    monkeypatch.setattr(automl_module, "DEEPAR_PATH_STEP_SECONDS", 0.002)
    _, rows, _ = search(problem, ["seasonal_naive", "deepar"])
    assert 20 <= calls[-1]["num_samples"] < 100 and rows["deepar"]["state"] == "complete"
    monkeypatch.setattr(automl_module, "DEEPAR_PATH_STEP_SECONDS", 1.0)
    _, rows, lines = search(problem, ["seasonal_naive", "deepar"])
    assert rows["deepar"]["state"] == "out of time"
    assert any(line.startswith("Skipped deepar: out of time (drawing 20") for line in lines)
