"""Tuning on Ray against the local executor, in one run: trials per second.

What it does: two fresh temporary workspaces with examples/churn/telco_churn.csv ingested as
``churn``; in each, the same tuning job (LightGBM, ``--max-jobs`` trials, 2 at once, random
search over ``n_estimators`` and ``learning_rate``, seed 42). The local executor runs each trial
in a new Python process; the Ray executor (a Ray started in this process with the machine's
CPUs, ``KILN_RAY_ADDRESS`` unset) runs the tuning job and each trial as Ray tasks, whose workers
are reused from trial to trial. The executors alternate for ``--rounds`` rounds (the machine's
load changes during a run); Ray's first round counts its start-up and its workers' imports.

    .venv/bin/python benchmarks/ray_tuning.py                 # 20 trials, 2 rounds, ~10 minutes
    .venv/bin/python benchmarks/ray_tuning.py --max-jobs 4 --rounds 1   # a smoke run

Prints a Markdown table and writes benchmarks/out/ray_tuning.json.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import _common
from _common import CHURN_CSV, TARGET, log, markdown_table

RANGES = ["n_estimators=20,200", "learning_rate=0.02:0.3:log"]


def tune_once(home: Path, executor: str, max_jobs: int) -> dict:
    import kiln

    ws = kiln.Workspace.init(home, executor=executor)  # opens it when it exists
    if not ws.data.list():
        ws.data.ingest(CHURN_CSV, name="churn")
    started = time.perf_counter()
    result = ws.tune(
        "churn",
        target=TARGET,
        algorithm="lightgbm",
        strategy="random",
        max_jobs=max_jobs,
        max_parallel_jobs=2,
        ranges=RANGES,
        seed=42,
    )
    seconds = time.perf_counter() - started
    trials = ws.jobs.list(parent_id=result.job.id, limit=None)
    # The local executor starts a process per trial; Ray reuses its workers.
    processes = len({t.pid for t in trials})
    completed = sum(t.status == "Completed" for t in trials)
    trial_seconds = [t.duration_seconds for t in trials if t.duration_seconds is not None]
    ws.close()
    return {
        "executor": executor,
        "seconds": round(seconds, 2),
        "trials": len(trials),
        "completed": completed,
        "trials_per_s": round(completed / seconds, 3),
        "mean_trial_seconds": round(sum(trial_seconds) / max(len(trial_seconds), 1), 2),
        "processes": processes,
    }


def main() -> None:
    import statistics

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--max-jobs", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=2, help="local and Ray runs, alternating")
    args = parser.parse_args()
    info = _common.machine_info()
    runs = []
    with tempfile.TemporaryDirectory(prefix="kiln-ray-tuning-") as temp:
        for round_ in range(1, args.rounds + 1):
            for executor in ("local", "ray"):
                log(f"round {round_}, {executor} executor: {args.max_jobs} trials")
                home = Path(temp) / executor
                run = tune_once(home, executor, args.max_jobs)
                label = f"{executor}, round {round_}"
                if executor == "ray" and round_ == 1:
                    label += " (Ray's start-up and its workers' imports counted)"
                runs.append(run | {"run": label, "round": round_})
        import ray

        ray.shutdown()
    median = {
        executor: statistics.median(r["trials_per_s"] for r in runs if r["executor"] == executor)
        for executor in ("local", "ray")
    }
    rows = [
        [
            r["run"],
            f"{r['completed']}/{r['trials']}",
            r["seconds"],
            r["trials_per_s"],
            r["mean_trial_seconds"],
            r["processes"],
        ]
        for r in runs
    ]
    headers = ["run", "trials", "wall s", "trials/s", "mean trial s", "trial processes"]
    print(markdown_table(headers, rows))
    ratio = median["ray"] / median["local"]
    print(
        f"\nMedian trials/s: local {median['local']:.3f}, Ray {median['ray']:.3f}; "
        f"Ray / local {ratio:.2f}"
    )
    print(f"Load average at the end: {os.getloadavg()}")
    path = _common.write_json(
        "ray_tuning", {"machine": info, "runs": runs, "median": median, "ratio": ratio}
    )
    log(f"wrote {path}")


if __name__ == "__main__":
    main()
