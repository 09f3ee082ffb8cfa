"""Ingest benchmark: ``ws.data.ingest`` of 1,000,000-row CSVs, this kiln against another commit.

Written for issue 19, where kiln started counting a CSV's records itself (kiln/data/_csv_check.py)
to catch rows that pyarrow's reader merges without an error. The question it answers: what does
that check cost on the ingest of a large file?

Data (seeded): N rows × 10 columns (ids, integers, floats, ISO dates, categories, yes/no) written
by pandas, in three variants:

* ``plain``: no quote anywhere in the file (the check's cheapest case);
* ``quoted``: plus values with a comma, doubled quotes or a line break, quoted as pandas quotes
  them (the usual case: the check's vectorised path);
* ``bare-quotes``: ``quoted`` plus a column of unquoted heights such as 5'10", a quote inside an
  unquoted value, which sends the check to Python's csv module.

Runs: each ingest is a fresh process (``--worker``) with a fresh workspace; it first ingests a
small file (paying the imports, DuckDB's included) and then times the ingest of the large one,
wall clock and CPU (all threads). With ``--before-src`` the same runs use the kiln sources of
another commit, exported with ``git archive``; before and after alternate, ``--rounds`` times per
file, and the medians and their ratios are reported.

    git archive 40c858b src | tar -x -C /tmp/kiln-before && echo 40c858b > /tmp/kiln-before/COMMIT
    .venv/bin/python benchmarks/ingest.py --before-src /tmp/kiln-before/src      # ~3 minutes
    .venv/bin/python benchmarks/ingest.py --rows 200000 --rounds 1               # a smoke run

Prints Markdown tables and writes benchmarks/out/ingest.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# _common sets OMP_WAIT_POLICY=PASSIVE; numpy and pandas are imported inside functions.
import _common
from _common import child_env, log, markdown_table

VARIANTS = ("plain", "quoted", "bare-quotes")


def make_csv(path: Path, rows: int, variant: str, seed: int = 0) -> int:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "id": np.arange(rows),
            "age": rng.integers(18, 90, rows),
            "income": rng.normal(50_000, 15_000, rows).round(2),
            "score": rng.random(rows),
            "city": rng.choice(["Oslo", "Rome", "Zürich", "São Paulo"], rows),
            "plan": rng.choice(["basic", "pro", "team"], rows),
            "joined": (
                pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 1500, rows), "D")
            ).strftime("%Y-%m-%d"),
            "note": rng.choice(["ok", "late", "", "called twice"], rows),
            "flag": rng.choice(["yes", "no"], rows),
            "amount": rng.integers(0, 10_000, rows),
        }
    )
    if variant != "plain":
        frame["city"] = rng.choice(["Oslo", "New York, NY", "Zürich", "São Paulo"], rows)
        frame["note"] = rng.choice(["ok", 'said "great"', "late, again", "", "two\nlines"], rows)
    frame.to_csv(path, index=False)
    if variant == "bare-quotes":
        # pandas would quote these values; written by hand, the quote stays inside an unquoted one.
        heights = rng.choice(["5'10\"", "6'1\"", "5'2\""], rows)
        text = path.read_text().splitlines(keepends=True)
        out, row = [], -1
        quotes = 0
        for line in text:
            quotes += line.count('"')
            if quotes % 2:  # inside a quoted value with a line break: the record goes on
                out.append(line)
                continue
            out.append(line[:-1] + "," + ("height" if row < 0 else heights[row]) + "\n")
            row += 1
        path.write_text("".join(out))
    return path.stat().st_size


def worker(csv_path: str) -> None:
    import kiln

    with tempfile.TemporaryDirectory() as tmp:
        workspace = kiln.Workspace.init(Path(tmp) / "ws")
        warm = Path(tmp) / "warm.csv"
        warm.write_text("a,b\n1,x\n2,y\n")
        workspace.data.ingest(warm, name="warm")
        wall, cpu = time.perf_counter(), time.process_time()
        version = workspace.data.ingest(csv_path, name="big")
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        workspace.close()
    print(
        json.dumps(
            {"wall": wall, "cpu": cpu, "rows": version.row_count, "kiln": str(kiln.__file__)}
        )
    )


def run(csv_path: Path, src: Path | None) -> dict:
    env = child_env()
    if src is not None:
        env["PYTHONPATH"] = str(src)
    out = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--worker", str(csv_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    if out.returncode != 0:
        raise RuntimeError(f"The ingest failed ({src or 'this kiln'}): {out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--before-src", type=Path, help="kiln sources of another commit (src/).")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker)
        return
    sides = {"after": None} | ({"before": args.before_src} if args.before_src else {})
    results: dict = {"machine": _common.machine_info(), "rows": args.rows, "files": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for variant in VARIANTS:
            path = Path(tmp) / f"{variant}.csv"
            size = make_csv(path, args.rows, variant)
            log(f"{variant}: {size / 1e6:.1f} MB")
            runs: dict[str, list[dict]] = {side: [] for side in sides}
            for round_ in range(args.rounds):
                for side, src in sides.items() if round_ % 2 == 0 else reversed(sides.items()):
                    runs[side].append(run(path, src))
                    log(f"  {side}: {runs[side][-1]['wall']:.2f} s")
            results["files"][variant] = {"bytes": size, "runs": runs}
    rows = []
    for variant, found in results["files"].items():
        medians = {
            side: {m: statistics.median(r[m] for r in runs) for m in ("wall", "cpu")}
            for side, runs in found["runs"].items()
        }
        found["medians"] = medians
        row = [variant, f"{found['bytes'] / 1e6:.0f} MB"]
        row += [medians["after"]["wall"], medians["after"]["cpu"]]
        if "before" in medians:
            row += [medians["before"]["wall"], medians["before"]["cpu"]]
            row += [medians["after"]["cpu"] / medians["before"]["cpu"]]
        rows.append(row)
    headers = ["file", "size", "after wall s", "after CPU s"]
    if args.before_src:
        headers += ["before wall s", "before CPU s", "CPU after / before"]
    print(f"\nIngest of {args.rows:,} rows, medians of {args.rounds} fresh processes each\n")
    print(markdown_table(headers, rows))
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    print(f"\nload average at the end: {load}")
    log(f"wrote {_common.write_json('ingest', results)}")


if __name__ == "__main__":
    main()
