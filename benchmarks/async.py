"""Asynchronous inference under a crash: 1,000 queued requests, the server SIGKILLed half way.

What it does: a fresh temporary workspace; ingest examples/churn/telco_churn.csv as ``churn``;
train ``lightgbm`` and deploy it to the endpoint ``churn``; start ``kiln serve`` (a real process,
its own session). Then:

1. ``--clients`` client threads POST ``--requests`` asynchronous invocations of ``--rows`` rows
   each over HTTP (CSV bodies), counting the 202s: the accepted requests. A POST that
   gets no answer (the server is down) is sent again after 0.2 s.
2. Meanwhile the store is polled until half of them are Completed; then the server's whole
   process group is SIGKILLed (no shutdown: rows it was processing stay InProgress with a lease
   nobody renews, and Pending rows wait).
3. ``kiln serve`` is started again at once; the client goes on; the run waits until every row of
   the queue is Completed or Failed.

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
import threading
import time
from collections import Counter
from pathlib import Path

import _common
from _common import CHURN_CSV, TARGET, child_env, log, markdown_table

from kiln.store import now


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
    parser.add_argument("--rows", type=int, default=50, help="rows per request")
    parser.add_argument("--clients", type=int, default=4, help="client threads submitting")
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
        last_accepted = [0.0]
        refused = [0]  # POSTs that got no answer: the server was down (each is sent again)
        started = time.perf_counter()

        def submit_all(share: list[bytes]) -> None:
            with httpx.Client(base_url=base, timeout=30) as client:
                for body in share:
                    while True:
                        try:
                            response = client.post(
                                "/endpoints/churn/async-invocations",
                                content=body,
                                headers={"content-type": "text/csv"},
                            )
                        except httpx.TransportError:
                            refused[0] += 1
                            time.sleep(0.2)
                            continue
                        if response.status_code == 202:
                            accepted.append(response.json()["id"])
                            last_accepted[0] = time.perf_counter()
                            break
                        raise RuntimeError(f"{response.status_code}: {response.text[:300]}")

        submitters = [
            threading.Thread(target=submit_all, args=(bodies[i :: args.clients],), daemon=True)
            for i in range(args.clients)
        ]
        for submitter in submitters:
            submitter.start()
        half = args.requests // 2
        while statuses(ws)["Completed"] < half:
            if server.poll() is not None:
                raise RuntimeError(f"the server exited: see {server_log}")
            time.sleep(0.05)
        at_kill = statuses(ws)
        accepted_at_kill = len(accepted)
        before_kill_seconds = time.perf_counter() - started
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()
        log(f"SIGKILLed the server at {dict(at_kill)}, {accepted_at_kill} accepted")

        restarted = time.perf_counter()
        restart_stamp = now()
        server = start_server(home, port, server_log)
        restart_seconds = time.perf_counter() - restarted  # until /ping answers
        try:
            for submitter in submitters:
                submitter.join()
            submit_seconds = last_accepted[0] - started
            log(f"{len(accepted)} accepted in {submit_seconds:.1f} s")
            while True:
                counts = statuses(ws)
                if counts["Completed"] + counts["Failed"] >= sum(counts.values()):
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
        # A POST cut off by the kill may have been stored without its 202 reaching the client:
        # it is processed too (and counted here), but it is not an accepted request.
        unacknowledged = [i for i in invocations if i not in set(accepted)]
        exactly_once = (
            final["Completed"] == len(accepted)
            and set(accepted) <= set(per_id)
            and set(per_id) == set(invocations)
            and all(count == 1 for count in per_id.values())
            and not wrong_lengths
        )
        results = {
            "requests": args.requests,
            "clients": args.clients,
            "rows_per_request": args.rows,
            "accepted": len(accepted),
            "submit_seconds": round(submit_seconds, 2),
            "accepted_per_second": round(len(accepted) / submit_seconds, 1),
            "posts_refused_while_down": refused[0],
            "stored_without_acknowledgement": len(unacknowledged),
            "at_kill": dict(at_kill),
            "accepted_at_kill": accepted_at_kill,
            "seconds_to_kill": round(before_kill_seconds, 2),
            "completed_per_second_before_kill": round(
                at_kill["Completed"] / before_kill_seconds, 1
            ),
            "restart_seconds": round(restart_seconds, 2),
            "drain_seconds_after_restart": round(drain_seconds, 2),
            "retried_rows_last_finished_seconds_after_restart": round(
                max(
                    (
                        (invocations[i].finished_at - restart_stamp).total_seconds()
                        for i in accepted
                        if invocations[i].attempts > 1
                    ),
                    default=0.0,
                ),
                2,
            ),
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
