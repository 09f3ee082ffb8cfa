"""Autoscaling benchmark: a load ramp from 1 to 16 clients and back against ``kiln serve``, whose
worker pool follows an endpoint's autoscale policy.

Targets (issue 20)
  (a) the workers follow the load within the cool-down (out under 16 clients, back in after);
  (b) 0 failed requests over the whole ramp, scale-in included;
  (c) throughput at the peak (16 clients, the pool grown) at least 1.6x one worker's at 16 clients,
      on 2 cores.

What it does: a fresh temporary workspace; ingest examples/churn/telco_churn.csv; train the
quickstart's ``lightgbm``; deploy it to ``churn`` with a policy of ``--max 1`` first; start
``python -m kiln serve`` (sampling every second). One worker: ``wrk`` with 16 connections for
``--step`` seconds, twice (the second is the figure: the worker's capacity, as 16 clients ask
more than it serves). Then the policy becomes ``--min 1 --max 2
--target-invocations-per-worker T`` with T 4.5x what one client sends a minute (so up to four
clients need one worker and eight or more two; each client waits 10 ms between requests, as
``wrk``'s ``delay()``), cool-downs ``--scale-out-cooldown 5s --scale-in-cooldown 10s``,
and the ramp runs: 1, 2, 4, 8, 16, 16, 16, 8, 4, 2, 1, 1, 1 clients, one ``wrk`` run of ``--step``
seconds each (wrk counts non-2xx answers and socket errors: both are failures). A thread counts
the server's worker processes every 0.2 s. The scaling events the server recorded are printed.
Last, capacity: the policy pinned to one worker, then to two, alternating ``--capacity-rounds``
times, ``wrk`` with 16 connections and no think time; the medians' ratio is figure (c).

    .venv/bin/python benchmarks/autoscale.py             # about 3 minutes
    .venv/bin/python benchmarks/autoscale.py --step 5    # a quicker run

Needs ``wrk`` (apt-get install wrk). Prints Markdown tables and writes
benchmarks/out/autoscale.json.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import _common
from _common import child_env, free_port, log, markdown_table, stop, wait_for_ping

PEAK_TARGET = 1.6
RAMP = (1, 2, 4, 8, 16, 16, 16, 8, 4, 2, 1, 1, 1)

# Each connection waits THINK_MS between its requests, as a client that does something with
# each answer would: one client alone leaves a worker mostly idle, sixteen need more than one.
THINK_MS = 10
_WRK_SCRIPT = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = io.open("{body}"):read("*a")
function delay()
  return {think}
end
"""


def wrk(url: str, script: Path, clients: int, seconds: float) -> dict:
    """One closed-loop run: requests, failures (non-2xx and socket errors), requests/s."""
    out = subprocess.run(
        ["wrk", "-t", "1", "-c", str(clients), "-d", f"{seconds:g}s", "-s", str(script), url],
        capture_output=True,
        text=True,
        check=True,
        env=child_env(),
    ).stdout
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    failures = 0
    if match := re.search(r"Non-2xx or 3xx responses: (\d+)", out):
        failures += int(match.group(1))
    if match := re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out
    ):
        failures += sum(int(g) for g in match.groups())
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    return {"clients": clients, "requests": requests, "failures": failures, "rps": rps}


