"""Serving benchmark: kiln's endpoint against in-process prediction and a bare FastAPI app.

Targets
  (a) single-row JSON invocation p50 latency within 2 ms of in-process ``predict_proba`` on the
      same pipeline with a 1-row DataFrame;
  (b) throughput at 16 concurrent clients at least 80% of a bare FastAPI app wrapping the same
      pipeline (``benchmarks/_bare_app.py``).

What it does: a fresh temporary workspace; ingest examples/churn/telco_churn.csv as ``churn``;
train ``lightgbm``; deploy it to endpoint ``churn``; start ``python -m kiln serve`` and the bare
app (one uvicorn worker each, access log off, log level warning, OMP_WAIT_POLICY=PASSIVE, n_jobs=1
on the estimator) on free loopback ports. Latency: sequential single-row requests over one
keep-alive ``httpx.Client``, kiln and bare alternating in blocks. Throughput: ``wrk`` (one thread,
16 connections, a separate process) or, without wrk, an asyncio httpx load generator in a
separate process; kiln and bare alternate, the medians are compared.

    .venv/bin/python benchmarks/serving.py            # about 2-3 minutes
    .venv/bin/python benchmarks/serving.py --quick    # a smoke run, ~1 minute

Prints a Markdown table and writes benchmarks/out/serving.json.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# _common sets OMP_WAIT_POLICY=PASSIVE; numpy, pandas and LightGBM are imported inside main().
import _common
from _common import (
    HERE,
    child_env,
    free_port,
    log,
    markdown_table,
    stop,
    summarize_ms,
    wait_for_ping,
)

LATENCY_TARGET_MS = 2.0
THROUGHPUT_TARGET = 0.80


# -- servers ------------------------------------------------------------------------------------
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


def start_bare(model_path: Path, port: int) -> subprocess.Popen:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "_bare_app:app",
            "--app-dir",
            str(HERE),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
            "--no-access-log",
            "--log-level",
            "warning",
        ],
        env=child_env(BENCH_MODEL_PATH=str(model_path)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    wait_for_ping(process, f"http://127.0.0.1:{port}/ping")
    return process


def cpu_seconds(pid: int) -> float:
    import psutil

    process = psutil.Process(pid)
    total = sum(process.cpu_times()[:2])
    for child in process.children(recursive=True):
        with contextlib.suppress(psutil.Error):
            total += sum(child.cpu_times()[:2])
    return total


# -- latency ------------------------------------------------------------------------------------
def timed_requests(client, url: str, body: bytes, count: int) -> list[float]:
    headers = {"content-type": "application/json"}
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        response = client.post(url, content=body, headers=headers)
        elapsed = time.perf_counter() - started
        if response.status_code != 200:
            raise RuntimeError(f"{url} answered {response.status_code}: {response.text[:500]}")
        samples.append(elapsed)
    return samples


def timed_calls(function, count: int) -> list[float]:
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        function()
        samples.append(time.perf_counter() - started)
    return samples


# -- throughput ---------------------------------------------------------------------------------
_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def run_wrk(url: str, lua: Path, concurrency: int, seconds: float) -> dict:
    command = [
        "wrk",
        "-t1",
        f"-c{concurrency}",
        f"-d{int(round(seconds))}s",
        "--latency",
        "--timeout",
        "10s",
        "-s",
        str(lua),
        url,
    ]
    out = subprocess.run(
        command, capture_output=True, text=True, check=True, timeout=seconds + 60
    ).stdout
    found = re.search(r"(\d+) requests in ([\d.]+)(\w+)", out)
    if not found:
        raise RuntimeError(f"Cannot parse wrk output:\n{out}")
    requests = int(found.group(1))
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: (.*)", out)
    latency = {}
    for q in ("50", "90", "99"):
        m = re.search(rf"^\s+{q}%\s+([\d.]+)(us|ms|s|m)\s*$", out, re.M)
        if m:
            latency[f"p{q}_ms"] = round(float(m.group(1)) * _UNITS[m.group(2)], 3)
    return {
        "requests": requests,
        "rps": rps,
        "errors": int(non2xx.group(1)) if non2xx else 0,
        "socket_errors": socket_errors.group(1) if socket_errors else None,
        **latency,
    }


def run_loadgen(url: str, body_file: Path, concurrency: int, seconds: float) -> dict:
    out = subprocess.run(
        [
            sys.executable,
            str(HERE / "_common.py"),
            "loadgen",
            url,
            str(body_file),
            str(concurrency),
            str(seconds),
        ],
        env=child_env(),
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 60,
    ).stdout
    result = json.loads(out)
    return {k: (round(v, 3) if isinstance(v, float) else v) for k, v in result.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--requests", type=int, default=2000, help="measured latency requests per server"
    )
    parser.add_argument(
        "--warmup", type=int, default=200, help="latency warm-up requests per server"
    )
    parser.add_argument(
        "--blocks", type=int, default=2, help="alternating latency blocks per server"
    )
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--duration", type=float, default=12.0, help="seconds per throughput run")
    parser.add_argument("--throughput-warmup", type=float, default=2.0)
    parser.add_argument("--rounds", type=int, default=3, help="kiln/bare throughput pairs")
    parser.add_argument("--loadgen", choices=("auto", "wrk", "python"), default="auto")
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: fewer requests, short runs"
    )
    args = parser.parse_args()
    if args.quick:
        args.requests, args.warmup, args.duration, args.throughput_warmup = 400, 50, 4.0, 1.0
    loadgen = args.loadgen
    if loadgen == "auto":
        loadgen = "wrk" if shutil.which("wrk") else "python"

    import httpx
    import numpy as np
    import orjson
    import pandas as pd

    from kiln.serving._validation import RequestSchema

    began = time.perf_counter()
    info = _common.machine_info()
    with tempfile.TemporaryDirectory(prefix="kiln-bench-serving-") as tmp_name:
        tmp = Path(tmp_name)
        log("Training lightgbm on the churn data in a fresh workspace")
        ws, ref = _common.prepare_workspace(tmp / "ws")
        endpoint = ws.endpoints.deploy(ref, endpoint="churn")
        model = ws.models.load(ref)
        model_path = tmp / "model.pkl"
        model_path.write_bytes(model.to_bytes())
        model.set_threads(1)  # as kiln's server and the bare app do

        record = _common.sample_record()
        body = orjson.dumps([record])
        body_file = tmp / "body.json"
        body_file.write_bytes(body)
        lua = tmp / "post.lua"
        lua.write_text(
            'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
            f"wrk.body = [==[{body.decode()}]==]\n"
        )

        kiln_port, bare_port = free_port(), free_port()
        urls = {
            "kiln": f"http://127.0.0.1:{kiln_port}/endpoints/{endpoint.name}/invocations",
            "bare": f"http://127.0.0.1:{bare_port}/invocations",
        }
        log(f"Starting kiln serve on {kiln_port} and the bare app on {bare_port}")
        servers: dict[str, subprocess.Popen] = {}
        try:
            servers["kiln"] = start_kiln(ws.home, kiln_port)
            servers["bare"] = start_bare(model_path, bare_port)

            # Same answers from all three, or the comparison means nothing.
            frame = pd.DataFrame([record])
            expected = model.predict_proba(frame)[0]
            kiln_answer = httpx.post(
                urls["kiln"], content=body, headers={"content-type": "application/json"}
            ).json()
            bare_answer = httpx.post(
                urls["bare"], content=body, headers={"content-type": "application/json"}
            ).json()
            kiln_proba = [
                kiln_answer["predictions"][0]["probabilities"][str(c)] for c in model.classes
            ]
            assert np.allclose(kiln_proba, expected, atol=1e-6), (kiln_proba, expected)
            assert np.allclose(bare_answer[0], expected, atol=1e-12), (bare_answer, expected)

            # -- latency: sequential single-row requests, kiln and bare alternating in blocks --
            log(
                f"Latency: {args.warmup} warm-up + {args.requests} requests per server, "
                f"{args.blocks} alternating blocks"
            )
            samples: dict[str, list[float]] = {"kiln": [], "bare": []}
            per_block = max(1, args.requests // args.blocks)
            with httpx.Client(timeout=30.0) as client:
                for name in ("kiln", "bare"):
                    timed_requests(client, urls[name], body, args.warmup)
                for _ in range(args.blocks):
                    for name in ("kiln", "bare"):
                        samples[name] += timed_requests(client, urls[name], body, per_block)
                ping = f"http://127.0.0.1:{bare_port}/ping"
                for _ in range(50):
                    client.get(ping)
                floor = timed_calls(lambda: client.get(ping), 500)

            # -- in-process, in this process, same row, same pipeline, n_jobs=1 ---------------
            log("In-process predict_proba and handler paths")
            schema = RequestSchema(model.signature)
            pipeline, columns = model.pipeline, model.input_columns

            def bare_handler() -> bytes:
                rows = orjson.loads(body)
                proba = pipeline.predict_proba(pd.DataFrame(rows)[columns])
                return orjson.dumps(proba.tolist())

            def kiln_handler() -> bytes:
                built, _warnings = schema.frame_from_records(schema.records(orjson.loads(body)))
                return orjson.dumps(
                    {"model": ref, "predictions": model.predictions(built)},
                    option=orjson.OPT_SERIALIZE_NUMPY,
                )

            in_process = {}
            for name, function, count in (
                ("predict_proba", lambda: model.predict_proba(frame), args.requests),
                ("bare_handler", bare_handler, args.requests // 2),
                ("kiln_handler", kiln_handler, args.requests // 2),
            ):
                timed_calls(function, args.warmup)
                in_process[name] = summarize_ms(timed_calls(function, count))

            # -- throughput: 16 concurrent clients, separate load-generator process ----------
            log(
                f"Throughput: {args.rounds} x (kiln, bare), {args.duration:.0f}s each, "
                f"{args.concurrency} connections, load generator {loadgen}"
            )
            throughput: dict[str, list[dict]] = {"kiln": [], "bare": []}
            for round_ in range(args.rounds):
                for name in ("kiln", "bare"):

                    def load(seconds: float, url: str = urls[name]) -> dict:
                        if loadgen == "wrk":
                            return run_wrk(url, lua, args.concurrency, seconds)
                        return run_loadgen(url, body_file, args.concurrency, seconds)

                    load(args.throughput_warmup)
                    cpu_before = cpu_seconds(servers[name].pid)
                    result = load(args.duration)
                    cpu_used = cpu_seconds(servers[name].pid) - cpu_before
                    result["server_cpu_ms_per_request"] = round(
                        cpu_used * 1e3 / max(result["requests"], 1), 3
                    )
                    result["round"] = round_ + 1
                    throughput[name].append(result)
                    log(
                        f"  {name} round {round_ + 1}: {result['rps']:.0f} req/s, "
                        f"{result['errors']} errors, server CPU "
                        f"{result['server_cpu_ms_per_request']:.2f} ms/request"
                    )
        finally:
            for process in servers.values():
                stop(process)
            ws.close()

    latency = {name: summarize_ms(values) for name, values in samples.items()}
    latency["http_floor_bare_ping"] = summarize_ms(floor)
    median_rps = {n: statistics.median(r["rps"] for r in runs) for n, runs in throughput.items()}
    median_cpu = {
        n: statistics.median(r["server_cpu_ms_per_request"] for r in runs)
        for n, runs in throughput.items()
    }
    errors = sum(r["errors"] for runs in throughput.values() for r in runs)
    gap = latency["kiln"]["p50_ms"] - in_process["predict_proba"]["p50_ms"]
    ratio = median_rps["kiln"] / median_rps["bare"]
    targets = {
        "latency_p50_gap_ms": round(gap, 3),
        "latency_target_ms": LATENCY_TARGET_MS,
        "latency_met": gap <= LATENCY_TARGET_MS,
        "throughput_ratio": round(ratio, 4),
        "throughput_target": THROUGHPUT_TARGET,
        "throughput_met": ratio >= THROUGHPUT_TARGET and errors == 0,
        # Less sensitive to other tenants of the machine: bare's CPU per request over kiln's.
        "cpu_per_request_ratio_bare_over_kiln": round(median_cpu["bare"] / median_cpu["kiln"], 4),
    }

    rows = [
        [
            "kiln endpoint (HTTP)",
            latency["kiln"]["p50_ms"],
            latency["kiln"]["p90_ms"],
            latency["kiln"]["p99_ms"],
            latency["kiln"]["n"],
        ],
        [
            "bare FastAPI (HTTP)",
            latency["bare"]["p50_ms"],
            latency["bare"]["p90_ms"],
            latency["bare"]["p99_ms"],
            latency["bare"]["n"],
        ],
        [
            "in-process predict_proba (1-row DataFrame)",
            in_process["predict_proba"]["p50_ms"],
            in_process["predict_proba"]["p90_ms"],
            in_process["predict_proba"]["p99_ms"],
            in_process["predict_proba"]["n"],
        ],
        [
            "in-process kiln handler path (parse, validate, predict, serialize)",
            in_process["kiln_handler"]["p50_ms"],
            in_process["kiln_handler"]["p90_ms"],
            in_process["kiln_handler"]["p99_ms"],
            in_process["kiln_handler"]["n"],
        ],
        [
            "in-process bare handler path",
            in_process["bare_handler"]["p50_ms"],
            in_process["bare_handler"]["p90_ms"],
            in_process["bare_handler"]["p99_ms"],
            in_process["bare_handler"]["n"],
        ],
        [
            "HTTP floor: bare GET /ping",
            latency["http_floor_bare_ping"]["p50_ms"],
            latency["http_floor_bare_ping"]["p90_ms"],
            latency["http_floor_bare_ping"]["p99_ms"],
            latency["http_floor_bare_ping"]["n"],
        ],
    ]
    print("\n### Single-row latency (sequential, one keep-alive client)\n")
    print(markdown_table(["path", "p50 ms", "p90 ms", "p99 ms", "n"], rows))
    print(
        f"\nkiln p50 - in-process predict_proba p50 = {gap:.3f} ms "
        f"(target <= {LATENCY_TARGET_MS} ms): {'MET' if targets['latency_met'] else 'MISSED'}"
    )

    rows = []
    for name in ("kiln", "bare"):
        for r in throughput[name]:
            rows.append(
                [
                    f"{name} round {r['round']}",
                    r["rps"],
                    r.get("p50_ms", ""),
                    r.get("p99_ms", ""),
                    r["server_cpu_ms_per_request"],
                    r["errors"],
                ]
            )
        rows.append([f"**{name} median**", median_rps[name], "", "", median_cpu[name], ""])
    print(
        f"\n### Throughput ({args.concurrency} concurrent clients, {args.duration:.0f}s per run, "
        f"load generator: {loadgen})\n"
    )
    print(
        markdown_table(["server", "req/s", "p50 ms", "p99 ms", "server CPU ms/req", "errors"], rows)
    )
    print(
        f"\nkiln/bare throughput = {ratio:.3f} (target >= {THROUGHPUT_TARGET}): "
        f"{'MET' if targets['throughput_met'] else 'MISSED'}"
    )
    print(
        f"server CPU per request, bare/kiln = "
        f"{targets['cpu_per_request_ratio_bare_over_kiln']:.3f} (the same ratio, measured in CPU "
        "time rather than wall time)"
    )

    payload = {
        "benchmark": "serving",
        "command": "python benchmarks/serving.py " + " ".join(sys.argv[1:]),
        "machine": info,
        "parameters": {**vars(args), "loadgen": loadgen, "model": ref, "row": record},
        "latency": latency,
        "in_process": in_process,
        "throughput": throughput,
        "throughput_median_rps": median_rps,
        "server_cpu_ms_per_request_median": median_cpu,
        "targets": targets,
        "seconds": round(time.perf_counter() - began, 1),
    }
    path = _common.write_json("serving", payload)
    print(f"\nWrote {path} in {payload['seconds']:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
