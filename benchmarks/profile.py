"""Profiling benchmark: ``kiln data profile`` at 1,000,000 × 30 and against ydata-profiling.

Targets:

* 1,000,000 rows × 30 columns profiled (with a target, so the quick model runs) in under 20 s,
  with the peak RSS of the kiln process under 2× the size of the table loaded in pandas;
* at least 10× faster than ydata-profiling's full report at 100,000 rows;
* the HTML report under 5 MB (5,000,000 bytes).

Data (seeded, built from real data): the rows of examples/churn/telco_churn.csv (7,043 rows,
20 columns) resampled with replacement to N rows, with small numeric jitter (tenure ± 1 month,
monthly and total charges × N(1, 0.02)), plus ten extra numeric columns to reach 30:
``customer_id`` (a unique integer), ``charges_per_month_of_tenure`` (total / (tenure + 1)),
``log_total_charges``, ``tenure_years`` (tenure / 12), ``monthly_charges_sq``, ``services`` (how
many of the six add-on services are "Yes"), and four synthetic ones: ``support_calls`` ~
Poisson(1.5), ``data_gb`` ~ lognormal(2, 1), ``satisfaction`` ~ N(7, 1.5) rounded, ``region_code``
uniform on 0..49. The table is ingested into a fresh temporary workspace (so kiln profiles its
Parquet data set version, as a user would) and also written as CSV for ydata-profiling.

Runs, each in its own process:

* kiln: ``python -m kiln --home WS data profile NAME --target churn --json --refresh``, timed end to
  end (CLI start-up, imports, statistics, sample, plots, quick model, writing the report);
  psutil polls the RSS of the process every 50 ms.
* table size: ``ws.data.load(NAME).memory_usage(deep=True).sum()`` — the table as pandas holds it.
* ydata-profiling (a separate venv, since it needs pandas < 3): ``ProfileReport(df).to_file()``
  on the same rows read from CSV; the time covers profiling and writing the report, not reading
  the CSV or importing the library. Full report at 100,000 rows; ``minimal=True`` at 1,000,000
  rows unless ``--skip-ydata-minimal``.
* reference: pandas ``describe()`` + ``isna().sum()`` + ``corr()`` in process, at 100,000 rows.

    .venv/bin/python benchmarks/profile.py                       # ~4-6 minutes
    .venv/bin/python benchmarks/profile.py --skip-ydata-minimal   # ~2-3 minutes
    .venv/bin/python benchmarks/profile.py --ydata-python /path/to/venv/bin/python

Create the ydata-profiling venv once (kiln itself never imports it):

    python3 -m venv /tmp/ydata-venv && /tmp/ydata-venv/bin/pip install ydata-profiling

Prints Markdown tables and writes benchmarks/out/profile.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# _common sets OMP_WAIT_POLICY=PASSIVE; numpy and pandas are imported inside functions.
import _common
from _common import CHURN_CSV, RssPoller, child_env, log, markdown_table

TIME_LIMIT_S = 20.0
RSS_RATIO_LIMIT = 2.0
SPEEDUP_TARGET = 10.0
REPORT_LIMIT_BYTES = 5_000_000
SERVICES = (
    "online_security",
    "online_backup",
    "device_protection",
    "tech_support",
    "streaming_tv",
    "streaming_movies",
)

YDATA_SCRIPT = """
import sys, time, warnings
warnings.filterwarnings("ignore")
import pandas as pd
from ydata_profiling import ProfileReport
frame = pd.read_csv(sys.argv[1])
started = time.perf_counter()
report = ProfileReport(
    frame, title="benchmark", minimal=sys.argv[3] == "minimal", progress_bar=False
)
report.to_file(sys.argv[2])
print(time.perf_counter() - started)
"""


# Both scripts import their libraries before the clock starts, as ydata_profiling's import
# loads its stack (scipy, matplotlib, ...): kiln.profile imports LightGBM and scikit-learn
# (about 1.2 s, for the quick model) only when it first needs them, so they are imported here.
KILN_SCRIPT = """
import sys, time
import pandas as pd
import lightgbm, sklearn.model_selection
from kiln.profile import profile
frame = pd.read_csv(sys.argv[1])
started = time.perf_counter()
profile(frame, target="churn").write_html(sys.argv[2])
print(time.perf_counter() - started)
"""


def make_frame(rows: int, seed: int = 0):
    """The benchmark table: churn rows resampled with jitter, plus ten numeric columns (30)."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    base = pd.read_csv(CHURN_CSV)
    frame = base.iloc[rng.integers(0, len(base), rows)].reset_index(drop=True)
    frame["tenure"] = (frame["tenure"] + rng.integers(-1, 2, rows)).clip(0)
    frame["monthly_charges"] = (frame["monthly_charges"] * rng.normal(1, 0.02, rows)).round(2)
    frame["total_charges"] = (frame["total_charges"] * rng.normal(1, 0.02, rows)).round(2)
    frame["customer_id"] = np.arange(rows) + 100_000
    frame["charges_per_month_of_tenure"] = frame["total_charges"] / (frame["tenure"] + 1)
    frame["log_total_charges"] = np.log1p(frame["total_charges"])
    frame["tenure_years"] = frame["tenure"] / 12
    frame["monthly_charges_sq"] = frame["monthly_charges"] ** 2
    frame["services"] = (frame[list(SERVICES)] == "Yes").sum(axis=1)
    frame["support_calls"] = rng.poisson(1.5, rows)
    frame["data_gb"] = rng.lognormal(2, 1, rows).round(3)
    frame["satisfaction"] = rng.normal(7, 1.5, rows).round(1)
    frame["region_code"] = rng.integers(0, 50, rows)
    assert frame.shape[1] == 30
    return frame


