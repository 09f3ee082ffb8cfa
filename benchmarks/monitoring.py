"""Monitoring benchmark: kiln's data-quality and drift check against a plain NumPy/SciPy loop and
Evidently's data-drift preset, on 30 columns at 100,000 and 1,000,000 rows.

Targets (issue 13):

* a drift run at 1,000,000 rows within 2x the plain NumPy/SciPy floor, and at least 8x faster
  than Evidently's ``DataDriftPreset`` on the same data;
* precision and recall 1.0 on the planted columns at both sizes with the default thresholds, and
  no violation at all on a second independent draw with no drift;
* peak RSS of the 1,000,000-row run within 2x the two tables in memory.

Data (seeded, ``generate``): 30 columns. 20 numeric: four normal, four lognormal, three uniform,
four bimodal (two-normal mixtures), five integer counts (Poisson, negative binomial); 10
categorical with 2, 3, 5, 10, 20, 50, 100, 200, 500 and 1,000 categories (Zipf-like shares);
missing values in six columns (1-5 %). The reference is draw 1, the current draw 2 with the
planted drifts below, the no-drift current draw 3. The planted drifts, from subtle to plain:

======================  ===============================================================
column                  drift (what a user would want flagged)
======================  ===============================================================
``normal_0``            mean + 0.15 sd (subtle: KS 0.06 and PSI 0.02 miss it; W/sd 0.15)
``normal_1``            sd x 1.5 (same mean)
``lognormal_0``         prices up 35 % (log mean + 0.3)
``uniform_0``           range shifted by 10 % of its width
``bimodal_0``           mixture weights 50/50 -> 65/35
``count_0``             Poisson rate 2 -> 2.4 (+20 %)
``cat_5``               the rarest of 5 categories 10 % -> 25 % of rows
``cat_200``             the most frequent category's share doubled
``normal_2``            missing values 2 % -> 12 % (completeness)
======================  ===============================================================

Measured, each size:

* kiln: ``dataset_statistics(reference)`` + ``suggest_constraints`` + ``check_data_quality``
  against the drifted and the no-drift draws; timed in this process, alternating with the floor,
  median of ``--rounds`` runs.
* the floor: per numeric column ``scipy.stats.ks_2samp`` + a NumPy PSI on the reference's deciles;
  per categorical column ``value_counts`` of both + PSI on the category shares.
* peak memory (1 M rows): a child process imports kiln, loads the two tables from Parquet,
  records their size (``memory_usage(deep=True)``) and its RSS, resets its peak RSS (Linux
  ``/proc/self/clear_refs``), runs kiln once and reports the peak (``VmHWM``): the whole
  process's peak RSS during the run, interpreter, libraries and tables included, against the
  tables.
* noise: the largest value of each statistic on two no-drift draws of 400 to 10,000 rows.
* Evidently: ``Report([DataDriftPreset()]).run(current, reference)`` in its own venv, as a child
  process reading the same Parquet files; only the run is timed. Create the venv once:

      python -m venv benchmarks/out/evidently-venv
      benchmarks/out/evidently-venv/bin/pip install evidently "pandas<3" pyarrow

    .venv/bin/python benchmarks/monitoring.py                 # both sizes, ~5 min
    .venv/bin/python benchmarks/monitoring.py --sizes 100000  # ~1 min
    .venv/bin/python benchmarks/monitoring.py --skip-evidently

Prints Markdown tables and writes benchmarks/out/monitoring.json.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import _common
from _common import OUT_DIR, child_env, log, markdown_table

SPEED_FLOOR_LIMIT = 2.0
EVIDENTLY_SPEEDUP = 8.0
RSS_RATIO_LIMIT = 2.0
EVIDENTLY_PYTHON = OUT_DIR / "evidently-venv" / "bin" / "python"
DATA_DIR = OUT_DIR / "monitoring"

NUMERIC = (
    [f"normal_{i}" for i in range(4)]
    + [f"lognormal_{i}" for i in range(4)]
    + [f"uniform_{i}" for i in range(3)]
    + [f"bimodal_{i}" for i in range(4)]
    + [f"count_{i}" for i in range(5)]
)
CARDINALITIES = (2, 3, 5, 10, 20, 50, 100, 200, 500, 1000)
CATEGORICAL = [f"cat_{k}" for k in CARDINALITIES]
PLANTED = {
    "normal_0": "mean + 0.15 sd",
    "normal_1": "sd x 1.5",
    "lognormal_0": "log mean + 0.3 (values x 1.35)",
    "uniform_0": "range shifted by 10 % of its width",
    "bimodal_0": "mixture 50/50 -> 65/35",
    "count_0": "Poisson rate 2 -> 2.4",
    "cat_5": "rarest category 10 % -> 25 %",
    "cat_200": "top category's share doubled",
    "normal_2": "missing 2 % -> 12 %",
}
MISSING = {
    "normal_2": 0.02,
    "lognormal_1": 0.05,
    "uniform_1": 0.01,
    "count_1": 0.03,
    "cat_10": 0.02,
    "cat_500": 0.04,
}


def _zipf_shares(k: int, exponent: float = 1.1):
    import numpy as np

    shares = 1 / np.arange(1, k + 1) ** exponent
    return shares / shares.sum()


def generate(rows: int, seed: int, *, drift: bool = False):
    """One seeded draw of the 30 columns; ``drift=True`` plants the drifts of ``PLANTED``."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    d = 1.0 if drift else 0.0
    columns: dict[str, object] = {}
    for i in range(4):
        mean, sd = 10.0 * i, 1.0 + i
        shift = 0.15 * sd * d if i == 0 else 0.0
        scale = 1.5 if (i == 1 and drift) else 1.0
        columns[f"normal_{i}"] = rng.normal(mean + shift, sd * scale, rows)
    for i in range(4):
        columns[f"lognormal_{i}"] = rng.lognormal(
            3.0 + i + (0.3 * d if i == 0 else 0), 0.5 + 0.25 * i, rows
        )
    for i in range(3):
        low, width = -5.0 * i, 1.0 + 4 * i
        offset = 0.1 * width * d if i == 0 else 0.0
        columns[f"uniform_{i}"] = rng.uniform(low + offset, low + width + offset, rows)
    for i in range(4):
        weight = 0.65 if (i == 0 and drift) else 0.5
        first = rng.random(rows) < weight
        columns[f"bimodal_{i}"] = np.where(
            first, rng.normal(-2.0 - i, 1.0, rows), rng.normal(2.0 + i, 1.0, rows)
        )
    for i in range(5):
        if i < 3:
            rate = 2.0 * (1 + i) * (1.2 if (i == 0 and drift) else 1.0)
            columns[f"count_{i}"] = rng.poisson(rate, rows)
        else:
            columns[f"count_{i}"] = rng.negative_binomial(2 + i, 0.3, rows)
    for k in CARDINALITIES:
        shares = _zipf_shares(k)
        if drift and k == 5:
            shares = shares.copy()
            shares[-1] = 0.0
            shares = shares / shares.sum() * 0.75
            shares[-1] = 0.25
        if drift and k == 200:
            shares = shares.copy()
            top = shares[0]
            shares[1:] *= (1 - 2 * top) / shares[1:].sum()
            shares[0] = 2 * top
        codes = rng.choice(k, rows, p=shares)
        labels = np.array([f"{chr(97 + k % 26)}{j:04d}" for j in range(k)], dtype=object)
        columns[f"cat_{k}"] = labels[codes]
    frame = pd.DataFrame(columns)
    for name, share in MISSING.items():
        if drift and name == "normal_2":
            share = 0.12
        frame.loc[rng.random(rows) < share, name] = None
    return frame


