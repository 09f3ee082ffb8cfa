"""Asynchronous inference under a crash: 1,000 queued requests, the server SIGKILLed half way.

What it does: a fresh temporary workspace; ingest examples/churn/telco_churn.csv as ``churn``;
train ``lightgbm`` and deploy it to the endpoint ``churn``; start ``kiln serve`` (a real process,
its own session). Then:

1. POST ``--requests`` asynchronous invocations of ``--rows`` rows each over HTTP (CSV bodies),
   counting the 202s: the accepted requests.
2. Poll the store until at least half of them are Completed, then SIGKILL the server's whole
   process group (no shutdown: rows it was processing stay InProgress with a lease nobody renews).
3. Start ``kiln serve`` again and wait until every accepted request is Completed or Failed.

Checks: every accepted request is Completed; exactly one output file per inference id under
``async/churn/``, each with one line per input row (a retry replaces the output whole, never
adds to it); the number of output files equals the number of accepted requests. Reports the
submit rate, the state at the kill, the attempts, the time to drain after the restart (which
includes the 30 s lease of the rows the dead server held), and throughput before the kill.

    .venv/bin/python benchmarks/async.py                 # about 2-3 minutes
    .venv/bin/python benchmarks/async.py --requests 200  # a smoke run

Prints a Markdown table and writes benchmarks/out/async.json.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import _common
from _common import CHURN_CSV, TARGET, child_env, log, markdown_table


def start_server(home: Path, port: int, out: Path) -> subprocess.Popen:
    process = subprocess.Popen(
        [sys.executable, "-m", "kiln", "--home", str(home), "serve", "--port", str(port)],
        env=child_env(),
        stdout=out.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own group: the SIGKILL reaches every process of it
    )
    _common.wait_for_ping(process, f"http://127.0.0.1:{port}/ping", timeout=120)
    return process


def statuses(ws) -> Counter:
    from sqlalchemy import func, select

    from kiln.store import AsyncInvocationRow

    with ws.store.read() as session:
        rows = session.execute(
            select(AsyncInvocationRow.status, func.count()).group_by(AsyncInvocationRow.status)
        ).all()
    return Counter(dict(rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--rows", type=int, default=20, help="rows per request")
    args = parser.parse_args()

    import httpx
    import pandas as pd

    info = _common.machine_info()
    with tempfile.TemporaryDirectory(prefix="kiln-async-bench-") as tmp:
        home = Path(tmp) / "ws"
        log("preparing the workspace (ingest, train lightgbm, deploy)")
        ws, ref = _common.prepare_workspace(home)
        ws.endpoints.deploy(ref, endpoint="churn", allow_unapproved=True)
        rows = pd.read_csv(CHURN_CSV).drop(columns=[TARGET])
        bodies = [
            rows.iloc[(i * args.rows) % (len(rows) - args.rows) :][: args.rows]
            .to_csv(index=False)
            .encode()
            for i in range(args.requests)
        ]
        port = _common.free_port()
        server_log = Path(tmp) / "server.log"
        log(f"starting kiln serve on port {port}")
        server = start_server(home, port, server_log)
        base = f"http://127.0.0.1:{port}"
        accepted: list[str] = []
        started = time.perf_counter()
        with httpx.Client(base_url=base, timeout=30) as client:
            for body in bodies:
                response = client.post(
                    "/endpoints/churn/async-invocations",
                    content=body,
                    headers={"content-type": "text/csv"},
                )
                if response.status_code == 202:
                    accepted.append(response.json()["id"])
        submit_seconds = time.perf_counter() - started
        log(f"{len(accepted)} of {args.requests} accepted in {submit_seconds:.1f} s")

        half = len(accepted) // 2
        while statuses(ws)["Completed"] < half:
            if server.poll() is not None:
                raise RuntimeError(f"the server exited: see {server_log}")
            time.sleep(0.05)
        at_kill = statuses(ws)
        before_kill_seconds = time.perf_counter() - started
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()
        log(f"SIGKILLed the server at {dict(at_kill)}")

        restarted = time.perf_counter()
        server = start_server(home, port, server_log)
        try:
            while True:
                counts = statuses(ws)
                if counts["Completed"] + counts["Failed"] >= len(accepted):
                    break
                time.sleep(0.2)
            drain_seconds = time.perf_counter() - restarted
        finally:
            _common.stop(server)

        invocations = {i.id: i for i in ws.endpoints.async_list("churn", limit=None)}
        outputs = [n for n in ws.artifacts.list_named("async/churn") if n.endswith("/output.jsonl")]
        leftovers = [n for n in ws.artifacts.list_named("async/churn") if n.endswith(".tmp")]
        per_id = Counter(n.split("/")[2] for n in outputs)
        wrong_lengths = [
            i
            for i in accepted
            if len(ws.artifacts.read_named(f"async/churn/{i}/output.jsonl").splitlines())
            != args.rows
        ]
        attempts = Counter(invocations[i].attempts for i in accepted)
        final = Counter(invocations[i].status for i in accepted)
        exactly_once = (
            final["Completed"] == len(accepted)
            and set(per_id) == set(accepted)
            and all(count == 1 for count in per_id.values())
            and not wrong_lengths
        )
        results = {
            "requests": args.requests,
            "rows_per_request": args.rows,
            "accepted": len(accepted),
            "submit_seconds": round(submit_seconds, 2),
            "submitted_per_second": round(len(accepted) / submit_seconds, 1),
            "at_kill": dict(at_kill),
            "seconds_to_kill": round(before_kill_seconds, 2),
            "completed_per_second_before_kill": round(
                at_kill["Completed"] / before_kill_seconds, 1
            ),
            "drain_seconds_after_restart": round(drain_seconds, 2),
            "final": dict(final),
            "attempts": {str(k): v for k, v in sorted(attempts.items())},
            "output_files": len(outputs),
            "outputs_with_wrong_row_count": len(wrong_lengths),
            "temporary_files_left": len(leftovers),
            "every_accepted_request_completed_exactly_once": exactly_once,
            "machine": info,
        }
    print(
        markdown_table(
            ["figure", "value"],
            [[k, v] for k, v in results.items() if k != "machine"],
        )
    )
    path = _common.write_json("async", results)
    log(f"wrote {path}")
    if not exactly_once:
        sys.exit(1)


if __name__ == "__main__":
    main()
