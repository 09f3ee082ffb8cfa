"""Pipeline caching benchmark: the example pipeline's first run against a fully cached re-run.

Target (issue 14): a cached re-run of the example pipeline within 5 % of the first run's time.

Runs, each round in a fresh temporary workspace, each command in its own process as a user runs
it (``python -m kiln --home WS pipelines run examples/pipelines/churn.yaml --quiet``):

* first run: every step runs (ingest, profile, split, processing, training job, evaluate, gates,
  approval, canary deployment, baseline, monitor);
* cached re-run: the same command again; every step comes from the cache.

Two sizes of raw data: the example's own 600 rows (``churn_sample.csv``) and the whole telco CSV
(7,043 rows, ``--param raw=...``). Each pair of runs is timed two ways, each in a fresh workspace:
the command end to end (Python start-up and the CLI's imports included), and the SDK call
``ws.pipelines.run(...)`` in this process (as from a notebook). A fully cached execution finishes
in the calling process (no job process), so its time is the cache look-ups and the records.

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


def _statuses(execution) -> dict[str, int]:
    statuses: dict[str, int] = {}
    for step in execution.steps:
        statuses[step.status] = statuses.get(step.status, 0) + 1
    return statuses


def _fresh_workspace(tmp: str) -> Path:
    home = Path(tmp) / "ws"
    subprocess.run(
        [sys.executable, "-m", "kiln", "--home", str(home), "init"],
        env=child_env(),
        capture_output=True,
        check=True,
    )
    return home


def measure(size: str, params: list[str], rounds: int) -> dict:
    import kiln

    values = dict(p.split("=", 1) for p in params[1::2])
    kinds = ("cli_first", "cli_cached", "sdk_first", "sdk_cached")
    times: dict[str, list[float]] = {k: [] for k in kinds}
    for index in range(rounds):
        with tempfile.TemporaryDirectory(prefix="kiln-bench-pipelines-") as tmp:
            home = _fresh_workspace(tmp)
            for kind in ("first", "cached"):
                wall, execution_id = _run(home, *params)
                with kiln.Workspace(home) as ws:
                    statuses = _statuses(ws.pipelines.execution(execution_id))
                expected = {"Completed": 12} if kind == "first" else {"Cached": 12}
                assert statuses == expected, statuses
                times[f"cli_{kind}"].append(wall)
        with (
            tempfile.TemporaryDirectory(prefix="kiln-bench-pipelines-") as tmp,
            kiln.Workspace(_fresh_workspace(tmp)) as ws,
        ):
            for kind in ("first", "cached"):
                started = time.perf_counter()
                execution = ws.pipelines.run(EXAMPLE, params=values)
                times[f"sdk_{kind}"].append(time.perf_counter() - started)
                expected = {"Completed": 12} if kind == "first" else {"Cached": 12}
                assert _statuses(execution) == expected, _statuses(execution)
        log(
            f"{size} round {index + 1}: "
            + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in times.items())
        )
    median = {k: statistics.median(v) for k, v in times.items()}
    return {
        "size": size,
        "rounds": rounds,
        **{f"{k}_s": v for k, v in median.items()},
        "ratio_cli": median["cli_cached"] / median["cli_first"],
        "ratio_sdk": median["sdk_cached"] / median["sdk_first"],
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
            f"{r['cli_first_s']:.2f} s",
            f"{r['cli_cached_s']:.2f} s",
            f"{100 * r['ratio_cli']:.1f} %",
            f"{r['sdk_first_s']:.2f} s",
            f"{r['sdk_cached_s']:.3f} s",
            f"{100 * r['ratio_sdk']:.1f} %",
        ]
        for r in results
    ]
    headers = ["raw data", "CLI first", "CLI cached", "ratio", "SDK first", "SDK cached", "ratio"]
    print(markdown_table(headers, rows))
    print(f"\nTarget: cached re-run ≤ {100 * TARGET_RATIO:.0f} % of the first run.")
    out = write_json("pipelines", {"results": results, "machine": machine_info()})
    log(f"wrote {out}")


if __name__ == "__main__":
    main()
