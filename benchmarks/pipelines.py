"""Pipeline caching benchmark: the example pipeline's first run against a fully cached re-run.

Target (issue 14): a cached re-run of the example pipeline within 5 % of the first run's time.

Runs, each round in a fresh temporary workspace, each command in its own process as a user runs
it (``python -m kiln --home WS pipelines run examples/pipelines/churn.yaml --quiet``):

* first run: every step runs (ingest, profile, split, processing, training job, evaluate, gates,
  approval, canary deployment, baseline, monitor);
* cached re-run: the same command again; every step comes from the cache.

Two sizes of raw data: the example's own 600 rows (``churn_sample.csv``) and the whole telco CSV
(7,043 rows, ``--param raw=...``). Each time is reported two ways: the command end to end (Python
start-up and imports of the CLI process included) and the execution job alone (its record's
start to end: the job process's imports, the cache look-ups and the steps).

    .venv/bin/python benchmarks/pipelines.py              # 3 rounds, ~3 minutes
    .venv/bin/python benchmarks/pipelines.py --rounds 1

Prints a Markdown table and writes benchmarks/out/pipelines.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import CHURN_CSV, REPO, child_env, log, machine_info, markdown_table, write_json

EXAMPLE = REPO / "examples" / "pipelines" / "churn.yaml"
TARGET_RATIO = 0.05


def _run(home: Path, *params: str) -> tuple[float, str]:
    """Run the example once; the wall time of the command and the execution's id."""
    command = [sys.executable, "-m", "kiln", "--home", str(home), "pipelines", "run"]
    command += [str(EXAMPLE), "--quiet", "--json", *params]
    started = time.perf_counter()
    done = subprocess.run(command, env=child_env(), capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}")
    return elapsed, json.loads(done.stdout)["id"]


def _job_seconds(home: Path, execution_id: str) -> tuple[float, dict[str, int]]:
    import kiln

    with kiln.Workspace(home) as ws:
        execution = ws.pipelines.execution(execution_id)
        statuses: dict[str, int] = {}
        for step in execution.steps:
            statuses[step.status] = statuses.get(step.status, 0) + 1
        return execution.job.duration_seconds, statuses


def measure(size: str, params: list[str], rounds: int) -> dict:
    first_wall, cached_wall, first_job, cached_job = [], [], [], []
    for index in range(rounds):
        with tempfile.TemporaryDirectory(prefix="kiln-bench-pipelines-") as tmp:
            home = Path(tmp) / "ws"
            subprocess.run(
                [sys.executable, "-m", "kiln", "--home", str(home), "init"],
                env=child_env(),
                capture_output=True,
                check=True,
            )
            wall, first_id = _run(home, *params)
            job, statuses = _job_seconds(home, first_id)
            assert statuses == {"Completed": 12}, statuses
            first_wall.append(wall)
            first_job.append(job)
            wall, cached_id = _run(home, *params)
            job, statuses = _job_seconds(home, cached_id)
            assert statuses == {"Cached": 12}, statuses
            cached_wall.append(wall)
            cached_job.append(job)
            log(
                f"{size} round {index + 1}: first {first_wall[-1]:.2f} s (job "
                f"{first_job[-1]:.2f} s), cached {cached_wall[-1]:.2f} s (job "
                f"{cached_job[-1]:.2f} s)"
            )
    median = statistics.median
    return {
        "size": size,
        "rounds": rounds,
        "first_wall_s": median(first_wall),
        "cached_wall_s": median(cached_wall),
        "first_job_s": median(first_job),
        "cached_job_s": median(cached_job),
        "ratio_wall": median(cached_wall) / median(first_wall),
        "ratio_job": median(cached_job) / median(first_job),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    results = [
        measure("600 rows (the example)", [], args.rounds),
        measure("7,043 rows (telco CSV)", ["--param", f"raw={CHURN_CSV}"], args.rounds),
    ]
    rows = [
        [
            r["size"],
            f"{r['first_wall_s']:.2f} s",
            f"{r['cached_wall_s']:.2f} s",
            f"{100 * r['ratio_wall']:.1f} %",
            f"{r['first_job_s']:.2f} s",
            f"{r['cached_job_s']:.2f} s",
            f"{100 * r['ratio_job']:.1f} %",
        ]
        for r in results
    ]
    print(
        markdown_table(
            [
                "raw data",
                "first run",
                "cached re-run",
                "ratio",
                "first (job)",
                "cached (job)",
                "ratio (job)",
            ],
            rows,
        )
    )
    print(f"\nTarget: cached re-run ≤ {100 * TARGET_RATIO:.0f} % of the first run.")
    out = write_json("pipelines", {"results": results, "machine": machine_info()})
    log(f"wrote {out}")


if __name__ == "__main__":
    main()
