"""Human review benchmark: what sending predictions to review costs the response path, and that
no queued prediction is lost on a graceful stop.

Targets (issue 17, human review)
  (a) the review is off the response path: with the low-confidence predictions sent to review
      (``confidence < 0.6``), p50 and p99 latency and throughput within 20 % of the same model
      without review;
  (b) after a graceful stop, nothing queued is lost: the review items of the endpoint that
      sends every prediction (``confidence <= 1``, the worst case) == its 2xx answers (one row
      a request). Its latency and throughput are reported, not held to (a).

What it does: a fresh temporary workspace; ingest the churn data, train LightGBM, deploy it to
three endpoints, ``plain`` (no review), ``low`` and ``every``. For each endpoint in turn: start
``python -m kiln serve`` (one worker), run the closed-loop load generator of
``benchmarks/deployment.py`` (16 keep-alive connections, single-row JSON bodies) for
``--seconds``, stop the load, SIGTERM the server (the lifespan adds what is queued); count the
answers, their latency, and the review job's items.

    .venv/bin/python benchmarks/human_review.py               # about 2 minutes
    .venv/bin/python benchmarks/human_review.py --seconds 5   # a smoke run

Prints a Markdown table and writes benchmarks/out/human_review.json.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import _common
import numpy as np
from _common import free_port, log, markdown_table, stop
from deployment import start_kiln, start_loadgen

TOLERANCE = 0.20
ENDPOINTS = ("plain", "low", "every")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="load per endpoint")
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()

    import pandas as pd

    info = _common.machine_info()
    results = {}
    with tempfile.TemporaryDirectory(prefix="kiln-bench-review-") as tmp_name:
        tmp = Path(tmp_name)
        log("Training lightgbm on the churn data in a fresh workspace")
        ws, model = _common.prepare_workspace(tmp / "ws")
        rows = (
            pd.read_csv(_common.CHURN_CSV)
            .drop(columns=[_common.TARGET])
            .sample(256, random_state=0)
        )
        records = rows.astype(object).where(rows.notna(), None).to_dict("records")
        bodies = tmp / "bodies.json"
        bodies.write_text(json.dumps([json.dumps([r]) for r in records]))
        for endpoint in ENDPOINTS:
            ws.endpoints.deploy(model, endpoint=endpoint, allow_unapproved=True)
        ws.labeling.start_review("low", when="confidence < 0.6")
        ws.labeling.start_review("every", when="confidence <= 1")
        for endpoint in ENDPOINTS:
            port = free_port()
            load_file = tmp / f"{endpoint}.json"
            server = start_kiln(ws.home, port)
            url = f"http://127.0.0.1:{port}/endpoints/{endpoint}/invocations"
            loadgen = start_loadgen(url, bodies, args.concurrency, load_file)
            log(f"{endpoint}: {args.concurrency} clients for {args.seconds:g} s")
            time.sleep(args.seconds)
            loadgen.terminate()
            loadgen.wait(timeout=60)
            stop(server, timeout=60)  # SIGTERM: the lifespan adds what is queued
            load = json.loads(load_file.read_text())
            latency = np.array(
                [ms for ms, s in zip(load["latency_ms"], load["status"], strict=True) if s == 200]
            )
            span = max(load["time"]) - min(load["time"])
            results[endpoint] = {
                "answered_2xx": len(latency),
                "per_second": len(latency) / span,
                "p50_ms": float(np.percentile(latency, 50)),
                "p99_ms": float(np.percentile(latency, 99)),
            }
            if endpoint != "plain":
                results[endpoint]["review_items"] = ws.labeling.items(f"{endpoint}-review").total
            log(json.dumps(results[endpoint]))
    plain, reviewed = results["plain"], results["low"]
    within = {
        "p50_ms": reviewed["p50_ms"] <= plain["p50_ms"] * (1 + TOLERANCE),
        "p99_ms": reviewed["p99_ms"] <= plain["p99_ms"] * (1 + TOLERANCE),
        "per_second": reviewed["per_second"] >= plain["per_second"] * (1 - TOLERANCE),
    }
    kept = results["every"]["review_items"] == results["every"]["answered_2xx"]
    print(
        markdown_table(
            ["endpoint", "2xx answers", "answers/s", "p50 ms", "p99 ms", "review items"],
            [
                [
                    name,
                    r["answered_2xx"],
                    f"{r['per_second']:.0f}",
                    f"{r['p50_ms']:.1f}",
                    f"{r['p99_ms']:.1f}",
                    r.get("review_items", "—"),
                ]
                for name, r in results.items()
            ],
        )
    )
    print(f"\n(a) 'low' within {TOLERANCE:.0%}: {within}; (b) 'every' lost nothing: {kept}")
    _common.write_json(
        "human_review",
        {"machine": info, "results": results, "within": within, "kept": kept, **vars(args)},
    )
    return 0 if all(within.values()) and kept else 1


if __name__ == "__main__":
    raise SystemExit(main())
