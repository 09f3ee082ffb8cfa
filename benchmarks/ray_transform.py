"""Batch transform of partitioned Parquet on Ray: rows/s and the peak memory of each worker.

What it does: a fresh temporary workspace with the churn data ingested and LightGBM trained;
``--rows`` rows sampled (with replacement, seeded) from the churn data without its target,
written as ``--parts`` Parquet files of equal size. Then ``ws.transform(model, input=FOLDER,
output=FOLDER)``:

* on Ray (a Ray started in this process with the machine's CPUs): the transform job is a Ray
  task that starts one Ray task per part; each loads the model and scores its part in chunks of
  100,000 rows into its own output part;
* with the local executor, for comparison: one job process scores the parts one after the other.

Rows/s from the wall time of the call (job record, workers, model loads, reading, scoring,
writing every input column plus the predictions; Ray's own start-up is not counted: it is started
before, and its workers are warmed by a 1-part transform). Peak RSS: psutil polls every 50 ms all
processes below this one; for Ray, the peak of each worker process (``ray::...``) is reported,
next to the size of the whole input in memory (Arrow), which no worker ever holds.

    .venv/bin/python benchmarks/ray_transform.py                        # 10 M rows, ~5 min
    .venv/bin/python benchmarks/ray_transform.py --rows 400000 --parts 4 # a smoke run

Prints a Markdown table and writes benchmarks/out/ray_transform.json.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time
from pathlib import Path

import _common
from _common import CHURN_CSV, TARGET, log, markdown_table


def write_parts(folder: Path, rows: int, parts: int, seed: int) -> int:
    """``parts`` Parquet files of churn rows without the target; returns their bytes in memory."""
    import numpy as np
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    table = pacsv.read_csv(CHURN_CSV).drop_columns([TARGET])
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    size = 0
    per_part = rows // parts
    for i in range(parts):
        count = per_part if i < parts - 1 else rows - per_part * (parts - 1)
        part = table.take(rng.integers(0, table.num_rows, size=count))
        size += part.nbytes
        pq.write_table(part, folder / f"part-{i:04d}.parquet")
    return size


class WorkerRss:
    """Peak RSS of each process below this one (by pid), and the names it had, polled in a
    thread: a Ray worker is named after the task it runs (``ray::_run_in_context``)."""

    def __init__(self, interval: float = 0.05):
        self.peaks: dict[int, int] = {}
        self.names: dict[int, set[str]] = {}
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> WorkerRss:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        import psutil

        me = psutil.Process()
        while not self._stop.is_set():
            for proc in me.children(recursive=True):
                try:
                    name, rss = proc.name(), proc.memory_info().rss
                except psutil.Error:
                    continue
                self.peaks[proc.pid] = max(rss, self.peaks.get(proc.pid, 0))
                self.names.setdefault(proc.pid, set()).add(name)
            self._stop.wait(self._interval)

    def workers(self, executor: str) -> list[int]:
        """Peak RSS of each process that ran a Ray task, or of the job's process (local)."""

        def worked(names: set[str]) -> bool:
            if executor == "local":
                return names == {"python"}
            # Named after their tasks (the job's "kiln-transform-...", the parts'
            # "_run_in_context"), unlike Ray's own processes (ray::DashboardAgent, ...).
            return any(n.startswith(("ray::kiln-", "ray::_run_in_co")) for n in names)

        return sorted(rss for pid, rss in self.peaks.items() if worked(self.names[pid]))


def transform_once(home: Path, executor: str, model: str, parts: Path, out: Path) -> dict:
    import kiln

    ws = kiln.Workspace(home)
    assert ws.settings.executor == executor, ws.settings.executor
    with WorkerRss() as rss:
        started = time.perf_counter()
        job = ws.transform(model, input=parts, output=out, keep="input")
        seconds = time.perf_counter() - started
    ws.close()
    peaks = rss.workers(executor)
    return {
        "executor": executor,
        "rows": job.result["rows"],
        "parts": job.result["parts"],
        "seconds": round(seconds, 2),
        "rows_per_s": round(job.result["rows"] / seconds),
        "workers": len(peaks),
        "peak_rss_per_worker_mb": round(max(peaks) / 1e6) if peaks else None,
        "mean_peak_rss_per_worker_mb": round(sum(peaks) / len(peaks) / 1e6) if peaks else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--parts", type=int, default=20)
    parser.add_argument("--skip-local", action="store_true")
    args = parser.parse_args()
    info = _common.machine_info()
    import kiln

    with tempfile.TemporaryDirectory(prefix="kiln-ray-transform-") as temp:
        root = Path(temp)
        log("training the model")
        ws = kiln.Workspace.init(root / "ws", executor="local")
        ws.data.ingest(CHURN_CSV, name="churn")
        model = ws.train("churn", target=TARGET, algorithm="lightgbm").model.ref
        ws.close()
        log(f"writing {args.rows:,} rows as {args.parts} Parquet parts")
        memory = write_parts(root / "parts", args.rows, args.parts, seed=7)
        log(f"input: {memory / 1e6:,.0f} MB in memory (Arrow)")
        runs = []
        # The same workspace, its executor chosen by the environment (KILN_EXECUTOR).
        os.environ["KILN_EXECUTOR"] = "ray"
        import ray

        # What the Ray executor does with KILN_RAY_ADDRESS unset; started here to leave its
        # start-up out of the timing.
        ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False)
        warm = root / "warm"
        write_parts(warm, 1000 * args.parts, args.parts, seed=8)
        log("warming the Ray workers")
        transform_once(root / "ws", "ray", model, warm, root / "warm-out")
        log("ray")
        runs.append(transform_once(root / "ws", "ray", model, root / "parts", root / "out-ray"))
        ray.shutdown()
        if not args.skip_local:
            os.environ["KILN_EXECUTOR"] = "local"
            log("local")
            runs.append(
                transform_once(root / "ws", "local", model, root / "parts", root / "out-local")
            )
    print(
        markdown_table(
            ["executor", "rows", "parts", "wall s", "rows/s", "workers", "peak RSS/worker MB"],
            [
                [
                    r["executor"],
                    f"{r['rows']:,}",
                    r["parts"],
                    r["seconds"],
                    f"{r['rows_per_s']:,}",
                    r["workers"],
                    r["peak_rss_per_worker_mb"],
                ]
                for r in runs
            ],
        )
    )
    print(f"\nInput in memory (Arrow): {memory / 1e6:,.0f} MB.")
    path = _common.write_json(
        "ray_transform", {"machine": info, "input_bytes_in_memory": memory, "runs": runs}
    )
    log(f"wrote {path}")


if __name__ == "__main__":
    main()
