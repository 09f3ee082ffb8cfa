"""Metadata store benchmark: the store test suite's wall time on PostgreSQL against SQLite, and
write throughput on each.

1. The tests that run on both stores (``ON_BOTH_STORES`` in tests/helpers.py: tests/store,
   tests/registry, tests/compute/test_jobs.py, tests/monitoring/test_scheduler.py), once with
   ``-k sqlite`` and once with ``-k postgresql``, each in a fresh pytest process (one worker; the
   PostgreSQL run includes starting its server), alternating, ``--rounds`` times.
2. Write throughput: ``ws.jobs.create`` in a loop from one process, and from four processes at
   once (each a transaction of its own), on SQLite and on a PostgreSQL server on loopback
   (tests/services.py starts it: initdb in a temporary folder, fsync off, as in the tests).

    .venv/bin/python benchmarks/store.py              # ~3 minutes
    .venv/bin/python benchmarks/store.py --rounds 1 --writes 100

Writes benchmarks/out/store.json too. Results: docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import REPO, child_env, log, machine_info, markdown_table, write_json

sys.path.insert(0, str(REPO / "tests"))

SUITE = [
    "tests/store",
    "tests/registry",
    "tests/compute/test_jobs.py",
    "tests/monitoring/test_scheduler.py",
]

# The cases parametrized over both stores, and nothing else: the same tests on each side.
SELECT = {
    "sqlite": "sqlite and not wal_mode",
    "postgresql": "postgresql and not team and not unreachable",
}

WRITER = """
import sys, time
from kiln.workspace import Workspace
ws = Workspace(sys.argv[1])
start = float(sys.argv[3])
while time.time() < start:
    time.sleep(0.001)
for i in range(int(sys.argv[2])):
    ws.jobs.create("training", {"i": i})
print(time.time())
"""


def suite_seconds(backend: str) -> tuple[float, int]:
    """Wall time of one pytest process running the suite's ``backend`` cases; the test count."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "-p", "no:cacheprovider",
         "-k", SELECT[backend], *SUITE],
        cwd=REPO, capture_output=True, text=True, env=child_env(), timeout=1800,
    )  # fmt: skip
    seconds = time.perf_counter() - started
    last = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else done.stderr
    if done.returncode != 0 or "passed" not in last:
        raise SystemExit(f"the {backend} run failed: {last}\n{done.stdout[-3000:]}")
    return seconds, int(last.split(" passed")[0].split()[-1])


def writes_per_second(url: str | None, writes: int, processes: int) -> float:
    """Jobs created per second by ``processes`` writers at once, ``writes`` each."""
    import kiln

    with tempfile.TemporaryDirectory(prefix="kiln-store-bench-") as tmp:
        home = Path(tmp) / "ws"
        ws = kiln.Workspace.init(home, **({"store_url": url} if url else {}))
        env = child_env(**ws.environment())
        ws.close()
        start = time.time() + 8.0  # every writer has imported kiln and opened the store by then
        children = [
            subprocess.Popen(
                [sys.executable, "-c", WRITER, str(home), str(writes), str(start)],
                stdout=subprocess.PIPE,
                text=True,
                env=env,
            )  # fmt: skip
            for _ in range(processes)
        ]
        ends = []
        for child in children:
            out, _ = child.communicate(timeout=600)
            if child.returncode != 0:
                raise SystemExit("a writer failed")
            ends.append(float(out.strip()))
        return processes * writes / (max(ends) - start)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2, help="suite runs per store")
    parser.add_argument("--writes", type=int, default=300, help="jobs each writer creates")
    args = parser.parse_args(argv)
    info = machine_info()
    log(f"load average at the start: {os.getloadavg()[0]:.1f}")

    suites: dict[str, list[float]] = {"sqlite": [], "postgresql": []}
    counts = {}
    for round_ in range(args.rounds):
        for backend in suites:
            seconds, counts[backend] = suite_seconds(backend)
            suites[backend].append(seconds)
            log(f"round {round_ + 1}: {backend} suite {seconds:.1f} s ({counts[backend]} tests)")

    from services import PostgresServer

    server = PostgresServer()
    server.start()
    try:
        throughput: dict[str, dict[int, float]] = {"sqlite": {}, "postgresql": {}}
        for processes in (1, 4):
            for backend in throughput:
                url = server.url(server.database()) if backend == "postgresql" else None
                rate = writes_per_second(url, args.writes, processes)
                throughput[backend][processes] = rate
                log(f"{backend}, {processes} writer(s): {rate:.0f} jobs/s")
    finally:
        server.stop()

    sqlite_s = statistics.median(suites["sqlite"])
    postgres_s = statistics.median(suites["postgresql"])
    print(
        markdown_table(
            ["figure", "SQLite", "PostgreSQL", "PostgreSQL / SQLite"],
            [
                [
                    f"store suite wall time, s (median of {args.rounds}; tests)",
                    f"{sqlite_s:.1f} ({counts['sqlite']})",
                    f"{postgres_s:.1f} ({counts['postgresql']})",
                    f"{postgres_s / sqlite_s:.2f}",
                ],
                *[
                    [
                        f"jobs created per second, {n} writer process{'es' if n > 1 else ''}",
                        f"{throughput['sqlite'][n]:.0f}",
                        f"{throughput['postgresql'][n]:.0f}",
                        f"{throughput['postgresql'][n] / throughput['sqlite'][n]:.2f}",
                    ]
                    for n in (1, 4)
                ],
            ],
        )
    )
    path = write_json(
        "store",
        {
            "machine": info,
            "suite": SUITE,
            "suite_seconds": suites,
            "tests": counts,
            "writes_per_writer": args.writes,
            "jobs_per_second": throughput,
        },
    )
    log(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
