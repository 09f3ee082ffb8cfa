"""Multi-model endpoint benchmark: a warm model's latency against a single-model endpoint, and
the server's memory against the endpoint's budget while many models load and are evicted.

Targets (issue 20)
  (a) single-row p50 of a warm model on a multi-model endpoint within 10 % of the same model on
      a single-model endpoint;
  (b) memory stays under the budget: the server's RSS above its baseline (before any model of
      the multi-model endpoint loaded) stays under the memory budget while requests cycle
      through three times as many models as the budget holds.

What it does: a fresh temporary workspace; ingest examples/churn/telco_churn.csv and train
``--algorithm`` (default a random forest of ``--trees`` 30 trees, a model file of a few MB, so
that the budget is large against the server's own bookkeeping) as ``churn:1``, then register the
same model file as ``--models`` more versions
(each loads as a model of its own). Deploy ``churn:1`` alone to endpoint ``single`` and make
``multi`` a multi-model endpoint whose budget holds ``--holds`` models by kiln's estimate
(``kiln.endpoints.estimated_memory``). Start ``python -m kiln serve`` (one worker, access log
off) on a free loopback port.

  1. Calibration: RSS growth per model while ``--holds`` models load without eviction, over
     the size of the model's pickle: the factor behind kiln's estimate (``MEMORY_FACTOR``).
  2. Latency: sequential single-row requests over one keep-alive ``httpx.Client``, in
     interleaved blocks (single, multi with ``x-kiln-target-model: churn:1``, ...), so both see
     the same host speed; p50 of each and their ratio.
  3. Memory: ``--rounds`` passes over every version in order (the worst case for LRU: every
     request a load, every load an eviction once the budget is full), the server's RSS polled
     every 50 ms; the peak above the baseline against the budget.

    .venv/bin/python benchmarks/multimodel.py             # about 2 minutes
    .venv/bin/python benchmarks/multimodel.py --quick     # a smoke run

Prints Markdown tables and writes benchmarks/out/multimodel.json.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    CHURN_CSV,
    TARGET,
    RssPoller,
    child_env,
    free_port,
    log,
    machine_info,
    markdown_table,
    sample_record,
    stop,
    summarize_ms,
    wait_for_ping,
    write_json,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", type=int, default=60, help="versions registered")
    parser.add_argument("--holds", type=int, default=20, help="models the budget holds")
    parser.add_argument("--blocks", type=int, default=10, help="latency blocks per endpoint")
    parser.add_argument("--requests", type=int, default=300, help="requests per block")
    parser.add_argument("--rounds", type=int, default=3, help="passes over every version")
    parser.add_argument("--algorithm", default="random_forest", help="the model trained")
    parser.add_argument("--trees", type=int, default=30, help="its n_estimators")
    parser.add_argument("--quick", action="store_true", help="a smoke run")
    args = parser.parse_args()
    if args.quick:
        args.models, args.holds, args.blocks, args.requests, args.rounds = 12, 4, 3, 100, 1
        args.trees = 5

    import httpx
    import psutil

    import kiln
    from kiln.endpoints import MEMORY_FACTOR, estimated_memory
    from kiln.registry import pickled_size

    with tempfile.TemporaryDirectory(prefix="kiln-mme-") as tmp:
        home = Path(tmp) / "ws"
        log("training the churn model")
        ws = kiln.Workspace.init(home)
        ws.data.ingest(CHURN_CSV, name="churn")
        hyperparameters = {"n_estimators": args.trees}
        first = ws.train(
            "churn", target=TARGET, algorithm=args.algorithm, hyperparameters=hyperparameters
        ).model
        ref = first.ref
        model = ws.models.load(first)
        refs = [ref]
        for _ in range(args.models - 1):
            refs.append(
                ws.models.register(
                    model,
                    group=first.group,
                    algorithm=first.algorithm,
                    target=first.target,
                    hyperparameters={},
                    metrics={},
                ).ref
            )
        estimate = estimated_memory(ws, first)
        path = ws.artifacts.local_path(first.digest)
        file_bytes, pickle_bytes = path.stat().st_size, pickled_size(path)
        budget = args.holds * estimate + estimate // 2
        ws.endpoints.deploy(ref, endpoint="single", allow_unapproved=True)
        ws.endpoints.deploy(
            endpoint="multi", multi_model=True, memory_budget=budget, allow_unapproved=True
        )
        ws.close()

        port = free_port()
        url = f"http://127.0.0.1:{port}"
        process = subprocess.Popen(
            [sys.executable, "-m", "kiln", "--home", str(home), "serve", "--port", str(port)]
            + ["--log-level", "warning"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=child_env(),
        )
        try:
            wait_for_ping(process, f"{url}/ping")
            server = psutil.Process(process.pid)
            body = [sample_record()]
            with httpx.Client(base_url=url, timeout=30) as client:

                def call(endpoint: str, target: str | None = None) -> float:
                    headers = {"x-kiln-target-model": target} if target else {}
                    started = time.perf_counter()
                    answer = client.post(
                        f"/endpoints/{endpoint}/invocations", json=body, headers=headers
                    )
                    elapsed = time.perf_counter() - started
                    answer.raise_for_status()
                    return elapsed

                for _ in range(50):  # warm both paths (the single endpoint's model, the pool)
                    call("single")
                baseline = server.memory_info().rss

                log(f"calibration: loading {args.holds} models")
                for version in refs[: args.holds]:
                    call("multi", version)
                calibrated = server.memory_info().rss
                per_model = (calibrated - baseline) / args.holds

                log("latency: interleaved requests")
                single, multi = [], []
                for block in range(args.blocks):
                    for _ in range(args.requests):  # in turn, the first of each pair alternating
                        if block % 2:
                            multi.append(call("multi", ref))
                            single.append(call("single"))
                        else:
                            single.append(call("single"))
                            multi.append(call("multi", ref))
                single_ms, multi_ms = summarize_ms(single), summarize_ms(multi)

                log(f"memory: {args.rounds} passes over {len(refs)} versions")
                load_times = []
                with RssPoller(process.pid) as poller:
                    for _ in range(args.rounds):
                        for version in refs:
                            load_times.append(call("multi", version))
                loaded = client.get("/endpoints/multi").json()
                peak_growth = poller.peak_tree_bytes - baseline
        finally:
            stop(process)

    ratio = multi_ms["p50_ms"] / single_ms["p50_ms"]
    results = {
        "machine": machine_info(),
        "args": vars(args),
        "model_file_bytes": file_bytes,
        "pickle_bytes": pickle_bytes,
        "memory_factor": MEMORY_FACTOR,
        "estimated_bytes_per_model": estimate,
        "measured_rss_bytes_per_model": per_model,
        "measured_factor": per_model / pickle_bytes,
        "budget_bytes": budget,
        "latency": {"single": single_ms, "multi_warm": multi_ms, "p50_ratio": ratio},
        "memory": {
            "baseline_rss_bytes": baseline,
            "peak_rss_growth_bytes": peak_growth,
            "peak_growth_over_budget": peak_growth / budget,
            "loaded_at_end": len(loaded["loaded_models"]),
            "estimated_loaded_bytes_at_end": loaded["loaded_bytes"],
            "cold_request": summarize_ms(load_times),
        },
    }
    print(
        markdown_table(
            ["single-row latency", "p50 ms", "p90 ms", "p99 ms"],
            [
                ["single-model endpoint", *(single_ms[k] for k in ("p50_ms", "p90_ms", "p99_ms"))],
                ["multi-model, warm model", *(multi_ms[k] for k in ("p50_ms", "p90_ms", "p99_ms"))],
                [
                    "multi-model, every request a load",
                    *(results["memory"]["cold_request"][k] for k in ("p50_ms", "p90_ms", "p99_ms")),
                ],
            ],
        )
    )
    print(f"\nwarm p50 ratio multi/single: {ratio:.3f} (target <= 1.10)\n")
    mib = 1024**2
    print(
        markdown_table(
            ["memory", "MiB"],
            [
                ["model file (compressed)", file_bytes / mib],
                ["its pickle", pickle_bytes / mib],
                ["kiln's estimate per model", estimate / mib],
                ["measured RSS growth per model", per_model / mib],
                [f"budget ({args.holds} models)", budget / mib],
                ["peak RSS growth while cycling", peak_growth / mib],
            ],
        )
    )
    print(f"\nRSS growth per model / pickle size: {per_model / pickle_bytes:.2f}")
    print(f"peak growth / budget: {peak_growth / budget:.2f} (target < 1)")
    path = write_json("multimodel", results)
    log(f"wrote {os.path.relpath(path)}")


if __name__ == "__main__":
    main()