def worker_count(pid: int) -> int:
    """The server's worker processes (uvicorn spawns them through multiprocessing)."""
    import psutil

    count = 0
    for child in psutil.Process(pid).children():
        try:
            command = " ".join(child.cmdline())
        except psutil.Error:
            continue
        if "spawn_main" in command:
            count += 1
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--step", type=float, default=10.0, help="seconds per ramp step")
    parser.add_argument("--capacity-rounds", type=int, default=2)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install wrk")
    import httpx

    with tempfile.TemporaryDirectory(prefix="kiln-bench-autoscale-") as tmp:
        home = Path(tmp) / "ws"
        log("training the quickstart's LightGBM model")
        ws, ref = _common.prepare_workspace(home)
        ws.endpoints.deploy(ref, endpoint="churn", allow_unapproved=True)
        ws.endpoints.set_autoscale(
            "churn", min_workers=1, max_workers=1, target_invocations_per_worker=1e9
        )
        body = Path(tmp) / "body.json"
        body.write_text(json.dumps([_common.sample_record()]))
        script = Path(tmp) / "post.lua"
        script.write_text(_WRK_SCRIPT.format(body=body, think=THINK_MS))
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        url = f"{base}/endpoints/churn/invocations"
        server = subprocess.Popen(
            [sys.executable, "-m", "kiln", "--home", str(home), "serve", "--port", str(port),
             "--log-level", "warning", "--autoscale-interval", "1"],
            env=child_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip
        timeline: list[tuple[float, int, int]] = []  # (seconds, clients, workers)
        clients_now = [0]
        done = threading.Event()
        started = time.monotonic()

        def watch() -> None:
            while not done.wait(0.2):
                timeline.append(
                    (round(time.monotonic() - started, 1), clients_now[0], worker_count(server.pid))
                )

        try:
            wait_for_ping(server, f"{base}/ping")
            threading.Thread(target=watch, daemon=True).start()
            log("one worker, 16 clients")
            clients_now[0] = 16
            wrk(url, script, 16, args.step)  # warm-up
            one_worker = wrk(url, script, 16, args.step)
            clients_now[0] = 1
            single = wrk(url, script, 1, args.step)
            target = round(4.5 * single["rps"] * 60)  # 1-4 clients: one worker; 8-16: two
            log(f"one worker: {one_worker['rps']:.0f} req/s at 16 clients; target {target}/min")
            ws.endpoints.set_autoscale(
                "churn",
                min_workers=1,
                max_workers=2,
                target_invocations_per_worker=target,
                scale_out_cooldown="5s",
                scale_in_cooldown="10s",
            )
            ramp = []
            for clients in RAMP:
                clients_now[0] = clients
                step = wrk(url, script, clients, args.step)
                step["workers_at_end"] = worker_count(server.pid)
                step["at"] = round(time.monotonic() - started, 1)
                ramp.append(step)
                log(f"{clients:2d} clients: {step['rps']:.0f} req/s, {step['failures']} failed, "
                    f"{step['workers_at_end']} workers")  # fmt: skip
            # Capacity with the pool grown against one worker, alternating, without think time.
            capacity: dict[int, list[float]] = {1: [], 2: []}
            capacity_runs: list[dict] = []
            script.write_text(_WRK_SCRIPT.format(body=body, think=0))
            for _ in range(args.capacity_rounds):
                for workers in (1, 2):
                    ws.endpoints.set_autoscale(
                        "churn", min_workers=workers, max_workers=workers,
                        target_invocations_per_worker=1e9,
                    )  # fmt: skip
                    deadline = time.monotonic() + 180
                    while worker_count(server.pid) != workers and time.monotonic() < deadline:
                        time.sleep(0.5)
                    serving: set[int] = set()  # until each worker has answered (imports done)
                    while len(serving) < workers and time.monotonic() < deadline:
                        serving.add(httpx.get(f"{base}/ping", timeout=30).json()["pid"])
                    clients_now[0] = 16
                    warm_up = wrk(url, script, 16, 3)  # every worker up and warm
                    run = wrk(url, script, 16, args.step)
                    capacity[workers].append(run["rps"])
                    capacity_runs += [warm_up, run]
                    log(f"capacity with {workers} worker(s): {capacity[workers][-1]:.0f} req/s")
            clients_now[0] = 0
            time.sleep(2)
        finally:
            done.set()
            stop(server, timeout=60)
        events = [e.to_dict() for e in ws.endpoints.scaling_events("churn")]
        ws.close()

    peak = max(s["rps"] for s in ramp if s["clients"] == 16 and s["workers_at_end"] > 1)
    runs = [one_worker, single, *ramp, *capacity_runs]
    failures = sum(r["failures"] for r in runs)
    requests = sum(r["requests"] for r in runs)
    print("\n## Load ramp\n")
    print(
        markdown_table(
            ["at s", "clients", "req/s", "failed", "workers at end"],
            [[s["at"], s["clients"], s["rps"], s["failures"], s["workers_at_end"]] for s in ramp],
        )
    )
    print("\n## Scaling events\n")
    print(
        markdown_table(
            ["at", "action", "before", "after", "metric", "value"],
            [
                [
                    e["at"][11:19],
                    e["action"],
                    e["before"],
                    e["after"],
                    e["metric"],
                    f"{e['value']:.0f}",
                ]
                for e in events
            ],
        )  # fmt: skip
    )
    ratio = statistics.median(capacity[2]) / statistics.median(capacity[1])
    print(
        f"\nRamp: one worker at 16 clients {one_worker['rps']:.0f} req/s; at the peak with the "
        f"pool grown {peak:.0f} req/s ({peak / one_worker['rps']:.2f}x). Capacity at 16 clients "
        f"without think time, alternating: one worker {capacity[1]}, two {capacity[2]} req/s: "
        f"{ratio:.2f}x (target >= {PEAK_TARGET}x). Failed requests: {failures} of {requests}."
    )
    path = _common.write_json(
        "autoscale",
        {
            "machine": _common.machine_info(),
            "one_worker": one_worker,
            "single_client": single,
            "ramp": ramp,
            "events": events,
            "timeline": timeline,
            "peak_ratio": peak / one_worker["rps"],
            "capacity": capacity,
            "capacity_ratio": ratio,
            "failures": failures,
            "requests": requests,
        },
    )
    log(f"wrote {path}")


if __name__ == "__main__":
    main()