def run_kiln(home: Path, name: str, out: Path) -> dict:
    command = [
        sys.executable,
        "-m",
        "kiln",
        "--home",
        str(home),
        "data",
        "profile",
        name,
        "--target",
        "churn",
        "--out",
        str(out),
        "--refresh",
        "--json",
    ]
    started = time.perf_counter()
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=child_env()
    )
    with RssPoller(process.pid) as poller:
        stdout, stderr = process.communicate(timeout=600)
    seconds = time.perf_counter() - started
    if process.returncode != 0:
        raise RuntimeError(stderr.decode()[-3000:])
    facts = json.loads(stdout)
    return {
        "seconds": seconds,
        "profile_seconds": facts["seconds"],
        "timings": facts["timings"],
        "peak_rss_bytes": poller.peak_tree_bytes,
        "report_bytes": out.stat().st_size,
        "warnings": [w["kind"] for w in facts["warnings"]],
        "quick_model": facts["quick_model"].get("metrics"),
        "sample_rows": facts["sample"]["rows"],
    }


def run_in_process(python: str, script: str, csv: Path, out: Path, *extra: str) -> dict:
    """``script`` in a fresh ``python``: reads the CSV (untimed), then times the profile and
    the written report; also the process's whole wall time (imports and CSV parsing included)."""
    started = time.perf_counter()
    result = subprocess.run(
        [python, "-c", script, str(csv), str(out), *extra],
        capture_output=True,
        text=True,
        env=child_env(),
        timeout=3600,
    )
    wall = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(result.stderr[-3000:])
    return {
        "seconds": float(result.stdout.strip().splitlines()[-1]),
        "process_seconds": wall,
        "report_bytes": out.stat().st_size,
    }


