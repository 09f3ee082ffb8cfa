"""Storage benchmark: how many bytes a small project leaves in its workspace.

Trains the quickstart's models (LightGBM and a linear model on telco churn), runs a 15 s AutoML on
housing_prices (546 rows, 21 KB), writes each job's report and the data profiles, and prints the
size of every model artifact, every report and the workspace::

    .venv/bin/python benchmarks/storage.py                  # ~1 minute
    .venv/bin/python benchmarks/storage.py --time-limit 30

Writes benchmarks/out/storage.json too. Results: docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import pickle
import sys
import tempfile
import time
from pathlib import Path

from _common import CHURN_CSV, HERE, OUT_DIR

HOUSING_CSV = HERE / "data" / "housing_prices.csv"


def folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def mb(size: int) -> str:
    return f"{size / 1e6:.2f} MB"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--time-limit", type=float, default=15.0, help="AutoML's, in seconds")
    args = parser.parse_args(argv)

    import kiln

    started = time.perf_counter()
    rows: list[tuple[str, str, int]] = []
    with tempfile.TemporaryDirectory(prefix="kiln-storage-") as tmp:
        ws = kiln.Workspace.init(Path(tmp) / "ws")
        ws.data.ingest(CHURN_CSV, name="churn")
        ws.data.ingest(HOUSING_CSV, name="housing")
        jobs = []
        for algorithm in ("lightgbm", "linear"):
            result = ws.train("churn", target="churn", algorithm=algorithm)
            jobs.append((f"churn {algorithm}", result.model.ref, result.job.id))
        result = ws.automl("housing", target="price", time_limit=args.time_limit)
        jobs.append((f"housing automl {args.time_limit:g} s", result.model.ref, result.job.id))
        for what, ref, _ in jobs:
            version = ws.models.get(ref)
            path = ws.artifacts.local_path(version.digest, what="model")
            rows.append(("model", f"{what} ({ref})", path.stat().st_size))
            # the same model as a plain pickle, as models were stored before compression
            plain = len(pickle.dumps(ws.models.load(ref), protocol=5))
            rows.append(("pickle", f"{what} ({ref}), uncompressed", plain))
        for what, _, job_id in jobs:
            report = ws.report(job_id)
            rows.append(("report", f"{what} ({report.path.name})", report.path.stat().st_size))
        for name, target in (("churn", "churn"), ("housing", "price")):
            profile = ws.profile(name, target=target)
            rows.append(("profile", f"{name}", profile.html_path.stat().st_size))
        reports = ws.home / "reports"
        rows.append(("folder", "reports/ (every file in it)", folder_bytes(reports)))
        rows.append(("folder", "artifacts/", folder_bytes(ws.home / "artifacts")))
        rows.append(("folder", "workspace", folder_bytes(ws.home)))
        ws.close()
    print(f"\n{'kind':8} {'what':55} size")
    for kind, what, size in rows:
        print(f"{kind:8} {what:55} {mb(size)}")
    print(f"\n({time.perf_counter() - started:.0f} s)")
    OUT_DIR.mkdir(exist_ok=True)
    out = [{"kind": k, "what": w, "bytes": s} for k, w, s in rows]
    (OUT_DIR / "storage.json").write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