# -- the floor: a plain NumPy/SciPy loop ---------------------------------------------------------
def _psi(reference, current) -> float:
    import numpy as np

    reference = np.maximum(reference, 1e-4)
    current = np.maximum(current, 1e-4)
    return float(np.sum((current - reference) * np.log(current / reference)))


def floor(reference, current) -> dict:
    """KS + PSI per numeric column, PSI on the shares per categorical column."""
    import numpy as np
    from scipy import stats

    out = {}
    for name in NUMERIC:
        a = reference[name].to_numpy(dtype=float)
        b = current[name].to_numpy(dtype=float)
        a, b = a[~np.isnan(a)], b[~np.isnan(b)]
        ks = stats.ks_2samp(a, b)
        edges = np.quantile(a, np.linspace(0.1, 0.9, 9))
        ref_share = np.bincount(np.searchsorted(edges, a), minlength=10) / a.size
        cur_share = np.bincount(np.searchsorted(edges, b), minlength=10) / b.size
        out[name] = (ks.statistic, ks.pvalue, _psi(ref_share, cur_share))
    for name in CATEGORICAL:
        ref = reference[name].value_counts(normalize=True)
        cur = current[name].value_counts(normalize=True).reindex(ref.index, fill_value=0.0)
        out[name] = (_psi(ref.to_numpy(), cur.to_numpy()),)
    return out


# -- kiln ----------------------------------------------------------------------------------------
def kiln_run(reference, *currents) -> list:
    from kiln.monitoring import check_data_quality, dataset_statistics, suggest_constraints

    baseline = dataset_statistics(reference)
    constraints = suggest_constraints(baseline)
    return [check_data_quality(baseline, constraints, current) for current in currents]


def flagged(result) -> set[str]:
    return {v["column"] for v in result.violations}


def precision_recall(found: set[str]) -> tuple[float, float]:
    planted = set(PLANTED)
    hits = len(found & planted)
    return (hits / len(found) if found else 1.0), hits / len(planted)


