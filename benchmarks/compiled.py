"""Compiled models benchmark: one-row latency over HTTP of an AutoML ensemble endpoint and of the
default LightGBM endpoint, each compiled (``kiln compile``) against the same version served
through its pipeline, in the same server and the same run.

Target: the AutoML ensemble's one-row p50 over HTTP ≤ 2 ms compiled (for a 5-member ensemble).

What it does: a fresh temporary workspace; ingest examples/churn/telco_churn.csv as ``churn``;
train ``lightgbm``; run AutoML on it (``--time-limit`` seconds). Each model is registered a
second time (the same fitted model, a new version) and that copy compiled (``--target``, native
by default; ``onnx`` is tried too and its parity outcome reported). The four versions are deployed
to four endpoints of one ``python -m kiln serve`` (one worker); sequential single-row JSON
requests over one keep-alive ``httpx.Client`` go to the four endpoints in interleaved blocks, so
that all see the same host speed; p50 and p99 per endpoint.

The batch transform half of the issue's measurements (1,000,000 rows, compiled vs the pipeline
vs an in-process ``read_csv`` + ``predict_proba`` loop) is ``benchmarks/transform.py
--compiled``.

    .venv/bin/python benchmarks/compiled.py                  # about 3 minutes
    .venv/bin/python benchmarks/compiled.py --time-limit 30 --requests 200   # a smoke run

Prints a Markdown table and writes benchmarks/out/compiled.json.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _common
from _common import child_env, log, markdown_table

TARGET_MS = 2.0


def members(ws, ref: str) -> int:
    estimator = ws.models.load(ref).pipeline[-1]
    weights = getattr(estimator, "weights", [1.0])
    return sum(1 for w in weights if w > 0)


def time_endpoints(port: int, names: list[str], requests: int, block: int) -> dict:
    import httpx

    body = [_common.sample_record(1)]
    samples: dict[str, list[float]] = {n: [] for n in names}
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
        for name in names:  # warm-up
            for _ in range(20):
                client.post(f"/endpoints/{name}/invocations", json=body).raise_for_status()
        done = 0
        while done < requests:
            for name in names:
                for _ in range(block):
                    started = time.perf_counter()
                    response = client.post(f"/endpoints/{name}/invocations", json=body)
                    samples[name].append(time.perf_counter() - started)
                    response.raise_for_status()
            done += block
    return {n: _common.summarize_ms(s) for n, s in samples.items()}


def scoring_throughput(ws, refs: dict[str, str], rows: int, rounds: int) -> dict:
    """Rows/s of batch transform's scoring step alone (``_Scorer.predictions`` on Arrow chunks
    of 100,000 rows, all cores), per version, interleaved; no process start or file I/O."""
    import pyarrow as pa

    from kiln.serving._transform import _Scorer

    frame = ws.data.load("churn").drop(columns=[_common.TARGET])
    frame = frame.sample(rows, replace=True, random_state=0).reset_index(drop=True)
    chunks = [
        pa.Table.from_pandas(frame.iloc[i : i + 100_000], preserve_index=False)
        for i in range(0, rows, 100_000)
    ]
    scorers = {label: _Scorer(ws, ws.models.get(ref)) for label, ref in refs.items()}
    seconds: dict[str, list[float]] = {label: [] for label in refs}
    for _ in range(rounds):
        for label, scorer in scorers.items():
            started = time.perf_counter()
            for chunk in chunks:
                scorer.predictions(chunk)
            seconds[label].append(time.perf_counter() - started)
    return {label: rows / min(values) for label, values in seconds.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--time-limit", type=float, default=90, help="AutoML seconds")
    parser.add_argument("--requests", type=int, default=1000, help="per endpoint")
    parser.add_argument("--block", type=int, default=50)
    parser.add_argument("--target", default=None, help="compile target (default: kiln's)")
    parser.add_argument("--out", default="compiled")
    parser.add_argument("--scoring-rows", type=int, default=300_000)
    args = parser.parse_args()

    began = time.perf_counter()
    info = _common.machine_info()
    compile_records: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="kiln-bench-compiled-") as tmp_name:
        tmp = Path(tmp_name)
        log("Training lightgbm on the churn data in a fresh workspace")
        ws, lightgbm = _common.prepare_workspace(tmp / "ws")
        log(f"AutoML for {args.time_limit:.0f} s")
        ensemble = ws.automl("churn", target=_common.TARGET, time_limit=args.time_limit).model.ref
        refs = {"lightgbm": lightgbm, "ensemble": ensemble}
        endpoints = {}
        for label, ref in refs.items():
            copy = _common.register_copy(ws, ref, f"{label}_compiled")
            try:  # no --target: every target tried, the fastest passing parity serves
                chosen = ws.compile(
                    copy, target=args.target, on_log=lambda m, label=label: log(f"  {label}: {m}")
                )
            except Exception as exc:  # reported: the gate refusing a form is a result
                compile_records[label] = {"error": str(exc)}
                log(f"  {label}: not compiled ({exc})")
            else:
                compile_records[f"{label} serves"] = {"target": chosen["target"]}
            for target, record in (ws.models.get(copy).compiled or {}).items():
                compile_records[f"{label}/{target}"] = record
            for name, served in ((label, ref), (f"{label}_compiled", copy)):
                ws.endpoints.deploy(served, endpoint=name, allow_unapproved=True)
                endpoints[name] = served
        home = ws.home
        ensemble_members = members(ws, ensemble)
        log(f"Batch scoring of {args.scoring_rows:,} rows in process")
        native = _common.register_copy(ws, lightgbm, "lightgbm_native")
        ws.compile(native, target="native")
        scoring = {"pipeline": lightgbm, "compiled native": native}
        if "onnx" in (ws.models.get(endpoints["lightgbm_compiled"]).compiled or {}):  # installed
            # Only an ONNX form: batch transform prefers a native one when there is one.
            onnx = _common.register_copy(ws, lightgbm, "lightgbm_onnx")
            ws.compile(onnx, target="onnx")
            scoring["compiled onnx"] = onnx
        throughput = scoring_throughput(ws, scoring, args.scoring_rows, rounds=3)
        ws.close()

        port = _common.free_port()
        # The server's log goes to a file: a pipe nobody reads fills up and blocks the server.
        server_log = open(tmp / "server.log", "wb")  # noqa: SIM115 - closed after the server
        server = subprocess.Popen(
            [sys.executable, "-m", "kiln", "--home", str(home), "serve", "--port", str(port)]
            + ["--log-level", "warning"],
            env=child_env(),
            stdout=subprocess.DEVNULL,
            stderr=server_log,
        )
        try:
            _common.wait_for_ping(server, f"http://127.0.0.1:{port}/ping")
            log(f"Timing {args.requests} one-row requests per endpoint")
            latency = time_endpoints(port, list(endpoints), args.requests, args.block)
        finally:
            _common.stop(server)
            server_log.close()

    rows = []
    for name, stats in latency.items():
        rows.append([name, endpoints[name], stats["p50_ms"], stats["p99_ms"]])
    print(f"\n### One-row JSON invocation over HTTP ({args.requests} requests per endpoint)\n")
    print(markdown_table(["endpoint", "model", "p50 ms", "p99 ms"], rows))
    p50 = latency["ensemble_compiled"]["p50_ms"]
    before = latency["ensemble"]["p50_ms"]
    print(
        f"\nAutoML ensemble ({ensemble_members} members): p50 {before:.2f} ms "
        f"through the pipeline, {p50:.2f} ms compiled; target ≤ {TARGET_MS} ms: "
        f"{'MET' if p50 <= TARGET_MS else 'MISSED'}"
    )
    print(f"\n### Batch scoring step, default-recipe LightGBM, {args.scoring_rows:,} rows\n")
    base = throughput["pipeline"]
    print(
        markdown_table(
            ["scorer", "rows/s", "× pipeline"],
            [[label, rate, rate / base] for label, rate in throughput.items()],
        )
    )
    for key, record in compile_records.items():
        shown = (
            record.get("error")
            or record.get("target")
            or (
                record["parity"]
                | {"one_row_ms": record["latency_ms"], "serving": record["serving"]}
            )
        )
        print(f"compile {key}: {shown}")
    payload = {
        "benchmark": "compiled",
        "command": "python benchmarks/compiled.py " + " ".join(sys.argv[1:]),
        "machine": info,
        "parameters": vars(args) | {"ensemble_members": ensemble_members},
        "latency_ms": latency,
        "scoring_rows_per_s": throughput,
        "compile": compile_records,
        "seconds": round(time.perf_counter() - began, 1),
    }
    path = _common.write_json(args.out, payload)
    print(f"\nWrote {path} in {payload['seconds']:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