def pandas_summary_seconds(frame) -> float:
    started = time.perf_counter()
    frame.describe(include="all")
    frame.isna().sum()
    frame.select_dtypes("number").corr()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--compare-rows", type=int, default=100_000)
    parser.add_argument(
        "--ydata-python",
        default=os.environ.get("KILN_YDATA_PYTHON", "/tmp/ydata-venv/bin/python"),
        help="Python of a venv with ydata-profiling (default: $KILN_YDATA_PYTHON or "
        "/tmp/ydata-venv/bin/python).",
    )
    parser.add_argument("--skip-ydata", action="store_true", help="Measure kiln only.")
    parser.add_argument("--skip-ydata-minimal", action="store_true")
    args = parser.parse_args()

    import kiln

    info = _common.machine_info()
    results: dict = {"machine": info, "args": vars(args)}
    with tempfile.TemporaryDirectory(prefix="kiln-profile-bench-") as tmp:
        tmp_path = Path(tmp)
        ws = kiln.Workspace.init(tmp_path / "ws")
        tables = {}
        for label, rows in (("big", args.rows), ("compare", args.compare_rows)):
            log(f"building and ingesting {rows:,} rows × 30 columns")
            frame = make_frame(rows)
            csv = tmp_path / f"{label}.csv"
            frame.to_csv(csv, index=False)
            ws.data.ingest(frame, name=label)
            loaded = ws.data.load(label)
            tables[label] = {
                "rows": rows,
                "csv": csv,
                "memory_bytes": int(loaded.memory_usage(deep=True).sum()),
                "pandas_summary_seconds": pandas_summary_seconds(loaded),
            }
            del frame, loaded
        ws.close()

        log("kiln at 1M rows")
        big = run_kiln(tmp_path / "ws", "big", tmp_path / "big.html")
        log(f"  {big['seconds']:.1f} s, peak RSS {big['peak_rss_bytes'] / 1e6:.0f} MB")
        log("kiln at 100k rows")
        small = run_kiln(tmp_path / "ws", "compare", tmp_path / "compare.html")
        log(f"  {small['seconds']:.1f} s")
        results["kiln"] = {"big": big, "compare": small}
        results["tables"] = {
            k: {kk: vv for kk, vv in v.items() if kk != "csv"} for k, v in tables.items()
        }

        log("kiln at 100k rows, in-process (the same harness as ydata-profiling)")
        small_in_process = run_in_process(
            sys.executable, KILN_SCRIPT, tables["compare"]["csv"], tmp_path / "k.html"
        )
        log(f"  {small_in_process['seconds']:.1f} s")
        results["kiln"]["compare_in_process"] = small_in_process
        ydata: dict = {}
        if not args.skip_ydata:
            log("ydata-profiling full report at 100k rows")
            ydata["full_compare"] = run_in_process(
                args.ydata_python,
                YDATA_SCRIPT,
                tables["compare"]["csv"],
                tmp_path / "y.html",
                "full",
            )
            log(f"  {ydata['full_compare']['seconds']:.1f} s")
            if not args.skip_ydata_minimal:
                log("ydata-profiling minimal report at 1M rows")
                ydata["minimal_big"] = run_in_process(
                    args.ydata_python,
                    YDATA_SCRIPT,
                    tables["big"]["csv"],
                    tmp_path / "ym.html",
                    "minimal",
                )
                log(f"  {ydata['minimal_big']['seconds']:.1f} s")
        results["ydata"] = ydata

    memory = tables["big"]["memory_bytes"]
    rss_ratio = big["peak_rss_bytes"] / memory
    rows = [
        [
            f"kiln, {args.rows:,} × 30 (target churn)",
            big["seconds"],
            f"{big['peak_rss_bytes'] / 1e6:,.0f} MB",
            f"{big['report_bytes'] / 1e6:.2f} MB",
        ],
        [
            f"kiln, {args.compare_rows:,} × 30",
            small["seconds"],
            "",
            f"{small['report_bytes'] / 1e6:.2f} MB",
        ],
    ]
    rows.append(
        [
            f"kiln in-process (profile + report), {args.compare_rows:,} × 30",
            small_in_process["seconds"],
            "",
            f"{small_in_process['report_bytes'] / 1e6:.2f} MB",
        ]
    )
    if "full_compare" in ydata:
        y = ydata["full_compare"]
        rows.append(
            [
                f"ydata-profiling full in-process (profile + report), {args.compare_rows:,} × 30",
                y["seconds"],
                "",
                f"{y['report_bytes'] / 1e6:.2f} MB",
            ]
        )
        rows.append(
            [
                f"ydata-profiling full, whole process (imports, CSV), {args.compare_rows:,} × 30",
                y["process_seconds"],
                "",
                "",
            ]
        )
    if "minimal_big" in ydata:
        y = ydata["minimal_big"]
        rows.append(
            [
                f"ydata-profiling minimal, {args.rows:,} × 30",
                y["seconds"],
                "",
                f"{y['report_bytes'] / 1e6:.2f} MB",
            ]
        )
    rows.append(
        [
            f"reference: pandas describe + isna + corr, {args.compare_rows:,} × 30",
            tables["compare"]["pandas_summary_seconds"],
            "",
            "",
        ]
    )
    print(markdown_table(["run", "seconds", "peak RSS", "report"], rows))
    print()
    checks = [
        [
            f"{args.rows:,} × 30 in < {TIME_LIMIT_S:.0f} s",
            f"{big['seconds']:.1f} s",
            big["seconds"] < TIME_LIMIT_S,
        ],
        [
            f"peak RSS < {RSS_RATIO_LIMIT:.0f}× the table in pandas ({memory / 1e6:,.0f} MB)",
            f"{rss_ratio:.2f}×",
            rss_ratio < RSS_RATIO_LIMIT,
        ],
        [
            f"report < {REPORT_LIMIT_BYTES / 1e6:.0f} MB",
            f"{big['report_bytes']:,} bytes",
            big["report_bytes"] < REPORT_LIMIT_BYTES,
        ],
    ]
    if "full_compare" in ydata:
        speedup = ydata["full_compare"]["seconds"] / small_in_process["seconds"]
        checks.append(
            [
                f"≥ {SPEEDUP_TARGET:.0f}× faster than ydata full at {args.compare_rows:,} rows "
                "(profile + report, same harness)",
                f"{speedup:.1f}×",
                speedup >= SPEEDUP_TARGET,
            ]
        )
        end_to_end = ydata["full_compare"]["process_seconds"] / small["seconds"]
        checks.append(
            [
                "the same, whole processes (kiln CLI vs a ydata script, imports included)",
                f"{end_to_end:.1f}×",
                "—",
            ]
        )
        results["speedup_vs_ydata_full"] = speedup
        results["speedup_vs_ydata_full_end_to_end"] = end_to_end
    results["rss_ratio"] = rss_ratio
    results["checks"] = {c[0]: {"result": c[1], "met": c[2]} for c in checks}
    print(markdown_table(["target", "result", "met"], checks))
    print()
    print("kiln stage timings at 1M rows (s):", json.dumps(big["timings"]))
    path = _common.write_json("profile", results)
    log(f"wrote {path}")


if __name__ == "__main__":
    main()
