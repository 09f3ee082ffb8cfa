"""DeepAR benchmark: fit time and backtest accuracy of ``deepar`` against the seasonal-naive
baseline (and the mean), on a synthetic panel and on real quarterly series.

Data:

* synthetic (seeded): ``--series`` daily series (300) of ``--length`` days (400), each a level
  drawn log-normally (10 to ~500), a weekly profile of its own (multiplicative, ±30 %), a
  slow trend (up to ±20 % over the series), an AR(1) noise (phi 0.6, 8 % of the level) and a
  known-in-advance promotion flag (10 % of days) that lifts the day by 25 %. Horizon 14, season
  7, ``--windows`` rolling-origin backtest windows (3). Run twice: with the promotion as a
  covariate, and without it (so the covariate's worth shows).
* real: statsmodels' ``macrodata`` (US macroeconomic quarterly series 1959–2009, 203 quarters):
  its 12 series (GDP, consumption, investment, CPI, M1, interest and unemployment rates,
  inflation, ...) as one panel at very different scales. Horizon 8 quarters, season 4, 2
  windows.

Times are wall-clock seconds (``fit s``: one DeepAR fit, the mean over the windows; ``backtest
s``: every window's fit and forecast) and the process's CPU seconds over the backtest, which
shows how much of the wall time a busy shared machine took away.

Each forecaster is fitted afresh in every window on the values before the window only (kiln's
``backtest``); DeepAR runs with its default hyperparameters (30 epochs × 50 batches of 64
windows, a 2-layer LSTM of 40 units, 100 sample paths) on ``--threads`` threads (1).

    .venv/bin/python benchmarks/forecasting_deepar.py            # ~6-10 minutes on 2 CPUs
    .venv/bin/python benchmarks/forecasting_deepar.py --series 30 --windows 1   # smoke run

Prints Markdown tables and writes benchmarks/out/forecasting_deepar.json.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from _common import HERE, log, machine_info, markdown_table, write_json

# benchmarks/profile.py would shadow the standard library's profile module, which torch imports
# (through cProfile) when the optimiser is first made: the folder leaves the path once _common
# is loaded.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]

QUANTILES = [0.1, 0.5, 0.9]


def synthetic_table(series: int, length: int, seed: int = 0):
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    t = np.arange(length)
    dates = pd.date_range("2023-01-01", periods=length, freq="D")
    parts = []
    for i in range(series):
        level = float(np.exp(rng.uniform(np.log(10), np.log(500))))
        weekly = 1 + rng.uniform(-0.3, 0.3, 7)
        trend = 1 + rng.uniform(-0.2, 0.2) * t / length
        noise = np.zeros(length)
        for k in range(1, length):
            noise[k] = 0.6 * noise[k - 1] + rng.normal(0, 0.08)
        promo = (rng.random(length) < 0.1).astype(float)
        y = level * weekly[t % 7] * trend * (1 + noise) * (1 + 0.25 * promo)
        parts.append(pd.DataFrame({"item": f"i{i}", "date": dates, "sales": y, "promo": promo}))
    return pd.concat(parts, ignore_index=True)


def macro_table():
    import pandas as pd
    import statsmodels.api as sm

    data = sm.datasets.macrodata.load_pandas().data
    dates = pd.PeriodIndex.from_fields(
        year=data["year"].astype(int), quarter=data["quarter"].astype(int), freq="Q"
    ).to_timestamp()
    names = [c for c in data.columns if c not in ("year", "quarter")]
    long = data[names].assign(date=dates).melt(id_vars="date", var_name="name", value_name="value")
    return long


def run(name, table, spec, algorithms, threads, log_lines) -> list[list]:
    from kiln.forecasting import backtest, get_forecaster, prepare_panel

    panel, _future, _notes = prepare_panel(table, spec)
    rows = []
    for algorithm, label in algorithms:
        fits = []

        def make(algorithm=algorithm, fits=fits):
            forecaster = get_forecaster(
                algorithm,
                horizon=spec.horizon,
                quantiles=QUANTILES,
                season_length=panel.season_length,
                threads=threads,
            )
            fits.append(forecaster)
            return forecaster

        started, cpu = time.perf_counter(), time.process_time()
        result = backtest(
            make, panel, horizon=spec.horizon, windows=spec.backtests, quantiles=QUANTILES
        )
        seconds = time.perf_counter() - started
        cpu = time.process_time() - cpu
        fit = [f.fit_seconds for f in fits if hasattr(f, "fit_seconds")]
        metrics = result.metrics
        log(f"{name} {label}: {metrics} in {seconds:.1f} s")
        log_lines.append(
            {
                "data": name,
                "algorithm": label,
                "metrics": metrics,
                "backtest_seconds": round(seconds, 2),
                "backtest_cpu_seconds": round(cpu, 2),
                "fit_seconds": fit,
                "loss_history": [f.history for f in fits if hasattr(f, "history")],
            }
        )
        rows.append(
            [
                name,
                label,
                metrics["mase"],
                metrics["wql"],
                metrics["coverage"],
                round(sum(fit) / len(fit), 1) if fit else "—",
                round(seconds, 1),
                round(cpu, 1),
            ]
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=300)
    parser.add_argument("--length", type=int, default=400)
    parser.add_argument("--windows", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--skip-real", action="store_true")
    args = parser.parse_args()

    from kiln.forecasting import ForecastSpec

    info = machine_info()
    results: list[dict] = []
    rows = []
    table = synthetic_table(args.series, args.length)
    synthetic = f"synthetic {args.series}×{args.length} daily"
    for covariates, suffix in ((["promo"], ""), ([], " (no covariate)")):
        spec = ForecastSpec(
            target="sales",
            timestamp="date",
            id_columns=["item"],
            horizon=14,
            backtests=args.windows,
            covariates=covariates,
        )
        algorithms = [("deepar", "deepar" + suffix)]
        if not covariates:
            algorithms = [("seasonal_naive", "seasonal_naive"), ("mean", "mean"), *algorithms]
        rows += run(synthetic, table, spec, algorithms, args.threads, results)
    if not args.skip_real:
        spec = ForecastSpec(
            target="value",
            timestamp="date",
            id_columns=["name"],
            horizon=8,
            frequency="QS",
            backtests=2,
        )
        algorithms = [("seasonal_naive", "seasonal_naive"), ("mean", "mean"), ("deepar", "deepar")]
        rows += run(
            "macrodata (12 quarterly)", macro_table(), spec, algorithms, args.threads, results
        )
    headers = ["data", "algorithm", "MASE", "WQL", "coverage 80 %", "fit s", "backtest s"]
    headers.append("backtest CPU s")
    print(markdown_table(headers, rows))
    path = write_json("forecasting_deepar", {"machine": info, "args": vars(args), "runs": results})
    log(f"wrote {path}")


if __name__ == "__main__":
    main()
