"""AutoML's time limit and memory on a busy machine: ``kiln.AutoML`` at a time limit while other
processes keep every core busy.

Each run is a fresh process. ``--burners N`` processes spin on the CPUs (one per CPU, pinned) for
the whole run, so AutoML's job and its fit workers get about half of each core. Recorded per run:
the wall clock of ``fit()`` against the limit (the target: within +10 %), the job's own peak
resident memory and its largest fit worker's (``peak_memory_mb`` in the job's result; the target:
1 GB up to 100,000 rows × 50 columns), the trials that ran and the out-of-fold score.

    .venv/bin/python benchmarks/automl_busy.py                      # all cases, ~4 minutes
    .venv/bin/python benchmarks/automl_busy.py --cpus 0 --cases wide_100k:60 --burners 0

The ``wide_100k`` table is generated (scikit-learn's ``make_classification``: 100,000 rows,
45 numeric columns of which 15 informative, and 4 categorical columns of 12 values, seeded),
since no installed package ships a real table of that size; the others are the repository's
real data sets.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CASES = ("telco_churn:30", "telco_churn:60", "housing_prices:30", "wide_100k:60")


def load(name: str):
    """(frame, target) of a case's data set."""
    import numpy as np
    import pandas as pd

    if name == "telco_churn":
        return pd.read_csv(ROOT / "examples/churn/telco_churn.csv"), "churn"
    if name == "housing_prices":
        return pd.read_csv(HERE / "data/housing_prices.csv"), "price"
    if name == "wide_100k":
        from sklearn.datasets import make_classification

        X, y = make_classification(100_000, 45, n_informative=15, random_state=0)
        frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(45)]).astype("float32")
        rng = np.random.default_rng(0)
        for j in range(4):
            frame[f"c{j}"] = rng.choice([f"v{k}" for k in range(12)], len(frame))
        frame["y"] = np.where(y == 1, "yes", "no")
        return frame, "y"
    raise SystemExit(f"unknown data set {name!r}")


def run_one(name: str, limit: float) -> dict:
    import tempfile

    os.environ["KILN_HOME"] = tempfile.mkdtemp(prefix="kiln-busy-")
    from kiln import AutoML

    frame, target = load(name)
    started = time.perf_counter()
    automl = AutoML(target=target, time_limit=limit).fit(frame)
    seconds = time.perf_counter() - started
    result = automl.result.job.result
    return {
        "dataset": name,
        "rows": len(frame),
        "columns": frame.shape[1],
        "limit": limit,
        "fit_seconds": round(seconds, 2),
        "over_limit": round(seconds / limit - 1, 4),
        "peak_memory_mb": result["peak_memory_mb"],
        "trials": result["trials"],
        "metric": result["metric"],
        "score": result["score"],
    }


def burners(count: int, cpus: list[int]) -> list[subprocess.Popen]:
    spin = "while True: pass"
    return [
        subprocess.Popen(["taskset", "-c", str(cpus[i % len(cpus)]), sys.executable, "-c", spin])
        for i in range(count)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", default=",".join(CASES), help="DATASET:LIMIT,...")
    parser.add_argument("--cpus", default=",".join(map(str, sorted(os.sched_getaffinity(0)))))
    parser.add_argument("--burners", type=int, help="spinning processes (default: one per CPU)")
    parser.add_argument("--run", nargs=2, metavar=("DATASET", "LIMIT"))
    parser.add_argument("--out", type=Path, default=HERE / "out/automl_busy.jsonl")
    args = parser.parse_args()
    if args.run:
        print(json.dumps(run_one(args.run[0], float(args.run[1]))))
        return
    args.out.parent.mkdir(parents=True, exist_ok=True)
    cpus = [int(c) for c in args.cpus.split(",")]
    if args.burners is None:
        args.burners = len(cpus)
    print("| data set | rows × columns | limit | burners | fit s | over the limit | job peak MB "
          "| worker peak MB | trials |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|")
    for case in args.cases.split(","):
        name, limit = case.split(":")
        spinning = burners(args.burners, cpus)
        try:
            done = subprocess.run(
                ["taskset", "-c", args.cpus, sys.executable, __file__, "--run", name, limit],
                capture_output=True,
                text=True,
                env={**os.environ, "PYTHONWARNINGS": "ignore"},
            )
        finally:
            for process in spinning:
                process.kill()
        lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
        if done.returncode or not lines:
            print(f"| {name} | failed: {done.stderr[-300:]!r} |")
            continue
        row = json.loads(lines[-1]) | {"burners": args.burners, "cpus": args.cpus}
        with args.out.open("a") as handle:
            handle.write(json.dumps(row) + "\n")
        peak = row["peak_memory_mb"]
        print(
            f"| {name} | {row['rows']:,} × {row['columns']} | {row['limit']:g} s "
            f"| {args.burners} | {row['fit_seconds']:.1f} | {row['over_limit']:+.1%} "
            f"| {peak['job']:.0f} | {peak['workers']:.0f} | {row['trials']} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
