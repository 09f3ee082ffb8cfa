"""Data capture benchmark: nothing lost after a graceful stop, at most the last flush interval
after a SIGKILL, both under 16-client load.

Targets (issue 12)
  (a) after a graceful stop, captured records == 2xx answers;
  (b) with the server SIGKILLed, captured records >= 2xx answers minus those answered in the
      last flush interval (1 s) before the kill.

What it does: a fresh temporary workspace; ingest the churn data, train LightGBM, deploy it to
two endpoints (``graceful``, ``killed``) with capture at 100 %. For each endpoint: start
``python -m kiln serve`` (one worker), run the closed-loop load generator of
``benchmarks/deployment.py`` (16 keep-alive connections, single-row JSON bodies) for
``--seconds``; then either stop the load and SIGTERM the server (graceful), or SIGKILL the server
under load (killed); count the answered requests (the load generator records the time and status
of each) and the captured records (``ws.data.capture``, distinct inference ids).

    .venv/bin/python benchmarks/capture.py               # about 1.5 minutes
    .venv/bin/python benchmarks/capture.py --seconds 5   # a smoke run

Prints a Markdown table and writes benchmarks/out/capture.json.
"""

from __future__ import annotations

import argparse
import json
import signal
import tempfile
import time
from pathlib import Path

import _common
from _common import free_port, log, markdown_table, stop
from deployment import start_kiln, start_loadgen

FLUSH_SECONDS = 1.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="load before the stop")
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()

    import pandas as pd

    info = _common.machine_info()
    results = []
    with tempfile.TemporaryDirectory(prefix="kiln-bench-capture-") as tmp_name:
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
        for endpoint in ("graceful", "killed"):
            ws.endpoints.deploy(model, endpoint=endpoint, allow_unapproved=True)
            ws.endpoints.set_capture(endpoint, percent=100)
            port = free_port()
            load_file = tmp / f"{endpoint}.json"
            server = start_kiln(ws.home, port)
            url = f"http://127.0.0.1:{port}/endpoints/{endpoint}/invocations"
            loadgen = start_loadgen(url, bodies, args.concurrency, load_file)
            log(f"{endpoint}: {args.concurrency} clients for {args.seconds:g} s")
            time.sleep(args.seconds)
            killed_at = None
            if endpoint == "killed":
                killed_at = time.time()
                server.send_signal(signal.SIGKILL)
                server.wait()
                time.sleep(0.5)
                loadgen.send_signal(signal.SIGTERM)
                loadgen.wait(timeout=60)
            else:
                loadgen.send_signal(signal.SIGTERM)
                loadgen.wait(timeout=60)
                stop(server, timeout=30)  # SIGTERM: uvicorn drains, the lifespan flushes
            load = json.loads(load_file.read_text())
            answered = [t for t, s in zip(load["time"], load["status"], strict=True) if s == 200]
            captured = ws.data.capture(endpoint)["inference_id"].nunique()
            result = {"endpoint": endpoint, "answered_2xx": len(answered), "captured": captured}
            if killed_at is not None:
                recent = sum(1 for t in answered if t >= killed_at - FLUSH_SECONDS)
                result |= {
                    "answered_in_last_second": recent,
                    "lost": len(answered) - captured,
                    "met": captured >= len(answered) - recent,
                }
            else:
                result["met"] = captured == len(answered)
            results.append(result)
            log(json.dumps(result))
    print(
        markdown_table(
            ["stop", "2xx answers", "captured", "answered in the last 1 s", "target"],
            [
                [
                    r["endpoint"],
                    r["answered_2xx"],
                    r["captured"],
                    r.get("answered_in_last_second", "—"),
                    "met" if r["met"] else "MISSED",
                ]
                for r in results
            ],
        )
    )
    _common.write_json("capture", {"machine": info, "results": results, "seconds": args.seconds})
    return 0 if all(r["met"] for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
