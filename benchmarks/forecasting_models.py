"""Forecaster speed benchmark: milliseconds per series of kiln's statistical forecasters.

Data (seeded, synthetic): ``--series`` (300) daily series of ``--length`` (400) values, each a
level of 20 to 200, a weekly season of 10–30% of the level, a small trend and normal noise
(multiplicative seasons on half of them, so ETS's multiplicative configurations are tried).

Each algorithm is fitted and forecasts every series ``--horizon`` (14) steps ahead from its
whole history (a local model fits each series when it forecasts; LightGBM trains twice, once to
calibrate its quantiles), once with one process and once with ``--threads`` (2) processes
(joblib's for the per-series models, LightGBM's own threads for LightGBM). The figures are
wall-clock time over the number of series, and (one process only) the process's CPU time over
it, which a machine busy with other work does not inflate. Run from the repository root::

    python benchmarks/forecasting_models.py --algorithms ets,theta,lightgbm --series 300
    python benchmarks/forecasting_models.py --algorithms ets,theta,lightgbm --accuracy 60

(the second backtests the first 60 of the same series, two windows of 14 days, against
seasonal naive).
"""

from __future__ import annotations

import argparse
import json
import time

import _common  # noqa: F401  (sets OMP_WAIT_POLICY before numpy loads)


def make_panel(series: int, length: int):
    import numpy as np
    import pandas as pd

    from kiln.forecasting import ForecastSpec, prepare_panel

    rng = np.random.default_rng(0)
    days = pd.date_range("2023-01-01", periods=length, freq="D")
    t = np.arange(length)
    frames = []
    for i in range(series):
        level = rng.uniform(20, 200)
        season = np.sin(2 * np.pi * t / 7 + rng.uniform(0, 7)) * rng.uniform(0.1, 0.3)
        trend = 1 + rng.normal(0, 0.0005) * t
        if i % 2:
            y = level * trend * (1 + season) * (1 + rng.normal(0, 0.05, length))
        else:
            y = level * trend + level * season + rng.normal(0, 0.05 * level, length)
        frames.append(pd.DataFrame({"id": f"s{i}", "date": days, "y": y}))
    spec = ForecastSpec(target="y", timestamp="date", id_columns=["id"], horizon=14)
    panel, _, _ = prepare_panel(pd.concat(frames, ignore_index=True), spec)
    return panel


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--algorithms", default="ets,theta,lightgbm")
    parser.add_argument("--series", type=int, default=300)
    parser.add_argument("--length", type=int, default=400)
    parser.add_argument("--horizon", type=int, default=14)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--accuracy",
        type=int,
        default=0,
        help="instead of timing, backtest this many of the series (2 windows) with each "
        "algorithm and seasonal naive, and print MASE, WQL and coverage",
    )
    args = parser.parse_args()

    from kiln.forecasting import backtest, get_forecaster

    if args.accuracy:
        panel = make_panel(args.accuracy, args.length)
        for name in ["seasonal_naive", *args.algorithms.split(",")]:
            result = backtest(
                lambda name=name: get_forecaster(
                    name,
                    horizon=args.horizon,
                    quantiles=[0.1, 0.5, 0.9],
                    season_length=panel.season_length,
                ),
                panel,
                horizon=args.horizon,
                windows=2,
                quantiles=[0.1, 0.5, 0.9],
            )
            wanted = ("mase", "wql", "coverage", "coverage_nominal")
            print(json.dumps({"algorithm": name, **{k: result.metrics[k] for k in wanted}}))
        return
    panel = make_panel(args.series, args.length)
    future = panel.future(args.horizon)
    results = []
    for name in args.algorithms.split(","):
        for threads in sorted({1, args.threads}):
            model = get_forecaster(
                name,
                horizon=args.horizon,
                quantiles=[0.1, 0.5, 0.9],
                season_length=panel.season_length,
                threads=threads,
            )
            started, cpu_started = time.perf_counter(), time.process_time()
            model.fit(panel).predict(panel, future)
            seconds = time.perf_counter() - started
            cpu = time.process_time() - cpu_started
            row = {
                "algorithm": name,
                "threads": threads,
                "series": args.series,
                "length": args.length,
                "seconds": round(seconds, 2),
                "ms_per_series": round(1000 * seconds / args.series, 1),
                # CPU time of this process: the work itself on a busy machine (with worker
                # processes it leaves their work out, so it is shown for one process only).
                "cpu_ms_per_series": round(1000 * cpu / args.series, 1) if threads == 1 else None,
                "fallbacks": model.describe().get("fallbacks", 0),
            }
            results.append(row)
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
