"""Serverless endpoint benchmark: cold start, warm latency against a real-time endpoint, memory
returned by an unload.

Targets (issue 20)
  (a) cold start of the quickstart's LightGBM model at most 1.5 s (the first request after an
      unload, end to end over HTTP, and the server's own ``x-kiln-cold-start-ms``);
  (b) warm single-row p50 of a serverless endpoint within 10 % of a real-time endpoint serving
      the same model.

What it does: a fresh temporary workspace; ingest examples/churn/telco_churn.csv as ``churn``;
train ``lightgbm`` (the quickstart's model); deploy it to ``realtime`` and to ``serverless``
(``--serverless --idle-timeout 2s``); start ``python -m kiln serve`` (one process). Cold starts:
``--rounds`` times, wait for the serverless endpoint to go cold (``GET /endpoints/serverless``),
read the server's RSS, send one single-row request and time it; the RSS while warm (before the
unload) and once cold is recorded each round. Warm latency: sequential single-row requests over
one keep-alive client, ``realtime`` and ``serverless`` alternating in blocks of 200, medians
compared.

    .venv/bin/python benchmarks/serverless.py             # about 1.5 minutes
    .venv/bin/python benchmarks/serverless.py --rounds 3  # a smoke run

Prints Markdown tables and writes benchmarks/out/serverless.json.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _common
from _common import child_env, free_port, log, markdown_table, stop, summarize_ms, wait_for_ping

COLD_START_TARGET_S = 1.5
WARM_TARGET = 1.10  # serverless p50 over real-time p50
IDLE_TIMEOUT = "2s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=10, help="cold starts measured")
    parser.add_argument("--blocks", type=int, default=10, help="warm blocks per endpoint")
    parser.add_argument("--block-size", type=int, default=200)
    args = parser.parse_args()

    import httpx
    import psutil

    with tempfile.TemporaryDirectory(prefix="kiln-bench-serverless-") as tmp:
        home = Path(tmp) / "ws"
        log("training the quickstart's LightGBM model")
        ws, ref = _common.prepare_workspace(home)
        ws.endpoints.deploy(ref, endpoint="realtime", allow_unapproved=True)
        ws.endpoints.deploy(
            ref, endpoint="serverless", allow_unapproved=True, serverless=True,
            idle_timeout=IDLE_TIMEOUT,
        )  # fmt: skip
        ws.close()
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        server = subprocess.Popen(
            [sys.executable, "-m", "kiln", "--home", str(home), "serve", "--port", str(port),
             "--log-level", "warning"],
            env=child_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip
        try:
            wait_for_ping(server, f"{url}/ping")
            process = psutil.Process(server.pid)
            record = [_common.sample_record()]
            cold = []
            with httpx.Client(base_url=url, timeout=60) as client:

                def state() -> str:
                    return client.get("/endpoints/serverless").json()["serverless"]["state"]

                for round_ in range(args.rounds):
                    warm_rss = process.memory_info().rss
                    deadline = time.monotonic() + 60
                    while state() != "cold":
                        if time.monotonic() > deadline:
                            raise RuntimeError("the serverless endpoint never went cold")
                        time.sleep(0.1)
                    cold_rss = process.memory_info().rss
                    started = time.perf_counter()
                    response = client.post("/endpoints/serverless/invocations", json=record)
                    seconds = time.perf_counter() - started
                    response.raise_for_status()
                    header = response.headers.get("x-kiln-cold-start-ms")
                    if header is None:
                        raise RuntimeError("a request to a cold endpoint had no cold-start header")
                    cold.append(
                        {
                            "request_s": seconds,
                            "header_ms": int(header),
                            "warm_rss_mb": warm_rss / 1e6,
                            "cold_rss_mb": cold_rss / 1e6,
                        }
                    )
                    log(f"cold start {round_ + 1}: {seconds * 1000:.0f} ms (header {header} ms)")
                # Warm latency, the two endpoints alternating in blocks.
                samples: dict[str, list[float]] = {"realtime": [], "serverless": []}
                for name in samples:  # warm up both
                    for _ in range(50):
                        client.post(f"/endpoints/{name}/invocations", json=record)
                for _ in range(args.blocks):
                    for name, times in samples.items():
                        for _ in range(args.block_size):
                            started = time.perf_counter()
                            client.post(f"/endpoints/{name}/invocations", json=record)
                            times.append(time.perf_counter() - started)
                metrics = client.get("/metrics").text
        finally:
            stop(server)

    request_ms = [c["request_s"] * 1000 for c in cold]
    header_ms = [c["header_ms"] for c in cold]
    warm = {name: summarize_ms(times) for name, times in samples.items()}
    ratio = warm["serverless"]["p50_ms"] / warm["realtime"]["p50_ms"]
    freed = [c["warm_rss_mb"] - c["cold_rss_mb"] for c in cold[1:]]  # round 1 starts cold
    print("\n## Cold start (the first request after an unload)\n")
    print(
        markdown_table(
            ["measure", "median", "max", "target"],
            [
                [
                    "request over HTTP, ms",
                    statistics.median(request_ms),
                    max(request_ms),
                    f"<= {COLD_START_TARGET_S * 1000:.0f}",
                ],
                ["x-kiln-cold-start-ms", statistics.median(header_ms), max(header_ms), ""],
            ],
        )  # fmt: skip
    )
    print("\n## Warm single-row latency\n")
    print(
        markdown_table(
            ["endpoint", "p50 ms", "p90 ms", "p99 ms", "n"],
            [[n, w["p50_ms"], w["p90_ms"], w["p99_ms"], w["n"]] for n, w in warm.items()],
        )
    )
    print(f"\nserverless p50 / real-time p50: {ratio:.3f} (target <= {WARM_TARGET})")
    if freed:
        print(
            f"\nServer RSS given back by an unload: median {statistics.median(freed):.1f} MB "
            f"(warm {statistics.median(c['warm_rss_mb'] for c in cold[1:]):.1f} MB, cold "
            f"{statistics.median(c['cold_rss_mb'] for c in cold[1:]):.1f} MB)"
        )
    counted = [line for line in metrics.splitlines() if "cold_start_seconds_count" in line]
    print("\n" + "\n".join(counted))
    path = _common.write_json(
        "serverless",
        {
            "machine": _common.machine_info(),
            "cold_starts": cold,
            "warm": warm,
            "warm_ratio": ratio,
            "targets": {"cold_start_s": COLD_START_TARGET_S, "warm_ratio": WARM_TARGET},
        },
    )
    log(f"wrote {path}")


if __name__ == "__main__":
    main()
