"""Forecast serving benchmark: endpoint latency, batch forecasts of every series, forecast
quality over captured traffic.

Issue 18 (serving). A seasonal-naive model of ``--series`` daily series (``--days`` each,
horizon 14) is deployed; the in-process app (FastAPI's TestClient: no network, one client) is
timed on sequential requests of three kinds:

  ids        ``{"series": [one id]}``: answered from the forecasts cached at training;
  history    a series the model never saw, with 60 days of history (cold start: a fit);
  csv-10     a CSV body naming 10 series.

Then ``kiln transform`` with no input (every series, as a job), and
``ws.monitoring.forecast_quality`` over the captured ``ids`` requests once actuals for every
series' horizon are uploaded.

    .venv/bin/python benchmarks/forecast_serving.py [--series 300] [--days 120] [--requests 200]

Prints a Markdown table and writes benchmarks/out/forecast_serving.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from _common import OUT_DIR, log, markdown_table

HORIZON = 14


def panel(series: int, days: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    t = np.arange(days)
    return pd.concat(
        [
            pd.DataFrame(
                {
                    "store": f"s{i}",
                    "date": pd.date_range("2024-01-01", periods=days, freq="D").strftime(
                        "%Y-%m-%d"
                    ),
                    "sales": 50 + 10 * np.sin(2 * np.pi * t / 7) + rng.normal(0, 2, days),
                }
            )
            for i in range(series)
        ],
        ignore_index=True,
    )


def timed(function, count: int) -> dict:
    seconds = []
    for i in range(count):
        started = time.perf_counter()
        function(i)
        seconds.append(time.perf_counter() - started)
    seconds.sort()
    return {
        "p50_ms": round(statistics.median(seconds) * 1000, 2),
        "p95_ms": round(seconds[int(0.95 * (len(seconds) - 1))] * 1000, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--series", type=int, default=300)
    parser.add_argument("--days", type=int, default=120)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()

    from fastapi.testclient import TestClient

    import kiln
    from kiln.forecasting import ForecastSpec, train_forecaster
    from kiln.serving import create_app

    home = Path(tempfile.mkdtemp()) / "ws"
    ws = kiln.Workspace.init(home)
    ws.data.ingest(panel(args.series, args.days), name="sales")
    started = time.perf_counter()
    spec = ForecastSpec(target="sales", timestamp="date", id_columns=["store"], horizon=HORIZON)
    result = train_forecaster(ws, "sales", spec, algorithm="seasonal_naive")
    log(f"trained {result.model.ref} in {time.perf_counter() - started:.1f}s")
    ws.endpoints.deploy(result.model.ref, endpoint="fc", allow_unapproved=True)
    ws.endpoints.set_capture("fc", 100)
    rows: list[list] = []
    cold = [
        {"store": "new", "date": day.strftime("%Y-%m-%d"), "sales": float(40 + i % 7)}
        for i, day in enumerate(pd.date_range("2024-01-01", periods=60, freq="D"))
    ]
    ten = ("store\n" + "\n".join(f"s{i}" for i in range(10)) + "\n").encode()
    with TestClient(create_app(ws), base_url="http://localhost") as client:

        def ids(i: int) -> None:
            body = {"series": [f"s{i % args.series}"]}
            assert client.post("/endpoints/fc/invocations", json=body).status_code == 200

        def history(_i: int) -> None:
            body = {"series": ["new"], "history": cold}
            assert client.post("/endpoints/fc/invocations", json=body).status_code == 200

        def csv(_i: int) -> None:
            headers = {"content-type": "text/csv"}
            response = client.post("/endpoints/fc/invocations", content=ten, headers=headers)
            assert response.status_code == 200

        ids(0)  # warm
        for name, function in (("ids", ids), ("history", history), ("csv-10", csv)):
            figures = timed(function, args.requests)
            rows.append([f"request: {name}", figures["p50_ms"], figures["p95_ms"], ""])
    output = home.parent / "all.parquet"
    started = time.perf_counter()
    job = ws.transform(result.model.ref, output=output)
    rows.append(
        [
            f"transform: all {args.series} series",
            "",
            "",
            f"{time.perf_counter() - started:.2f} s wall, {job.result['seconds']:.2f} s in the job",
        ]
    )
    future = pd.read_parquet(output)
    actuals = future[["store", "date"]].assign(sales=future["mean"] + 1.0)
    actuals["date"] = actuals["date"].astype(str)
    started = time.perf_counter()
    ws.monitoring.upload_actuals("fc", actuals)
    upload = time.perf_counter() - started
    started = time.perf_counter()
    quality = ws.monitoring.forecast_quality("fc")
    rows.append(
        [
            f"actuals upload ({len(actuals)} rows) + forecast quality "
            f"({quality['matched']} matched steps)",
            "",
            "",
            f"{upload:.2f} s + {time.perf_counter() - started:.2f} s",
        ]
    )
    print(markdown_table(["measure", "p50 ms", "p95 ms", "time"], rows))
    OUT_DIR.mkdir(exist_ok=True)
    (OUT_DIR / "forecast_serving.json").write_text(
        json.dumps({"args": vars(args), "rows": rows, "metrics": quality["metrics"]}, indent=2)
    )


if __name__ == "__main__":
    main()