def _peak_rss() -> int:
    """The process's peak RSS since the last ``_reset_peak_rss`` (Linux: VmHWM), in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _reset_peak_rss() -> bool:
    """Resets the peak RSS to the current RSS (Linux: ``5`` to /proc/self/clear_refs), so that
    the peak is the run's, not the Parquet reader's; False where that cannot be done."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def _memory_child(reference_path: str, current_path: str) -> None:
    """Loads the two tables, runs kiln once, prints the tables' size and the RSS as JSON: after
    the imports, after loading, and the peak during the run."""
    import pandas as pd
    import psutil
    import pyarrow as pa

    import kiln.monitoring  # noqa: F401  (the libraries, before the tables)

    before = psutil.Process().memory_info().rss
    reference = pd.read_parquet(reference_path)
    current = pd.read_parquet(current_path)
    tables = int(reference.memory_usage(deep=True).sum() + current.memory_usage(deep=True).sum())
    pa.default_memory_pool().release_unused()  # what reading the Parquet files left behind
    loaded = psutil.Process().memory_info().rss
    reset = _reset_peak_rss()
    started = time.perf_counter()
    (result,) = kiln_run(reference, current)
    seconds = time.perf_counter() - started
    print(
        json.dumps(
            {
                "table_bytes": tables,
                "rss_before_load": before,
                "rss_after_load": loaded,
                "peak_rss": _peak_rss(),
                "peak_is_the_runs": reset,
                "seconds": seconds,
                "violations": len(result.violations),
            }
        )
    )


def _evidently_child(reference_path: str, current_path: str) -> None:
    """Evidently's data-drift preset on the two tables (run with the Evidently venv's python)."""
    import pandas as pd
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    definition = DataDefinition(numerical_columns=NUMERIC, categorical_columns=CATEGORICAL)
    reference = Dataset.from_pandas(pd.read_parquet(reference_path), data_definition=definition)
    current = Dataset.from_pandas(pd.read_parquet(current_path), data_definition=definition)
    started = time.perf_counter()
    snapshot = Report([DataDriftPreset()]).run(current, reference)
    seconds = time.perf_counter() - started
    drifted = []
    for metric in snapshot.dict().get("metrics", []):
        name = str(metric.get("metric_name", "")) + str(metric.get("config", {}))
        value = metric.get("value")
        if "ValueDrift" in name and isinstance(value, int | float):
            column = metric.get("config", {}).get("column")
            threshold = metric.get("config", {}).get("threshold") or 0.1
            if column and value >= threshold:
                drifted.append(column)
    print(json.dumps({"seconds": seconds, "drifted": sorted(set(drifted))}))


def _child(mode: str, python: str | Path, *paths: Path) -> dict:
    output = subprocess.run(
        [str(python), __file__, mode, *map(str, paths)],
        capture_output=True,
        text=True,
        env=child_env(),
        check=False,
    )
    if output.returncode != 0:
        raise RuntimeError(f"{mode} failed:\n{output.stderr[-3000:]}")
    return json.loads(output.stdout.strip().splitlines()[-1])


def run_size(rows: int, rounds: int, evidently: bool) -> dict:
    import pandas as pd

    log(f"{rows:,} rows: generating")
    reference = generate(rows, 1)
    current = generate(rows, 2, drift=True)
    same = generate(rows, 3)
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, frame in (("reference", reference), ("current", current), ("same", same)):
        paths[name] = DATA_DIR / f"{name}-{rows}.parquet"
        frame.to_parquet(paths[name])
    # The tables as the monitor sees them: read back from Parquet (text columns as pandas reads
    # them), the same for every contender.
    reference, current, same = (pd.read_parquet(paths[n]) for n in ("reference", "current", "same"))

    floor_s, kiln_s = [], []
    results = None
    for round_ in range(rounds):
        log(f"{rows:,} rows: round {round_ + 1}/{rounds}")
        started = time.perf_counter()
        floor(reference, current)
        floor_s.append(time.perf_counter() - started)
        started = time.perf_counter()
        results = kiln_run(reference, current)
        kiln_s.append(time.perf_counter() - started)
    (drifted,) = results
    (no_drift,) = kiln_run(reference, same)
    precision, recall = precision_recall(flagged(drifted))
    out: dict = {
        "rows": rows,
        "floor_s": statistics.median(floor_s),
        "kiln_s": statistics.median(kiln_s),
        "floor_runs_s": floor_s,
        "kiln_runs_s": kiln_s,
        "flagged": sorted(flagged(drifted)),
        "precision": precision,
        "recall": recall,
        "violations_no_drift": [
            {k: v[k] for k in ("column", "check", "observed")} for v in no_drift.violations
        ],
        "drift_table": [
            {k: d[k] for k in ("column", "statistic", "value", "drifted")} for d in drifted.drift
        ],
        "max_no_drift": _max_by_statistic(no_drift.drift),
    }
    out["ratio_to_floor"] = out["kiln_s"] / out["floor_s"]
    if rows >= 1_000_000:
        log(f"{rows:,} rows: peak memory in a child process")
        out["memory"] = _child("_memory", sys.executable, paths["reference"], paths["current"])
        memory = out["memory"]
        memory["ratio"] = memory["peak_rss"] / memory["table_bytes"]
        memory["run_bytes"] = memory["peak_rss"] - memory["rss_after_load"]
    if evidently:
        if not EVIDENTLY_PYTHON.exists():
            out["evidently"] = {"error": f"no venv at {EVIDENTLY_PYTHON} (see the docstring)"}
        else:
            log(f"{rows:,} rows: Evidently")
            result = _child("_evidently", EVIDENTLY_PYTHON, paths["reference"], paths["current"])
            result["precision"], result["recall"] = precision_recall(set(result["drifted"]))
            result["speedup"] = result["seconds"] / out["kiln_s"]
            out["evidently"] = result
    return out


