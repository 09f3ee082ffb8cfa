"""Tuning on Ray against the local executor, in one run: trials per second.

What it does: two fresh temporary workspaces with examples/churn/telco_churn.csv ingested as
``churn``; in each, the same tuning job (LightGBM, ``--max-jobs`` trials, 2 at once, random
search over ``n_estimators`` and ``learning_rate``, seed 42). The local executor runs each trial
in a new Python process; the Ray executor (a Ray started in this process with the machine's
CPUs, ``KILN_RAY_ADDRESS`` unset) runs the tuning job and each trial as Ray tasks, whose workers
are reused from trial to trial. Ray runs twice: cold (its start-up and its workers' imports
counted) and warm (a second tuning job on the same Ray).

    .venv/bin/python benchmarks/ray_tuning.py                 # 20 trials, about 3 minutes
    .venv/bin/python benchmarks/ray_tuning.py --max-jobs 6    # a smoke run

Prints a Markdown table and writes benchmarks/out/ray_tuning.json.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import _common
from _common import CHURN_CSV, TARGET, log, markdown_table

RANGES = ["n_estimators=20,200", "learning_rate=0.02:0.3:log"]


def tune_once(home: Path, executor: str, max_jobs: int) -> dict:
    import kiln

    ws = kiln.Workspace(home) if home.exists() else kiln.Workspace.init(home, executor=executor)
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
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--max-jobs", type=int, default=20)
    args = parser.parse_args()
    info = _common.machine_info()
    runs = []
    with tempfile.TemporaryDirectory(prefix="kiln-ray-tuning-") as temp:
        log(f"local executor: {args.max_jobs} trials")
        runs.append(tune_once(Path(temp) / "local", "local", args.max_jobs) | {"run": "local"})
        log(f"ray executor (cold): {args.max_jobs} trials")
        runs.append(tune_once(Path(temp) / "ray", "ray", args.max_jobs) | {"run": "ray, cold"})
        log(f"ray executor (warm): {args.max_jobs} trials")
        runs.append(tune_once(Path(temp) / "ray", "ray", args.max_jobs) | {"run": "ray, warm"})
        import ray

        ray.shutdown()
    local = runs[0]["trials_per_s"]
    rows = [
        [
            r["run"],
            f"{r['completed']}/{r['trials']}",
            r["seconds"],
            r["trials_per_s"],
            r["mean_trial_seconds"],
            f"{r['trials_per_s'] / local:.2f}",
        ]
        for r in runs
    ]
    print(
        markdown_table(
            ["run", "trials", "wall s", "trials/s", "mean trial s", "x local"],
            rows,
        )
    )
    path = _common.write_json("ray_tuning", {"machine": info, "runs": runs})
    log(f"wrote {path}")


if __name__ == "__main__":
    main()
