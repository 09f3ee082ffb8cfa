"""Batch transform benchmark: ``kiln transform`` on 1,000,000 rows against in-process chunked
``predict_proba``.

Target: kiln's batch transform of 1,000,000 rows at >= 70% of the rows/s of in-process chunked
prediction, with the peak RSS of the kiln process tree under 2 GB.

What it does: a fresh temporary workspace; ingest examples/churn/telco_churn.csv as ``churn``;
train ``lightgbm``; write a 1,000,000-row CSV of rows sampled (with replacement, seeded) from the
churn data without the ``churn`` column. Then, alternating, for each round:

* baseline: a fresh subprocess unpickles the same model and loops over
  ``pd.read_csv(chunksize=100_000)`` calling ``model.predict_proba(chunk)``; rows/s over reading
  and predicting (no output written; interpreter start-up and model load not counted). A second
  baseline also appends each chunk with its probabilities to a CSV (``DataFrame.to_csv``).
* kiln: ``python -m kiln --home WS transform REF --input big.csv --output out.csv --json`` as a
  subprocess, rows/s from its wall time (everything: CLI start-up, job process, model load,
  reading, predicting, writing every input column plus the predictions); then the same with
  ``--output out.parquet``.

Peak RSS: psutil polls the process and all its descendants every 50 ms (the transform runs in a
child, ``python -m kiln.worker JOB_ID``); both the peak of the tree's summed RSS and the
peak of any single process are reported.

    .venv/bin/python benchmarks/transform.py              # about 3-4 minutes
    .venv/bin/python benchmarks/transform.py --rows 200000 --rounds 1   # a smoke run
    .venv/bin/python benchmarks/transform.py --compiled   # + the model compiled (kiln compile)

With ``--compiled``, the same fitted model is registered a second time and that version compiled
(``kiln compile``, ``--compile-target``); each round then also transforms with it (CSV and
Parquet), and the output compares its rows/s with the pipeline's (issue 20: ≥ 1.5×) and with the
baseline (≥ 0.7× end to end).

Prints a Markdown table and writes benchmarks/out/transform.json.
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

# _common sets OMP_WAIT_POLICY=PASSIVE; numpy, pandas and LightGBM are imported inside functions.
import _common
from _common import CHURN_CSV, TARGET, RssPoller, child_env, log, markdown_table

THROUGHPUT_TARGET = 0.70
COMPILED_SPEEDUP_TARGET = 1.5
RSS_LIMIT_BYTES = 2 * 1024**3


# -- data ---------------------------------------------------------------------------------------
def make_big_csv(path: Path, rows: int, seed: int, long_value: int = 0) -> int:
    """``rows`` lines of the churn data without the target, sampled with replacement.

    Works on the text lines (the file has no quoted fields), so values keep their exact form.
    ``long_value`` > 0 replaces the ``payment_method`` of the middle row by that many characters
    (an unseen category, as free text in a categorical column would be).
    """
    import numpy as np

    lines = CHURN_CSV.read_bytes().splitlines()
    header, body = lines[0].split(b","), lines[1:]
    if b'"' in CHURN_CSV.read_bytes() or header[0] != TARGET.encode():
        raise RuntimeError(f"{CHURN_CSV}: expected an unquoted CSV whose first column is {TARGET}")
    stripped = [line.split(b",", 1)[1] for line in body]
    picks = np.random.default_rng(seed).integers(0, len(stripped), size=rows)
    if long_value:
        column = header[1:].index(b"payment_method")
        fields = stripped[picks[rows // 2]].split(b",")
        fields[column] = b"x" * long_value
        stripped.append(b",".join(fields))
        picks[rows // 2] = len(stripped) - 1
    with open(path, "wb") as handle:
        handle.write(b",".join(header[1:]) + b"\n")
        step = 100_000
        for start in range(0, rows, step):
            handle.write(b"\n".join(stripped[i] for i in picks[start : start + step]) + b"\n")
    return path.stat().st_size


# -- baseline (runs in its own fresh process) ---------------------------------------------------
def baseline_worker(model_path: str, csv_path: str, chunk_rows: int, output: str | None) -> None:

    import pandas as pd

    loaded = time.perf_counter()
    from kiln.registry import TrainedModel

    model = TrainedModel.from_bytes(Path(model_path).read_bytes())
    load_seconds = time.perf_counter() - loaded
    started = time.perf_counter()
    rows = 0
    predict_seconds = 0.0
    first = True
    for chunk in pd.read_csv(csv_path, chunksize=chunk_rows):
        before = time.perf_counter()
        proba = model.predict_proba(chunk)
        predict_seconds += time.perf_counter() - before
        rows += len(chunk)
        if output:
            for i, label in enumerate(model.classes):
                chunk[f"probability_{label}"] = proba[:, i]
            chunk.to_csv(output, mode="w" if first else "a", header=first, index=False)
            first = False
    seconds = time.perf_counter() - started
    print(
        json.dumps(
            {
                "rows": rows,
                "seconds": seconds,
                "predict_seconds": predict_seconds,
                "model_load_seconds": load_seconds,
                "n_jobs": model.pipeline[-1].get_params().get("n_jobs"),
            }
        )
    )


def run_baseline(model_path: Path, csv_path: Path, chunk_rows: int, output: Path | None) -> dict:
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--baseline-worker",
        str(model_path),
        str(csv_path),
        str(chunk_rows),
    ]
    if output is not None:
        command.append(str(output))
    started = time.perf_counter()
    process = subprocess.Popen(
        command, env=child_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    with RssPoller(process.pid) as rss:
        out, err = process.communicate(timeout=1800)
    wall = time.perf_counter() - started
    if process.returncode != 0:
        raise RuntimeError(f"The baseline failed: {err.decode(errors='replace')[-2000:]}")
    result = json.loads(out.decode().strip().splitlines()[-1])
    return {
        "rows": result["rows"],
        "seconds": round(result["seconds"], 3),
        "rows_per_s": result["rows"] / result["seconds"],
        "process_wall_seconds": round(wall, 3),
        "predict_seconds": round(result["predict_seconds"], 3),
        "model_load_seconds": round(result["model_load_seconds"], 3),
        "n_jobs": result["n_jobs"],
        "peak_rss_tree_mb": round(rss.peak_tree_bytes / 2**20, 1),
        "peak_rss_single_mb": round(rss.peak_single_bytes / 2**20, 1),
    }


# -- kiln ---------------------------------------------------------------------------------------
def run_kiln(home: Path, ref: str, csv_path: Path, output: Path, chunk_rows: int) -> dict:
    command = [
        sys.executable,
        "-m",
        "kiln",
        "--home",
        str(home),
        "transform",
        ref,
        "--input",
        str(csv_path),
        "--output",
        str(output),
        "--chunk-rows",
        str(chunk_rows),
        "--json",
    ]
    started = time.perf_counter()
    process = subprocess.Popen(
        command, env=child_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    with RssPoller(process.pid) as rss:
        out, err = process.communicate(timeout=1800)
    wall = time.perf_counter() - started
    if process.returncode != 0:
        raise RuntimeError(f"kiln transform failed: {err.decode(errors='replace')[-2000:]}")
    result = json.loads(out)
    return {
        "rows": result["rows"],
        "seconds": round(wall, 3),
        "rows_per_s": result["rows"] / wall,
        "job_seconds": result["seconds"],
        "job": result["job"],
        "output_mb": round(output.stat().st_size / 1e6, 1),
        "peak_rss_tree_mb": round(rss.peak_tree_bytes / 2**20, 1),
        "peak_rss_single_mb": round(rss.peak_single_bytes / 2**20, 1),
        "peak_rss_single_process": rss.peak_single_cmd,
        "rss_samples": rss.samples,
    }


def check_output(model, csv_path: Path, output: Path, rows: int) -> None:
    """The first rows of kiln's output carry the same probabilities as the model in-process."""
    import numpy as np
    import pandas as pd
    import pyarrow.parquet as pq

    head = pd.read_csv(csv_path, nrows=1000)
    expected = model.predict_proba(head)
    if output.suffix == ".parquet":
        written = pq.ParquetFile(output)
        assert written.metadata.num_rows == rows, (written.metadata.num_rows, rows)
        got = next(written.iter_batches(batch_size=1000)).to_pandas()
    else:
        got = pd.read_csv(output, nrows=1000)
    columns = [f"probability_{label}" for label in model.classes]
    assert np.allclose(got[columns].to_numpy(), expected, atol=1e-9), "predictions differ"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--chunk-rows", type=int, default=100_000)
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="rounds of (baseline, kiln CSV, kiln Parquet); medians are compared",
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--long-value",
        type=int,
        default=0,
        metavar="CHARS",
        help="make one categorical value of the middle row CHARS long",
    )
    parser.add_argument(
        "--no-write-baseline",
        action="store_true",
        help="skip the reference baseline that also writes a CSV (round 1 only)",
    )
    parser.add_argument(
        "--out", default="transform", help="name of the JSON file in benchmarks/out/ (no suffix)"
    )
    parser.add_argument(
        "--compiled", action="store_true", help="also transform with the model compiled"
    )
    parser.add_argument("--compile-target", default="native")
    args = parser.parse_args()

    began = time.perf_counter()
    info = _common.machine_info()
    with tempfile.TemporaryDirectory(prefix="kiln-bench-transform-") as tmp_name:
        tmp = Path(tmp_name)
        log("Training lightgbm on the churn data in a fresh workspace")
        ws, ref = _common.prepare_workspace(tmp / "ws")
        model = ws.models.load(ref)  # as the transform job loads it: n_jobs as trained
        model_path = tmp / "model.pkl"
        model_path.write_bytes(model.to_bytes())
        big = tmp / "big.csv"
        size = make_big_csv(big, args.rows, args.seed, args.long_value)
        small = tmp / "small.csv"
        make_big_csv(small, 1_000, args.seed)
        log(f"Wrote {args.rows:,} rows ({size / 1e6:.0f} MB) to {big}")
        compiled_ref = None
        if args.compiled:
            compiled_ref = _common.register_copy(ws, ref, "churn_compiled")
            record = ws.compile(compiled_ref, target=args.compile_target)
            log(f"Compiled {compiled_ref} ({args.compile_target}): parity {record['parity']}")

        runs: dict[str, list[dict]] = {
            "baseline": [],
            "baseline_write_csv": [],
            "kiln_csv": [],
            "kiln_parquet": [],
            "kiln_csv_compiled": [],
            "kiln_parquet_compiled": [],
        }
        try:
            # Fixed costs, from 1,000-row runs: what a job costs before and after its rows.
            log("Fixed costs: kiln transform and the baseline process on 1,000 rows")
            fixed_kiln = min(
                run_kiln(ws.home, ref, small, tmp / "small-out.csv", args.chunk_rows)["seconds"]
                for _ in range(2)
            )
            fixed_baseline = min(
                run_baseline(model_path, small, args.chunk_rows, None)["process_wall_seconds"]
                for _ in range(2)
            )
            for round_ in range(args.rounds):
                steps = [
                    ("baseline", lambda: run_baseline(model_path, big, args.chunk_rows, None)),
                    (
                        "kiln_csv",
                        lambda: run_kiln(ws.home, ref, big, tmp / "out.csv", args.chunk_rows),
                    ),
                    (
                        "kiln_parquet",
                        lambda: run_kiln(ws.home, ref, big, tmp / "out.parquet", args.chunk_rows),
                    ),
                ]
                if compiled_ref is not None:
                    steps += [
                        (
                            "kiln_csv_compiled",
                            lambda: run_kiln(
                                ws.home, compiled_ref, big, tmp / "out-c.csv", args.chunk_rows
                            ),
                        ),
                        (
                            "kiln_parquet_compiled",
                            lambda: run_kiln(
                                ws.home, compiled_ref, big, tmp / "out-c.parquet", args.chunk_rows
                            ),
                        ),
                    ]
                if round_ == 0 and not args.no_write_baseline:
                    steps.insert(
                        1,
                        (
                            "baseline_write_csv",
                            lambda: run_baseline(
                                model_path, big, args.chunk_rows, tmp / "baseline-out.csv"
                            ),
                        ),
                    )
                for name, step in steps:
                    probe = _common.speed_probe()
                    meter = _common.CpuMeter()
                    result = step()
                    result.update(meter.share())
                    result["speed_probe_s"] = round(probe, 4)
                    result["round"] = round_ + 1
                    runs[name].append(result)
                    log(
                        f"  round {round_ + 1} {name}: {result['rows_per_s']:,.0f} rows/s "
                        f"({result['seconds']:.1f}s), peak RSS tree "
                        f"{result['peak_rss_tree_mb']:.0f} MB, others' CPU "
                        f"{result['foreign_cpu_share']:.0%}"
                    )
                    if result["rows"] != args.rows:
                        raise RuntimeError(f"{name} scored {result['rows']} rows, not {args.rows}")
            check_output(model, big, tmp / "out.csv", args.rows)
            check_output(model, big, tmp / "out.parquet", args.rows)
            if compiled_ref is not None:
                check_output(model, big, tmp / "out-c.csv", args.rows)
                check_output(model, big, tmp / "out-c.parquet", args.rows)
        finally:
            ws.close()

    runs = {name: values for name, values in runs.items() if values}
    median = {
        name: statistics.median(r["rows_per_s"] for r in values) for name, values in runs.items()
    }
    # The baseline measured as its whole process (start-up, imports, model load included).
    median["baseline_process"] = statistics.median(
        r["rows"] / r["process_wall_seconds"] for r in runs["baseline"]
    )
    kiln_seconds = statistics.median(r["seconds"] for r in runs["kiln_csv"])
    median["kiln_csv_without_fixed"] = args.rows / max(kiln_seconds - fixed_kiln, 1e-9)
    peak_tree = max(r["peak_rss_tree_mb"] for n in ("kiln_csv", "kiln_parquet") for r in runs[n])
    peak_single = max(
        r["peak_rss_single_mb"] for n in ("kiln_csv", "kiln_parquet") for r in runs[n]
    )
    pair_ratios = {
        name: [
            k["rows_per_s"] / b["rows_per_s"]
            for k, b in zip(runs[name], runs["baseline"], strict=True)
        ]
        for name in ("kiln_csv", "kiln_parquet")
    }
    probes = [r["speed_probe_s"] for values in runs.values() for r in values]
    ratio_csv = median["kiln_csv"] / median["baseline"]
    ratio_parquet = median["kiln_parquet"] / median["baseline"]
    targets = {
        "throughput_target": THROUGHPUT_TARGET,
        "ratio_kiln_csv": round(ratio_csv, 4),
        "ratio_kiln_parquet": round(ratio_parquet, 4),
        "throughput_met": ratio_csv >= THROUGHPUT_TARGET,
        "throughput_met_parquet": ratio_parquet >= THROUGHPUT_TARGET,
        "ratio_kiln_csv_median_of_rounds": round(statistics.median(pair_ratios["kiln_csv"]), 4),
        "ratio_kiln_parquet_median_of_rounds": round(
            statistics.median(pair_ratios["kiln_parquet"]), 4
        ),
        "ratio_kiln_csv_vs_baseline_process": round(
            median["kiln_csv"] / median["baseline_process"], 4
        ),
        "ratio_kiln_csv_without_fixed_costs": round(
            median["kiln_csv_without_fixed"] / median["baseline"], 4
        ),
        "fixed_seconds_kiln_1000_rows": fixed_kiln,
        "fixed_seconds_baseline_process_1000_rows": fixed_baseline,
        "rss_limit_mb": RSS_LIMIT_BYTES / 2**20,
        "peak_rss_tree_mb": peak_tree,
        "peak_rss_single_mb": peak_single,
        "rss_met": peak_tree * 2**20 < RSS_LIMIT_BYTES,
        # Other tenants' CPU during the busiest run (0 on a quiet machine).
        "max_other_processes_cpu_share": max(
            r["foreign_cpu_share"] for values in runs.values() for r in values
        ),
        # Slowest over fastest speed probe: how much the host's speed drifted during the run.
        "host_speed_spread": round(max(probes) / min(probes), 2),
    }
    if "kiln_csv_compiled" in median:
        for fmt in ("csv", "parquet"):
            compiled_rate = median[f"kiln_{fmt}_compiled"]
            targets[f"compiled_{fmt}_vs_pipeline"] = round(compiled_rate / median[f"kiln_{fmt}"], 4)
            targets[f"compiled_{fmt}_vs_baseline"] = round(compiled_rate / median["baseline"], 4)
        targets["compiled_speedup_met"] = (
            targets["compiled_csv_vs_pipeline"] >= COMPILED_SPEEDUP_TARGET
        )

    labels = {
        "baseline": "baseline: read_csv chunks + predict_proba (no write)",
        "baseline_write_csv": "reference: baseline + to_csv of each chunk",
        "kiln_csv": "kiln transform → CSV",
        "kiln_parquet": "kiln transform → Parquet",
        "kiln_csv_compiled": "kiln transform, compiled → CSV",
        "kiln_parquet_compiled": "kiln transform, compiled → Parquet",
    }
    base = median["baseline"]
    rows = []
    for name, values in runs.items():
        for r in values:
            rows.append(
                [
                    f"{labels[name]}, round {r['round']}",
                    r["rows_per_s"],
                    r["rows_per_s"] / base,
                    r["seconds"],
                    r["peak_rss_tree_mb"],
                    r["peak_rss_single_mb"],
                    f"{r['foreign_cpu_share']:.0%}",
                    r["speed_probe_s"] * 1e3,
                ]
            )
    summary = [
        ("**median baseline**", "baseline"),
        ("**median kiln → CSV**", "kiln_csv"),
        ("**median kiln → Parquet**", "kiln_parquet"),
        ("baseline as a whole process (start-up, imports, model load counted)", "baseline_process"),
        (
            f"kiln → CSV without its fixed cost ({fixed_kiln:.2f}s, from a 1,000-row run)",
            "kiln_csv_without_fixed",
        ),
    ]
    for label, key in summary:
        rows.append([label, median[key], median[key] / base, "", "", "", "", ""])
    print(
        f"\n### Batch transform of {args.rows:,} rows ({size / 1e6:.0f} MB CSV), chunks of "
        f"{args.chunk_rows:,}\n"
    )
    print(
        markdown_table(
            [
                "run",
                "rows/s",
                "× baseline",
                "seconds",
                "peak RSS tree MB",
                "peak RSS one process MB",
                "others' CPU",
                "probe ms",
            ],
            rows,
        )
    )
    verdict = "MET" if targets["throughput_met"] else "MISSED"
    print(
        f"\nkiln → CSV / baseline = {ratio_csv:.3f}, kiln → Parquet / baseline = "
        f"{ratio_parquet:.3f} (medians of per-round ratios "
        f"{targets['ratio_kiln_csv_median_of_rounds']:.3f} and "
        f"{targets['ratio_kiln_parquet_median_of_rounds']:.3f}); target >= {THROUGHPUT_TARGET}: "
        f"{verdict}"
    )
    if "compiled_csv_vs_pipeline" in targets:
        print(
            f"compiled / pipeline rows/s: CSV {targets['compiled_csv_vs_pipeline']:.2f}×, "
            f"Parquet {targets['compiled_parquet_vs_pipeline']:.2f}× (target ≥ "
            f"{COMPILED_SPEEDUP_TARGET}); compiled / baseline: CSV "
            f"{targets['compiled_csv_vs_baseline']:.2f}×, Parquet "
            f"{targets['compiled_parquet_vs_baseline']:.2f}× (target ≥ {THROUGHPUT_TARGET})"
        )
    print(
        f"Fixed cost of a transform (1,000 rows, wall): kiln {fixed_kiln:.2f}s, baseline "
        f"process {fixed_baseline:.2f}s"
    )
    print(
        f"peak RSS of the kiln process tree = {peak_tree:,.0f} MB (largest single process "
        f"{peak_single:,.0f} MB; limit 2048 MB): {'MET' if targets['rss_met'] else 'MISSED'}"
    )

    payload = {
        "benchmark": "transform",
        "command": "python benchmarks/transform.py " + " ".join(sys.argv[1:]),
        "machine": info,
        "parameters": {**vars(args), "model": ref, "csv_mb": round(size / 1e6, 1)},
        "runs": runs,
        "median_rows_per_s": median,
        "targets": targets,
        "seconds": round(time.perf_counter() - began, 1),
    }
    busiest = targets["max_other_processes_cpu_share"]
    print(
        f"Host speed probe: {min(probes) * 1e3:.0f}-{max(probes) * 1e3:.0f} ms (spread "
        f"{targets['host_speed_spread']:.2f}x); other processes' CPU share at most {busiest:.0%}."
    )
    if busiest > 0.10 or targets["host_speed_spread"] > 1.5:
        print(
            "WARNING: the machine was shared during the run (busy neighbours or a host whose "
            "speed drifted); the runs alternate, but absolute numbers are not reliable."
        )
    path = _common.write_json(args.out, payload)
    print(f"\nWrote {path} in {payload['seconds']:.0f}s")
    return 0


if __name__ == "__main__":
    if len(sys.argv) >= 5 and sys.argv[1] == "--baseline-worker":
        baseline_worker(
            sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5] if len(sys.argv) > 5 else None
        )
        sys.exit(0)
    sys.exit(main())