def _max_by_statistic(drift: list[dict]) -> dict[str, float]:
    """The largest value of each statistic over the columns (how close noise comes)."""
    top: dict[str, float] = {}
    for row in drift:
        top[row["statistic"]] = max(top.get(row["statistic"], 0.0), row["value"])
    return top


def noise(sizes: list[int]) -> list[dict]:
    """The largest value of each statistic, and the violations, on two draws of the same
    distribution at small sizes: how close chance alone comes to the default thresholds."""
    rows = []
    for size in sizes:
        (result,) = kiln_run(generate(size, 1), generate(size, 3))
        rows.append(
            {
                "rows": size,
                "max": _max_by_statistic(result.drift),
                "violations": [(v["column"], v["check"]) for v in result.violations],
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--skip-evidently", action="store_true")
    parser.add_argument("--noise-sizes", default="400,1000,2000,5000,10000")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    runs = [run_size(rows, args.rounds, not args.skip_evidently) for rows in sizes]
    small = noise([int(s) for s in args.noise_sizes.split(",") if s])

    rows = []
    for run in runs:
        evidently = run.get("evidently", {})
        rows.append(
            [
                f"{run['rows']:,}",
                run["kiln_s"],
                run["floor_s"],
                run["ratio_to_floor"],
                evidently.get("seconds", "—"),
                evidently.get("speedup", "—"),
                run["precision"],
                run["recall"],
                len(run["violations_no_drift"]),
            ]
        )
    print(
        markdown_table(
            [
                "rows",
                "kiln s",
                "floor s",
                "kiln / floor",
                "Evidently s",
                "Evidently / kiln",
                "precision",
                "recall",
                "violations, no drift",
            ],
            rows,
        )
    )
    for run in runs:
        if "memory" in run:
            memory = run["memory"]
            print(
                f"\n{run['rows']:,} rows: two tables {memory['table_bytes'] / 1e6:,.0f} MB in "
                f"memory; RSS {memory['rss_before_load'] / 1e6:,.0f} MB after the imports, "
                f"{memory['rss_after_load'] / 1e6:,.0f} MB with the tables, peak during the run "
                f"{memory['peak_rss'] / 1e6:,.0f} MB = {memory['ratio']:.2f}x the tables "
                f"(the run's own {memory['run_bytes'] / 1e6:,.0f} MB = "
                f"{memory['run_bytes'] / memory['table_bytes']:.2f}x)"
            )
        if "evidently" in run and "drifted" in run["evidently"]:
            print(f"{run['rows']:,} rows: Evidently flags {run['evidently']['drifted']}")
        print(f"{run['rows']:,} rows: kiln flags {run['flagged']}")
        print(f"{run['rows']:,} rows: largest statistic with no drift {run['max_no_drift']}")
    statistic_names = ["ks", "wasserstein", "psi", "linf", "jensen_shannon", "chi_square"]
    print("\nNo drift, small samples: the largest value of each statistic over the 30 columns")
    print(
        markdown_table(
            ["rows", *statistic_names, "violations"],
            [
                [
                    f"{n['rows']:,}",
                    *(n["max"].get(k, 0.0) for k in statistic_names),
                    "; ".join(f"{c} {k}" for c, k in n["violations"]) or "0",
                ]
                for n in small
            ],
        )
    )
    path = _common.write_json(
        "monitoring",
        {"machine": _common.machine_info(), "planted": PLANTED, "runs": runs, "noise": small},
    )
    log(f"wrote {path}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_memory":
        _memory_child(*sys.argv[2:4])
    elif len(sys.argv) > 1 and sys.argv[1] == "_evidently":
        _evidently_child(*sys.argv[2:4])
    else:
        main()
