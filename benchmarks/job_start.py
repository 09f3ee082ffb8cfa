"""Job start benchmark: what a job costs before and after its own work, with warm job workers
(a fork of a pre-imported process, kiln.compute._zygote) against a new process per job.

What it does: a fresh temporary workspace; ingest examples/churn/telco_churn.csv as ``churn``
and its first 300 rows as ``small``; train ``lightgbm`` on ``churn``; write a 1,000-row CSV of
churn rows without the target. Then, alternating cold (``warm_workers=False``, i.e.
``KILN_WARM_WORKERS=0``) and warm, for each round:

* start latency: a training job of ``linear`` on ``small`` run from this process
  (``ws.train``): the seconds from the job's record being created to its process marking it
  InProgress (the job's process start: interpreter, imports, opening the workspace), and the
  whole call's wall time;
* transform fixed cost: ``python -m kiln --home WS transform churn:1`` on the 1,000 rows as a
  subprocess, its wall time (the measure of benchmarks/transform.py's "fixed cost").

With ``--suite``, it also runs a slice of the test suite (``pytest -n 2 PATHS``) once with
``KILN_WARM_WORKERS=0`` and once with warm workers on, and reports both wall times.

    .venv/bin/python benchmarks/job_start.py                 # about 2 minutes
    .venv/bin/python benchmarks/job_start.py --rounds 3 \
        --suite tests/compute tests/serving/test_transform.py

Prints a Markdown table and writes benchmarks/out/job_start.json.
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

import _common
from _common import CHURN_CSV, REPO, child_env, log, markdown_table

FIXED_COST_TARGET = 1.5


def train_job(ws, *, warm: bool) -> dict:
    import kiln

    workspace = kiln.Workspace(ws.home, warm_workers=warm)
    started = time.perf_counter()
    result = workspace.train("small", target="churn", algorithm="linear")
    wall = time.perf_counter() - started
    job = result.job
    workspace.close()
    return {
        "start_seconds": (job.started_at - job.created_at).total_seconds(),
        "wall_seconds": wall,
    }


def transform_command(
    home: Path, ref: str, csv: Path, out: Path, *, warm: bool, src: str | None = None
) -> float:
    env = child_env(KILN_WARM_WORKERS="1" if warm else "0")
    if src is not None:  # another kiln's sources (its job's process inherits PYTHONPATH)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [src, env.get("PYTHONPATH")]))
    command = [sys.executable, "-m", "kiln", "--home", str(home), "transform", ref]
    command += ["--input", str(csv), "--output", str(out), "--json"]
    started = time.perf_counter()
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def run_suite(paths: list[str], *, warm: bool) -> float:
    env = child_env(KILN_WARM_WORKERS="1" if warm else "0")
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "-n", "2", *paths]
    started = time.perf_counter()
    done = subprocess.run(command, env=env, cwd=REPO, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    log(f"  suite ({'warm' if warm else 'cold'}): {done.stdout.strip().splitlines()[-1]}")
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--suite", nargs="*", metavar="PATH", help="test paths to time")
    parser.add_argument(
        "--before-src",
        metavar="SRC",
        help="also time 'kiln transform' with the kiln of another commit (a 'git archive' "
        "export's src folder), before warm workers",
    )
    parser.add_argument("--out", default="job_start")
    args = parser.parse_args()
    began = time.perf_counter()
    info = _common.machine_info()
    runs: dict[str, list] = {
        key: [] for key in ("start_cold", "start_warm", "train_cold", "train_warm")
    } | {"transform_cold": [], "transform_warm": [], "transform_before": []}
    with tempfile.TemporaryDirectory(prefix="kiln-bench-jobs-") as tmp_name:
        tmp = Path(tmp_name)
        log("Training lightgbm on the churn data in a fresh workspace")
        ws, ref = _common.prepare_workspace(tmp / "ws")
        small = tmp / "small.csv"
        small.write_text("\n".join(CHURN_CSV.read_text().splitlines()[:301]) + "\n")
        ws.data.ingest(small, name="small")
        lines = CHURN_CSV.read_text().splitlines()
        rows = [line.split(",", 1)[1] for line in lines[1:1001]]
        scored = tmp / "score.csv"
        scored.write_text("\n".join([lines[0].split(",", 1)[1], *rows]) + "\n")
        # One warm job first: the worker starts in the background and is ready for the rounds.
        train_job(ws, warm=True)
        time.sleep(10)
        for round_ in range(args.rounds):
            for warm in (False, True):
                name = "warm" if warm else "cold"
                result = train_job(ws, warm=warm)
                runs[f"start_{name}"].append(result["start_seconds"])
                runs[f"train_{name}"].append(result["wall_seconds"])
                runs[f"transform_{name}"].append(
                    transform_command(ws.home, ref, scored, tmp / "out.csv", warm=warm)
                )
            if args.before_src:
                runs["transform_before"].append(
                    transform_command(
                        ws.home, ref, scored, tmp / "out.csv", warm=False, src=args.before_src
                    )
                )
            log(
                f"  round {round_ + 1}: start {runs['start_cold'][-1]:.2f}/"
                f"{runs['start_warm'][-1]:.2f} s, transform {runs['transform_cold'][-1]:.2f}/"
                f"{runs['transform_warm'][-1]:.2f} s (cold/warm)"
            )
        ws.close()
    suite = {}
    if args.suite:
        os.environ.pop("KILN_WARM_WORKERS", None)
        suite = {
            "paths": args.suite,
            "cold_seconds": run_suite(args.suite, warm=False),
            "warm_seconds": run_suite(args.suite, warm=True),
        }

    def row(label: str, key: str) -> list:
        cold, warm = runs[f"{key}_cold"], runs[f"{key}_warm"]
        return [
            label,
            statistics.median(cold),
            min(cold),
            statistics.median(warm),
            min(warm),
            statistics.median(cold) / statistics.median(warm),
        ]

    table = [
        row("job start: record created → process running (s)", "start"),
        row("`ws.train` of linear on 300 rows, whole call (s)", "train"),
        row("`kiln transform` of 1,000 rows, whole command (s)", "transform"),
    ]
    if runs["transform_before"]:
        before = runs["transform_before"]
        table.append(
            [
                "`kiln transform` of 1,000 rows, the kiln of --before-src (s)",
                statistics.median(before),
                min(before),
                "",
                "",
                statistics.median(before) / statistics.median(runs["transform_warm"]),
            ]
        )
    if suite:
        table.append(
            [
                f"`pytest -n 2 {' '.join(args.suite)}` (s)",
                suite["cold_seconds"],
                "",
                suite["warm_seconds"],
                "",
                suite["cold_seconds"] / suite["warm_seconds"],
            ]
        )
    print(f"\n### Job start, new process (cold) vs warm worker, {args.rounds} rounds\n")
    headers = ["measure", "cold median", "cold min", "warm median", "warm min", "cold / warm"]
    print(markdown_table(headers, table))
    fixed = statistics.median(runs["transform_warm"])
    verdict = "MET" if fixed <= FIXED_COST_TARGET else "MISSED"
    print(f"\ntransform fixed cost (warm, median) {fixed:.2f} s; target <= 1.5 s: {verdict}")
    payload = {
        "benchmark": "job_start",
        "command": "python benchmarks/job_start.py " + " ".join(sys.argv[1:]),
        "machine": info,
        "runs": runs,
        "suite": suite,
        "seconds": round(time.perf_counter() - began, 1),
    }
    path = _common.write_json(args.out, payload)
    print(f"\nWrote {path} in {payload['seconds']:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
