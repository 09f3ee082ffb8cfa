"""Serverless endpoint benchmark: cold start, warm latency against a real-time endpoint, memory
returned by an unload.

Targets (issue 20)
  (a) cold start of the quickstart's LightGBM model at most 1.5 s (the first request after an
      unload, end to end over HTTP, and the server's own ``x-kiln-cold-start-ms``);
  (b) warm single-row p50 of a serverless endpoint within 10 % of a real-time endpoint serving
      the same model.

What it does: a fresh temporary workspace; ingest examples/churn/telco_churn.csv as ``churn``;
train ``lightgbm`` (the quickstart's model); deploy it to ``realtime`` and to ``serverless``
(the default 10 minute idle timeout) and to ``coldstart`` (``--serverless --idle-timeout 2s``);
train a random forest of 300 trees (a model large enough to see in the RSS) and deploy it to
``forest`` (idle timeout 2 s); start ``python -m kiln serve`` (one process). Cold starts:
``--rounds`` times, wait for ``coldstart`` to go cold (``GET /endpoints/coldstart``), read the
server's RSS, send one single-row request and time it; the RSS while warm (before the unload)
and once cold is recorded each round; then five rounds of ``forest``. Warm latency: sequential
single-row requests over one keep-alive client, ``realtime`` and ``serverless`` alternating in
blocks of 200, medians compared.

    .venv/bin/python benchmarks/serverless.py             # about 1.5 minutes
    .venv/bin/python benchmarks/serverless.py --rounds 3  # a smoke run

Prints Markdown tables and writes benchmarks/out/serverless.json.
"""

from __future__ import annotations

import argparse
import re
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
    parser.add_argument("--forest-trees", type=int, default=300)
    args = parser.parse_args()

    import httpx
    import psutil

    with tempfile.TemporaryDirectory(prefix="kiln-bench-serverless-") as tmp:
        home = Path(tmp) / "ws"
        log("training the quickstart's LightGBM model")
        ws, ref = _common.prepare_workspace(home)
        ws.endpoints.deploy(ref, endpoint="realtime", allow_unapproved=True)
        # Warm latency on one serverless endpoint that never idles long enough to unload, cold
        # starts on another with a short idle timeout.
        ws.endpoints.deploy(ref, endpoint="serverless", allow_unapproved=True, serverless=True)
        ws.endpoints.deploy(
            ref, endpoint="coldstart", allow_unapproved=True, serverless=True,
            idle_timeout=IDLE_TIMEOUT,
        )  # fmt: skip
        log(f"training a random forest of {args.forest_trees} trees (the memory figure)")
        forest = ws.train(
            "churn", target=_common.TARGET, algorithm="random_forest",
            hyperparameters={"n_estimators": args.forest_trees},
        ).model.ref  # fmt: skip
        ws.endpoints.deploy(
            forest, endpoint="forest", allow_unapproved=True, serverless=True,
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

                def unloads(name: str) -> float:
                    pattern = rf'kiln_serverless_unloads_total{{endpoint="{name}"}} ([\d.]+)'
                    found = re.search(pattern, client.get("/metrics").text)
                    return float(found.group(1)) if found else 0.0

                def cold_start(name: str) -> dict:
                    """Wait for ``name`` to unload, then time the request that loads it."""
                    warm_rss = process.memory_info().rss
                    before = unloads(name)
                    state = client.get(f"/endpoints/{name}").json()["serverless"]["state"]
                    deadline = time.monotonic() + 60
                    while (
                        state == "warm" and unloads(name) == before
                    ):  # counted once the memory is handed back
                        if time.monotonic() > deadline:
                            raise RuntimeError(f"endpoint {name} never went cold")
                        time.sleep(0.1)
                    cold_rss = process.memory_info().rss
                    started = time.perf_counter()
                    response = client.post(f"/endpoints/{name}/invocations", json=record)
                    seconds = time.perf_counter() - started
                    response.raise_for_status()
                    header = response.headers.get("x-kiln-cold-start-ms")
                    if header is None:
                        raise RuntimeError("a request to a cold endpoint had no cold-start header")
                    log(f"{name}: cold start {seconds * 1000:.0f} ms (header {header} ms), RSS "
                        f"{warm_rss / 1e6:.0f} MB warm, {cold_rss / 1e6:.0f} MB cold")  # fmt: skip
                    return {
                        "request_s": seconds,
                        "header_ms": int(header),
                        "warm_rss_mb": warm_rss / 1e6,
                        "cold_rss_mb": cold_rss / 1e6,
                    }

                for _ in range(args.rounds):
                    cold.append(cold_start("coldstart"))
                forest = [cold_start("forest") for _ in range(5)]
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
    print("\n## Server RSS before and after an unload (rounds after the first)\n")
    rss_rows = []
    for name, runs in (("LightGBM (quickstart)", cold[1:]), ("random forest", forest[1:])):
        rss_rows.append(
            [
                name,
                statistics.median(c["warm_rss_mb"] for c in runs),
                statistics.median(c["cold_rss_mb"] for c in runs),
                statistics.median(c["warm_rss_mb"] - c["cold_rss_mb"] for c in runs),
                statistics.median(c["header_ms"] for c in runs),
            ]
        )
    print(markdown_table(["model", "warm MB", "cold MB", "returned MB", "cold start ms"], rss_rows))
    counted = [line for line in metrics.splitlines() if "cold_start_seconds_count" in line]
    print("\n" + "\n".join(counted))
    path = _common.write_json(
        "serverless",
        {
            "machine": _common.machine_info(),
            "cold_starts": cold,
            "forest_cold_starts": forest,
            "warm": warm,
            "warm_ratio": ratio,
            "targets": {"cold_start_s": COLD_START_TARGET_S, "warm_ratio": WARM_TARGET},
        },
    )
    log(f"wrote {path}")


if __name__ == "__main__":
    main()
