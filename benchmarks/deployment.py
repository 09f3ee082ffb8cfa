"""Deployment benchmark: guarded deployments under continuous load, and planted bad models.

Targets (issue 12)
  (a) a canary and (b) a linear deployment of a good model under continuous 16-client load:
      0 failed requests from the start of the load to its end;
  (c) a planted bad model rolled back automatically by its alarm: one that raises on a category
      value, one 10x slower. Reported: the time from the start of the deployment to the rollback,
      the alarm that fired with its evidence, and the requests that failed during the exposure.

What it does: a fresh temporary workspace; ingest examples/churn/telco_churn.csv as ``churn``;
train five LightGBM models (``churn:1`` the one served, ``churn:2`` and ``churn:3`` good ones with
other hyperparameters, ``churn:4`` and ``churn:5`` with a recipe ``function`` step from
``benchmarks/deploy_faults.py`` that raises on ``payment_method = 'Mailed check'``, or sleeps,
on request-sized frames only). Deploy ``churn:1`` to endpoint ``churn``, start ``python -m kiln
serve`` (one worker) and a load generator in a separate process: 16 keep-alive connections, each
posting single-row JSON requests (256 real rows of the data, in turn) as fast as answers come,
recording the time, status, variant and latency of every answer. Then, one after the other, with
the load running throughout:

  canary  ``ws.endpoints.deploy("churn:2", strategy="canary:10%:20s")``
  linear  ``ws.endpoints.deploy("churn:3", strategy="linear:25%:10s")``
  raises  ``ws.endpoints.deploy("churn:4", strategy="canary:10%:30s")``, expected to roll back
  slow    ``ws.endpoints.deploy("churn:5", strategy="canary:10%:30s")``, expected to roll back

all with the built-in alarms. ``benchmarks/`` is put on ``PYTHONPATH`` for every process (the
training and deployment jobs and the server import ``deploy_faults`` with the models).

    .venv/bin/python benchmarks/deployment.py            # about 4 minutes
    .venv/bin/python benchmarks/deployment.py --quick    # shorter bakes, ~2.5 minutes

Prints Markdown tables and writes benchmarks/out/deployment.json.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# _common sets OMP_WAIT_POLICY=PASSIVE; pandas and kiln are imported inside main().
import _common
from _common import HERE, child_env, free_port, log, markdown_table, stop, wait_for_ping

# The planted faults' module must import wherever the models load: this process (it loads each
# model before deploying it), the training and deployment jobs (children), and kiln serve.
os.environ["PYTHONPATH"] = os.pathsep.join(
    p for p in (str(HERE), os.environ.get("PYTHONPATH", "")) if p
)

ENDPOINT = "churn"
BODIES = 256
ALARMS = ("error_rate_vs_old", "errors_5xx", "p99_latency_vs_old")


# -- the load generator (a separate process) ---------------------------------------------------
def _loadgen(url: str, bodies_file: str, concurrency: int, out_file: str) -> None:
    """Closed-loop load until SIGTERM: ``concurrency`` keep-alive connections, each posting the
    bodies in turn and recording ``(time, status, variant, latency)`` of every answer.

    A minimal HTTP/1.1 client on asyncio streams, so that the load generator costs the shared
    cores little; status 0 is a transport failure (refused, reset, closed mid-answer).
    """
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    host, port, path = parts.hostname, parts.port, parts.path
    bodies = [b.encode() for b in json.loads(Path(bodies_file).read_text())]
    requests = [
        (
            f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode()
        + body
        for body in bodies
    ]
    times: list[float] = []
    statuses: list[int] = []
    variants: list[str] = []
    latencies: list[float] = []

    async def connection(index: int, stopping: asyncio.Event) -> None:
        reader = writer = None
        turn = index * len(requests) // concurrency
        while not stopping.is_set():
            request = requests[turn % len(requests)]
            turn += 1
            started = time.perf_counter()
            status, variant = 0, ""
            try:
                if writer is None:
                    reader, writer = await asyncio.open_connection(host, port)
                writer.write(request)
                head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
                lines = head.split("\r\n")
                status = int(lines[0].split(" ", 2)[1])
                headers = {}
                for line in lines[1:]:
                    if ":" in line:
                        key, value = line.split(":", 1)
                        headers[key.strip().lower()] = value.strip()
                await reader.readexactly(int(headers["content-length"]))
                variant = headers.get("x-kiln-variant", "")
                if headers.get("connection", "").lower() == "close":
                    writer.close()
                    writer = None
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, KeyError):
                status = 0
                if writer is not None:
                    writer.close()
                writer = None
            times.append(time.time())
            statuses.append(status)
            variants.append(variant)
            latencies.append(time.perf_counter() - started)
        if writer is not None:
            writer.close()

    async def main() -> None:
        stopping = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stopping.set)
        print("ready", flush=True)
        await asyncio.gather(*(connection(i, stopping) for i in range(concurrency)))

    asyncio.run(main())
    Path(out_file).write_text(
        json.dumps(
            {
                "time": [round(t, 4) for t in times],
                "status": statuses,
                "variant": variants,
                "latency_ms": [round(s * 1e3, 3) for s in latencies],
            }
        )
    )


def start_loadgen(url: str, bodies_file: Path, concurrency: int, out_file: Path):
    process = subprocess.Popen(
        [
            sys.executable,
            __file__,
            "loadgen",
            url,
            str(bodies_file),
            str(concurrency),
            str(out_file),
        ],
        env=child_env(),
        stdout=subprocess.PIPE,
        text=True,
    )
    if process.stdout.readline().strip() != "ready":
        raise RuntimeError("The load generator did not start")
    return process


def start_kiln(home: Path, port: int) -> subprocess.Popen:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "kiln",
            "--home",
            str(home),
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        env=child_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    wait_for_ping(process, f"http://127.0.0.1:{port}/ping")
    return process


# -- analysis -----------------------------------------------------------------------------------
def epoch(iso: str) -> float:
    """A history timestamp (UTC, ISO with a trailing Z) as seconds since the epoch."""
    return dt.datetime.fromisoformat(iso.rstrip("Z")).replace(tzinfo=dt.UTC).timestamp()


def answers_between(load: dict, start: float, end: float) -> dict:
    """Counts of the answers whose time falls in ``[start, end)``."""
    statuses: dict[str, int] = {}
    variants: dict[str, int] = {}
    latencies = []
    for t, status, variant, latency in zip(
        load["time"], load["status"], load["variant"], load["latency_ms"], strict=True
    ):
        if start <= t < end:
            statuses[str(status)] = statuses.get(str(status), 0) + 1
            if status == 200:
                variants[variant] = variants.get(variant, 0) + 1
            latencies.append(latency)
    total = sum(statuses.values())
    return {
        "requests": total,
        "failed": total - statuses.get("200", 0),
        "statuses": statuses,
        "variants": variants,
        "p50_ms": round(_common.percentile(latencies, 50), 2) if latencies else None,
        "p99_ms": round(_common.percentile(latencies, 99), 2) if latencies else None,
        "rps": round(total / max(end - start, 1e-9), 1),
    }


def fired_alarm(note: str) -> str | None:
    return next((name for name in ALARMS if name in (note or "")), None)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--canary", default="canary:10%:20s", help="the good canary's strategy")
    parser.add_argument("--linear", default="linear:25%:10s", help="the good linear's strategy")
    parser.add_argument(
        "--bad-strategy", default="canary:10%:30s", help="the strategy the bad models are given"
    )
    parser.add_argument("--settle", type=float, default=3.0, help="seconds between deployments")
    parser.add_argument("--quick", action="store_true", help="shorter bakes, ~2.5 minutes")
    parser.add_argument(
        "--out", default="deployment", help="name of the JSON file in benchmarks/out/ (no suffix)"
    )
    args = parser.parse_args()
    if args.quick:
        args.canary, args.linear, args.bad_strategy = (
            "canary:10%:6s",
            "linear:50%:4s",
            "canary:10%:15s",
        )
        args.settle = 2.0

    import pandas as pd

    import kiln
    from kiln.errors import KilnError

    began = time.perf_counter()
    info = _common.machine_info()
    with tempfile.TemporaryDirectory(prefix="kiln-bench-deployment-") as tmp_name:
        tmp = Path(tmp_name)
        log("Training five lightgbm models on the churn data in a fresh workspace")
        ws = kiln.Workspace.init(tmp / "ws")
        ws.data.ingest(_common.CHURN_CSV, name="churn")

        def train(**options) -> str:
            started = time.perf_counter()
            ref = ws.train("churn", target=_common.TARGET, algorithm="lightgbm", **options)
            log(f"  {ref.model.ref} in {time.perf_counter() - started:.0f}s")
            return ref.model.ref

        def faulty(function: str) -> list[dict]:
            step = {"step": "function", "function": f"deploy_faults:{function}"}
            return [step | {"columns": ["payment_method"]}]

        models = {
            "old": train(),
            "canary": train(hyperparameters={"num_leaves": 15}),
            "linear": train(hyperparameters={"num_leaves": 63, "learning_rate": 0.03}),
            "raises": train(recipe=faulty("fail_on_mailed_check")),
            "slow": train(recipe=faulty("slow_down")),
        }
        ws.endpoints.deploy(models["old"], endpoint=ENDPOINT, allow_unapproved=True)

        rows = pd.read_csv(_common.CHURN_CSV).drop(columns=[_common.TARGET])
        picked = rows.sample(n=BODIES, random_state=0)
        records = picked.astype(object).where(picked.notna(), None).to_dict("records")
        bodies_file = tmp / "bodies.json"
        bodies_file.write_text(json.dumps([json.dumps([r]) for r in records]))
        failing_share = float((picked["payment_method"] == "Mailed check").mean())

        port = free_port()
        url = f"http://127.0.0.1:{port}/endpoints/{ENDPOINT}/invocations"
        load_file = tmp / "load.json"
        server = loadgen = None
        phases: list[dict] = []
        try:
            server = start_kiln(ws.home, port)
            log(f"kiln serve on {port}; starting the load generator ({args.concurrency} clients)")
            loadgen = start_loadgen(url, bodies_file, args.concurrency, load_file)
            load_started = time.time()
            time.sleep(args.settle + 2)
            plan = [
                ("canary", args.canary),
                ("linear", args.linear),
                ("raises", args.bad_strategy),
                ("slow", args.bad_strategy),
            ]
            for name, strategy in plan:
                log(f"Deploying {models[name]} ({name}) with {strategy}")
                phase = {"name": name, "model": models[name], "strategy": strategy}
                phase["started"] = time.time()
                try:
                    job = ws.endpoints.deploy(
                        models[name], endpoint=ENDPOINT, strategy=strategy, allow_unapproved=True
                    )
                    phase |= {"outcome": job.result["outcome"], "job": job.id}
                except KilnError as exc:
                    phase |= {"outcome": "error", "code": exc.code, "message": exc.message}
                phase["ended"] = time.time()
                mine = [
                    h
                    for h in ws.endpoints.history(ENDPOINT)
                    if h["created_at"] and epoch(h["created_at"]) >= phase["started"] - 1
                ]
                phase["history"] = mine
                log(
                    f"  {phase['outcome']} after {phase['ended'] - phase['started']:.1f}s"
                    + (f": {phase.get('message', '')[:300]}" if "message" in phase else "")
                )
                phases.append(phase)
                time.sleep(args.settle)  # servers write their metrics once a second
                since = dt.datetime.fromtimestamp(phase["started"], dt.UTC).replace(tzinfo=None)
                phase["metrics"] = ws.endpoints.metrics(ENDPOINT, since=since, seconds=None)
            serving_now = ws.endpoints.get(ENDPOINT).variants
        finally:
            if loadgen is not None:
                loadgen.send_signal(signal.SIGTERM)
                loadgen.wait(timeout=60)
            load_ended = time.time()
            if server is not None:
                stop(server)
            ws.close()
        load = json.loads(load_file.read_text())

    # -- results --------------------------------------------------------------------------------
    whole = answers_between(load, load_started - 60, load_ended + 60)
    whole["seconds"] = round(max(load["time"]) - min(load["time"]), 1)
    whole["rps"] = round(whole["requests"] / whole["seconds"], 1)
    for phase in phases:
        end = phase["ended"] + args.settle
        phase["answers"] = answers_between(load, phase["started"], end)
        steps = [h for h in phase["history"] if h["job"] and h["outcome"] is None]
        traffic = [
            h
            for h in steps
            if any(v["weight"] > 0 and v["model"] == phase["model"] for v in h["variants"])
        ]
        rolled = [h for h in phase["history"] if h["outcome"] == "rolled-back"]
        if traffic:
            phase["first_traffic_s"] = round(epoch(traffic[0]["created_at"]) - phase["started"], 2)
        if rolled:
            back = epoch(rolled[-1]["created_at"])
            phase["rollback_note"] = rolled[-1]["note"]
            phase["alarm"] = fired_alarm(rolled[-1]["note"])
            phase["start_to_rollback_s"] = round(back - phase["started"], 2)
            if traffic:
                first = epoch(traffic[0]["created_at"])
                phase["exposure_s"] = round(back - first, 2)
                # Servers follow a revision within a second: count until then.
                phase["exposed"] = answers_between(load, first, back + 1.0)
                phase["after_rollback"] = answers_between(load, back + 1.0, end)

    good = [p for p in phases if p["name"] in ("canary", "linear")]
    bad = [p for p in phases if p["name"] in ("raises", "slow")]
    targets = {
        "good_deployments_completed": all(p["outcome"] == "completed" for p in good),
        "failed_requests_during_good_deployments": sum(p["answers"]["failed"] for p in good),
        "failed_requests_whole_run": whole["failed"],
        "bad_models_rolled_back": all(p.get("code") == "endpoints.rolled-back" for p in bad),
    }
    targets["zero_failed_met"] = (
        targets["good_deployments_completed"]
        and targets["failed_requests_during_good_deployments"] == 0
    )

    print(f"\n### Deployments under continuous load ({args.concurrency} clients)\n")
    steady = answers_between(load, load_started, phases[0]["started"]) if phases else {}
    rows = []
    if steady:
        rows.append(
            [
                f"(steady load before, {models['old']})",
                "",
                "",
                round(phases[0]["started"] - load_started, 1),
                steady["requests"],
                steady["failed"],
                ", ".join(f"{k}: {v}" for k, v in sorted(steady["variants"].items())),
                steady["p99_ms"],
            ]
        )
    for p in phases:
        a = p["answers"]
        rows.append(
            [
                f"{p['name']} ({p['model']})",
                p["strategy"],
                p["outcome"] if p["outcome"] != "error" else p.get("code", "error"),
                round(p["ended"] - p["started"], 1),
                a["requests"],
                a["failed"],
                ", ".join(f"{k}: {v}" for k, v in sorted(a["variants"].items())),
                a["p99_ms"],
            ]
        )
    headers = [
        "deployment",
        "strategy",
        "outcome",
        "seconds",
        "requests",
        "failed",
        "answered by",
        "p99 ms",
    ]
    print(markdown_table(headers, rows))
    print(
        f"\nWhole run: {whole['requests']} requests, {whole['failed']} failed "
        f"({whole['statuses']}) in {whole['seconds']:.0f} s, {whole['rps']:.0f} req/s."
    )
    verdict = "MET" if targets["zero_failed_met"] else "MISSED"
    print(
        f"Good deployments (canary, linear): {targets['failed_requests_during_good_deployments']} "
        f"failed requests; target 0: {verdict}"
    )
    print("\n### Planted bad models\n")
    rows = []
    for p in bad:
        exposed = p.get("exposed", {})
        rows.append(
            [
                p["name"],
                p.get("alarm") or "none",
                p.get("first_traffic_s", ""),
                p.get("start_to_rollback_s", ""),
                p.get("exposure_s", ""),
                exposed.get("requests", ""),
                exposed.get("variants", {}).get(_variant_of(p), 0) if exposed else "",
                exposed.get("failed", ""),
                exposed.get("p99_ms", ""),
                p.get("after_rollback", {}).get("failed", ""),
            ]
        )
    headers = [
        "model",
        "alarm",
        "s to first traffic",
        "s to rollback",
        "exposure s",
        "requests",
        "answered by it",
        "failed",
        "p99 ms",
        "failed after",
    ]
    print(markdown_table(headers, rows))
    print(
        f"\n'Mailed check' rows: {failing_share:.0%} of the request bodies. Exposure: from the "
        "revision giving the bad model traffic to the rollback revision, plus 1 s for the server "
        "to follow it."
    )
    for p in bad:
        print(f"- {p['name']}: {p.get('rollback_note') or p.get('message', '')}")

    print("\n### Model latency of each variant during the bad deployments (server metrics)\n")
    rows = []
    for p in bad:
        for variant, figures in p["metrics"].items():
            latency = figures["latency_ms"]["model"]
            rows.append(
                [
                    p["name"],
                    f"{variant} ({', '.join(figures['models'])})",
                    figures["invocations"],
                    figures["errors_4xx"],
                    figures["errors_5xx"],
                    latency["p50"],
                    latency["p99"],
                ]
            )
    headers = ["deployment", "variant", "invocations", "4xx", "5xx", "p50 ms", "p99 ms"]
    print(markdown_table(headers, rows))

    payload = {
        "benchmark": "deployment",
        "command": "python benchmarks/deployment.py " + " ".join(sys.argv[1:]),
        "machine": info,
        "parameters": {**vars(args), "models": models, "bodies": BODIES},
        "failing_share_of_bodies": failing_share,
        "phases": phases,
        "whole_run": whole,
        "steady_before": steady,
        "serving_at_end": serving_now,
        "targets": targets,
        "seconds": round(time.perf_counter() - began, 1),
    }
    path = _common.write_json(args.out, payload)
    print(f"\nWrote {path} in {payload['seconds']:.0f}s")
    return 0


def _variant_of(phase: dict) -> str:
    for h in phase.get("history", []):
        for v in h["variants"]:
            if v["model"] == phase["model"]:
                return v["name"]
    return ""


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "loadgen":
        _loadgen(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5])
    else:
        random.seed(0)
        sys.exit(main())
