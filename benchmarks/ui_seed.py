"""A Studio benchmark workspace, seeded through the store: bulk inserts of realistic rows (the
shapes a real training run writes) into the jobs, model groups and versions, data set versions,
lineage, experiments, users and audit tables, plus one training job with a long log and many
metric points. Nothing is trained and no artifact is written: the lists Studio pages read must
never need one.

``seed(home, ...)`` writes ``home/ui-seed.json`` (the sizes, the seconds each table took, the ids
and names the benchmark's filters use) and reuses the workspace when that file already records the
same sizes. Run alone it seeds and prints that manifest::

    python benchmarks/ui_seed.py benchmarks/out/ui-workspace --jobs 100000 --versions 10000
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

MANIFEST = "ui-seed.json"
# Bumped when the rows' shapes change, so an old seeded folder is not reused.
SEED_FORMAT = 2

KINDS = [  # (kind, id prefix, weight)
    ("training", "train", 55),
    ("transform", "trans", 12),
    ("monitor", "mon", 12),
    ("deployment", "deploy", 6),
    ("pipeline", "pipe", 5),
    ("tuning", "tune", 4),
    ("automl", "automl", 3),
    ("script", "script", 2),
    ("retraining", "retrain", 1),
]
STATUSES = [("Completed", 86), ("Failed", 9), ("Stopped", 5)]
APPROVALS = [("PendingManualApproval", 70), ("Approved", 20), ("Rejected", 10)]
ALGORITHMS = ["lightgbm", "xgboost", "random_forest", "logistic_regression", "catboost"]
DOMAINS = ["churn", "fraud", "credit", "housing", "demand", "claims", "leads", "returns"]
FAILURES = [
    (
        "data.bad-target",
        "DataError",
        "Target column 'churn' has 3 missing values in rows 12, 40, "
        "77. Drop or fill them ('kiln data clean') and train again.",
    ),
    (
        "training.diverged",
        "TrainingError",
        "LightGBM stopped: the validation loss rose for 30 "
        "rounds from round 4. Lower learning_rate or raise min_child_samples.",
    ),
    (
        "compute.lost",
        "JobFailed",
        "The job's process (pid 4411 on vm) ended without a word: "
        "killed by the out-of-memory killer? Resume it with 'kiln jobs resume'.",
    ),
]
ACTIONS = [
    "session.sign-in",
    "model.approve",
    "model.reject",
    "endpoint.deploy",
    "endpoint.rollback",
    "jobs.cancel",
    "data.ingest",
    "training.start",
    "automl.start",
    "users.add",
]
FEATURES = [
    ("female", "numeric"),
    ("senior_citizen", "numeric"),
    ("partner", "numeric"),
    ("dependents", "numeric"),
    ("tenure", "numeric"),
    ("phone_service", "numeric"),
    ("multiple_lines", "categorical"),
    ("internet_service", "categorical"),
    ("online_security", "categorical"),
    ("online_backup", "categorical"),
    ("device_protection", "categorical"),
    ("tech_support", "categorical"),
    ("streaming_tv", "categorical"),
    ("streaming_movies", "categorical"),
    ("contract", "categorical"),
    ("paperless_billing", "numeric"),
    ("payment_method", "categorical"),
    ("monthly_charges", "numeric"),
    ("total_charges", "numeric"),
]
CATEGORIES = ["No", "Yes", "No internet service", "Month-to-month", "One year", "Two year"]
HYPERPARAMETERS = {
    "n_estimators": 300,
    "learning_rate": 0.05,
    "num_leaves": 31,
    "max_depth": -1,
    "min_child_samples": 20,
    "subsample": 0.9,
    "colsample_bytree": 0.9,
    "reg_lambda": 0.0,
    "reg_alpha": 0.0,
    "early_stopping_rounds": 30,
}
LIBRARIES = {
    "python": "3.11.7",
    "kiln": "0.1.0",
    "scikit-learn": "1.9.1",
    "pandas": "3.1.1",
    "numpy": "2.4.6",
    "pyarrow": "26.0.1",
    "lightgbm": "4.7.0",
}
METRIC_NAMES = ["train_binary_logloss", "validation_binary_logloss"]


def _weighted(rng: random.Random, table: list[tuple], n: int) -> list[tuple]:
    return rng.choices(table, weights=[row[-1] for row in table], k=n)


def _ids(rng: random.Random, prefix: str, n: int, taken: set[str]) -> list[str]:
    """``n`` ids shaped like :func:`kiln.store.new_id`'s (random, so the primary key index fills
    as it does in use), none in ``taken``."""
    out = []
    while len(out) < n:
        made = f"{prefix}-{rng.getrandbits(48):012x}"
        if made not in taken:
            taken.add(made)
            out.append(made)
    return out


def _metrics(rng: random.Random) -> dict[str, Any]:
    def split() -> dict[str, Any]:
        auc = round(rng.uniform(0.7, 0.95), 6)
        return {
            "accuracy": round(auc - 0.04, 6),
            "precision": round(rng.uniform(0.5, 0.8), 6),
            "recall": round(rng.uniform(0.3, 0.7), 6),
            "specificity": round(auc + 0.05, 6),
            "f1": round(rng.uniform(0.4, 0.7), 6),
            "roc_auc": auc,
            "pr_auc": round(auc - 0.15, 6),
            "log_loss": round(rng.uniform(0.3, 0.6), 6),
            "confusion_matrix": [[rng.randrange(3000), 190], [667, rng.randrange(900)]],
        }

    return {"train": split(), "validation": split(), "test": split()}


def _schema(rng: random.Random) -> dict[str, Any]:
    columns = [{"name": "churn", "type": "boolean", "dtype": "string", "missing": 0}]
    for name, kind in FEATURES:
        column = {
            "name": name,
            "type": kind,
            "dtype": "string" if kind == "categorical" else "float64",
            "missing": rng.randrange(3),
        }
        columns.append(column)
    return {"columns": columns}


def _signature(target: str) -> dict[str, Any]:
    inputs = []
    for name, kind in FEATURES:
        field: dict[str, Any] = {"name": name, "type": kind}
        if kind == "categorical":
            field |= {"dtype": "string", "categories": CATEGORIES[:3]}
        else:
            field["dtype"] = "number"
        inputs.append(field)
    return {
        "inputs": inputs,
        "outputs": {"target": target, "classes": ["No", "Yes"], "problem_type": "binary"},
    }


def _insert(session, table, rows: list[dict], timings: dict[str, float], batch: int = 20_000):
    """Executemany INSERTs of ``rows`` into ``table``, in batches, inside the caller's one
    transaction; the seconds it took go to ``timings[table.name]``."""
    started = time.perf_counter()
    for start in range(0, len(rows), batch):
        session.execute(table.insert(), rows[start : start + batch])
    timings[table.name] = round(timings.get(table.name, 0.0) + time.perf_counter() - started, 3)


def sizes_of(
    *,
    jobs: int,
    versions: int,
    datasets: int,
    audit: int,
    users: int,
    log_lines: int,
    metric_points: int,
) -> dict[str, int]:
    """The sizes a seeded workspace is made with (and checked against when reused)."""
    if min(jobs, versions, datasets) < 1 or min(audit, users, log_lines, metric_points) < 0:
        raise ValueError("Seed at least one job, model version and data set version.")
    if jobs < versions:
        raise ValueError(f"Each model version needs a training job: {jobs} < {versions}.")
    return {
        "format": SEED_FORMAT,
        "jobs": jobs,
        "versions": versions,
        "datasets": datasets,
        "audit": audit,
        "users": users,
        "log_lines": log_lines,
        "metric_points": metric_points,
    }


def seed(
    home: Path,
    *,
    jobs: int = 100_000,
    versions: int = 10_000,
    datasets: int = 1_000,
    audit: int = 10_000,
    users: int = 20,
    log_lines: int = 100_000,
    metric_points: int = 10_000,
    reuse: bool = True,
    seed_value: int = 16,
) -> dict[str, Any]:
    """Seed (or reuse) a workspace at ``home``; returns its manifest (``home/ui-seed.json``).

    The rows are written in one transaction, by executemany, so 100,000 jobs take seconds.
    Every job has ended (Completed, Failed or Stopped), so a list's check for lost jobs finds none
    to change; each model version names a Completed training job and a data set
    version, as a trained one does. ``big_job`` is the newest training job, with ``log_lines``
    log lines and ``metric_points`` metric points (two series)."""
    import kiln
    from kiln.store import (
        AuditEventRow,
        DatasetVersionRow,
        ExperimentRow,
        JobLogRow,
        JobMetricRow,
        JobRow,
        LineageRow,
        ModelGroupRow,
        ModelVersionRow,
        UserRow,
    )

    home = Path(home)
    sizes = sizes_of(
        jobs=jobs,
        versions=versions,
        datasets=datasets,
        audit=audit,
        users=users,
        log_lines=log_lines,
        metric_points=metric_points,
    )
    manifest_path = home / MANIFEST
    if reuse and manifest_path.exists():
        manifest = json.loads(manifest_path.read_text())
        if manifest.get("sizes") == sizes:
            manifest["reused"] = True
            return manifest
    if home.exists():
        shutil.rmtree(home)
    home.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    ws = kiln.Workspace.init(home)
    rng = random.Random(seed_value)
    taken: set[str] = set()
    timings: dict[str, float] = {}
    end = datetime(2026, 12, 1, 12, 0, 0)
    start = end - timedelta(days=365)

    def when(i: int, n: int) -> datetime:
        return start + timedelta(seconds=(end - start).total_seconds() * (i + 1) / (n + 1))

    people = [f"{name}{i}" for i, name in enumerate(["ana", "ben", "chen", "dara", "eli"] * 8)]
    people = people[: max(users, 1)]
    makers = [f"{p}@vm" for p in people] + [f"{p} (studio)" for p in people]

    # -- data set versions: names of 20 versions each ----------------------------------------
    per_name = min(20, datasets)
    names = [
        f"{DOMAINS[i % len(DOMAINS)]}_{kind}_{i:03d}"
        for i, kind in zip(
            range(-(-datasets // per_name)),
            ["raw", "clean", "features", "train", "eval"] * datasets,
            strict=False,
        )
    ]
    ds_ids = _ids(rng, "ds", datasets, taken)
    ds_rows, ds_refs = [], []
    for i, ds_id in enumerate(ds_ids):
        name, version = names[i // per_name], i % per_name + 1
        ds_refs.append(f"{name}:{version}")
        ds_rows.append(
            {
                "id": ds_id,
                "name": name,
                "version": version,
                "digest": f"{rng.getrandbits(256):064x}",
                "row_count": rng.randrange(1_000, 2_000_000),
                "column_count": len(FEATURES) + 1,
                "schema": _schema(rng),
                "size_bytes": rng.randrange(50_000, 90_000_000),
                "source": f"file: /data/{name}/part-{version:03d}.csv",
                "created_at": when(i, datasets),
                "created_by": rng.choice(makers),
            }
        )

    # -- jobs: the newest training job is the big one -----------------------------------------
    experiments = [f"{DOMAINS[i % len(DOMAINS)]}_exp_{i:02d}" for i in range(50)]
    kinds = _weighted(rng, KINDS, jobs)
    # Enough training jobs for one per model version, and the last (newest) job is training.
    training_at = [i for i, k in enumerate(kinds) if k[0] == "training"]
    for i in range(jobs - 1, -1, -1):
        if len(training_at) >= versions + 1:
            break
        if kinds[i][0] != "training":
            kinds[i] = KINDS[0]
            training_at.append(i)
    kinds[-1] = KINDS[0]
    statuses = _weighted(rng, STATUSES, jobs)
    statuses[-1] = STATUSES[0]
    job_ids = [None] * jobs
    by_prefix: dict[str, list[int]] = {}
    for i, kind in enumerate(kinds):
        by_prefix.setdefault(kind[1], []).append(i)
    for prefix, positions in by_prefix.items():
        for i, made in zip(positions, _ids(rng, prefix, len(positions), taken), strict=True):
            job_ids[i] = made
    job_rows = []
    parent = None
    trials_left = 0
    for i, ((kind, _prefix, _w), (status, _sw)) in enumerate(zip(kinds, statuses, strict=True)):
        created = when(i, jobs)
        ended = created + timedelta(seconds=rng.uniform(2, 900))
        ds = rng.randrange(datasets)
        algorithm = rng.choice(ALGORITHMS)
        spec: dict[str, Any] = {"dataset": ds_refs[ds], "dataset_version_id": ds_ids[ds]}
        result: dict[str, Any] = {}
        if kind == "training":
            spec |= {
                "target": "churn",
                "algorithm": algorithm,
                "hyperparameters": HYPERPARAMETERS,
                "group": DOMAINS[ds % len(DOMAINS)],
                "problem_type": None,
                "ratios": [0.7, 0.1, 0.2],
                "validation": "holdout",
                "seed": 42,
                "recipe": None,
            }
            if status == "Completed":
                result = {"metrics": _metrics(rng), "best_iteration": rng.randrange(30, 300)}
        elif kind in ("tuning", "automl"):
            spec |= {"target": "churn", "strategy": "bayesian", "trials": 10, "time_limit": 600}
            if status == "Completed":
                result = {"best": {"algorithm": algorithm, "score": round(rng.random(), 6)}}
        else:
            spec |= {"what": kind, "options": {"rows": rng.randrange(10_000), "format": "csv"}}
            if status == "Completed":
                result = {"rows": rng.randrange(10_000), "seconds": round(rng.random() * 60, 3)}
        row_parent = None
        if kind == "tuning":
            parent, trials_left = job_ids[i], 10
        elif kind == "training" and trials_left and i != jobs - 1:
            row_parent, trials_left = parent, trials_left - 1
        else:
            trials_left = 0
        failure = rng.choice(FAILURES) if status == "Failed" else None
        job_rows.append(
            {
                "id": job_ids[i],
                "kind": kind,
                "status": status,
                "spec": spec,
                "parent_id": row_parent,
                "experiment": rng.choice(experiments) if rng.random() < 0.3 else None,
                "failure_reason": failure[2]
                if failure
                else ("Cancelled by ana0 (studio)." if status == "Stopped" else None),
                "failure_code": failure[0] if failure else None,
                "failure_class": failure[1] if failure else None,
                "result": result,
                "pid": rng.randrange(1000, 60000),
                "host": "vm",
                "pid_created": created.timestamp(),
                "heartbeat_at": ended,
                "launcher_pid": rng.randrange(1000, 60000),
                "created_at": created,
                "started_at": created + timedelta(seconds=0.4),
                "ended_at": ended,
                "created_by": rng.choice(makers),
            }
        )
    big_job = job_ids[-1]
    # The big job ran as long as its log took to write (a line every 5 ms).
    job_rows[-1]["ended_at"] = job_rows[-1]["heartbeat_at"] = job_rows[-1][
        "started_at"
    ] + timedelta(milliseconds=5 * log_lines + 500)

    # -- model groups and versions, each from a Completed training job ------------------------
    n_groups = max(1, -(-versions // 100))
    groups = [f"{DOMAINS[g % len(DOMAINS)]}_model_{g:03d}" for g in range(n_groups)]
    done_training = [i for i in training_at if statuses[i][0] == "Completed" and i != jobs - 1]
    # Versions come from the newest training jobs (the big job's is the last) so that created_at
    # of a version follows its job's.
    sources = (done_training or training_at)[-(versions - 1) :] if versions > 1 else []
    sources = [*sources, jobs - 1]
    while len(sources) < versions:  # fewer Completed training jobs than versions: reuse some
        sources.insert(0, training_at[len(sources) % len(training_at)])
    mv_ids = _ids(rng, "model", versions, taken)
    group_rows = [
        {
            "name": group,
            "description": f"The {group.split('_')[0]} model, retrained weekly.",
            "created_at": start,
            "created_by": rng.choice(makers),
        }
        for group in groups
    ]
    counters = dict.fromkeys(groups, 0)
    mv_rows, lineage_rows = [], []
    for n, (mv_id, j) in enumerate(zip(mv_ids, sources, strict=True)):
        group = groups[n % n_groups]
        counters[group] += 1
        job = job_rows[j]
        created = job["ended_at"]
        approval = _weighted(rng, APPROVALS, 1)[0][0]
        decided = approval != "PendingManualApproval"
        metrics = job["result"].get("metrics") or _metrics(rng)
        job["result"] = {
            **job["result"],
            "model": f"{group}:{counters[group]}",
            "model_version_id": mv_id,
            "metrics": metrics,
        }
        mv_rows.append(
            {
                "id": mv_id,
                "group": group,
                "version": counters[group],
                "digest": f"{rng.getrandbits(256):064x}",
                "algorithm": job["spec"].get("algorithm", "lightgbm"),
                "problem_type": "binary",
                "target": "churn",
                "signature": _signature("churn"),
                "metrics": metrics,
                "hyperparameters": HYPERPARAMETERS,
                "library_versions": LIBRARIES,
                "dataset_version_id": job["spec"]["dataset_version_id"],
                "job_id": job["id"],
                "approval_status": approval,
                "approval_by": rng.choice(makers) if decided else None,
                "approval_at": created + timedelta(hours=2) if decided else None,
                "approval_reason": "Checked on last month's holdout." if decided else None,
                "created_at": created,
                "created_by": job["created_by"],
                "details": {"early_stopping": {"param": "n_estimators", "configured": 300}},
                "compiled": None,
            }
        )
        lineage_rows += [
            {
                "source_kind": "dataset_version",
                "source_id": job["spec"]["dataset_version_id"],
                "target_kind": "job",
                "target_id": job["id"],
                "relation": "input",
                "created_at": job["created_at"],
            },
            {
                "source_kind": "job",
                "source_id": job["id"],
                "target_kind": "model_version",
                "target_id": mv_id,
                "relation": "output",
                "created_at": created,
            },
        ]

    # -- users, audit events, the big job's logs and metrics ----------------------------------
    roles = ["viewer", "scientist", "scientist", "approver", "admin"]
    user_ids = _ids(rng, "user", len(people), taken) if users else []
    user_rows = [
        {
            "id": user_id,
            "name": name,
            "role": roles[i % len(roles)],
            "password_hash": None,
            "created_at": when(i, len(people)),
            "created_by": "root@vm",
            "disabled_at": None,
        }
        for i, (user_id, name) in enumerate(zip(user_ids, people, strict=False))
    ]
    audit_rows = []
    for i in range(audit):
        action = rng.choice(ACTIONS)
        outcome = rng.choices(["ok", "refused", "failed"], weights=[90, 7, 3])[0]
        audit_rows.append(
            {
                "at": when(i, audit),
                "user": f"{rng.choice(people)} (studio)",
                "action": action,
                "target": rng.choice(mv_rows)["group"] if "model" in action else job_ids[i % jobs],
                "reason": "weekly retrain" if rng.random() < 0.2 else "",
                "outcome": outcome,
                "detail": {"role": "viewer", "role_needed": "approver"}
                if outcome == "refused"
                else {},
            }
        )
    big_start = job_rows[-1]["started_at"]
    log_rows = []
    for i in range(log_lines):
        level = "WARNING" if i % 997 == 0 else "INFO"
        message = (
            f"[{i + 1}] train_binary_logloss={0.6 / (1 + i / 5000):.6f} "
            f"validation_binary_logloss={0.62 / (1 + i / 6000):.6f} leaves=31 "
            f"rows={rng.randrange(4000, 5000)}"
        )
        log_rows.append(
            {
                "job_id": big_job,
                "time": big_start + timedelta(milliseconds=5 * i),
                "level": level,
                "message": message,
            }
        )
    metric_rows = []
    per_series = -(-metric_points // len(METRIC_NAMES)) if metric_points else 0
    for name in METRIC_NAMES:
        for step in range(1, per_series + 1):
            if len(metric_rows) == metric_points:
                break
            scale = 0.6 if name.startswith("train") else 0.66
            value = scale / (1 + step / 800) + rng.uniform(-0.005, 0.005)
            metric_rows.append({"job_id": big_job, "name": name, "step": step, "value": value})

    # -- the writes: one transaction, executemany per table -----------------------------------
    writing = time.perf_counter()
    with ws.store.write() as session:
        _insert(session, DatasetVersionRow.__table__, ds_rows, timings)
        session.execute(
            ExperimentRow.__table__.insert(),
            [
                {"name": e, "description": "", "created_at": start, "created_by": "root@vm"}
                for e in experiments
            ],
        )
        # Parents (tuning jobs) come before their trials, so the foreign key holds row by row.
        _insert(session, JobRow.__table__, job_rows, timings)
        _insert(session, ModelGroupRow.__table__, group_rows, timings)
        _insert(session, ModelVersionRow.__table__, mv_rows, timings)
        _insert(session, LineageRow.__table__, lineage_rows, timings)
        if user_rows:
            _insert(session, UserRow.__table__, user_rows, timings)
        if audit_rows:
            _insert(session, AuditEventRow.__table__, audit_rows, timings)
        if log_rows:
            _insert(session, JobLogRow.__table__, log_rows, timings)
        if metric_rows:
            _insert(session, JobMetricRow.__table__, metric_rows, timings)
    written = time.perf_counter()
    ws.close()
    db = home / "kiln.db"
    manifest = {
        "sizes": sizes,
        "home": str(home),
        "reused": False,
        "seconds": {
            "build_rows": round(writing - started, 3),
            "insert": round(written - writing, 3),
            "total": round(time.perf_counter() - started, 3),
            "by_table": timings,
        },
        "sqlite_bytes": db.stat().st_size if db.exists() else None,
        "big_job": big_job,
        "group": groups[0],
        "dataset_name": names[0],
        "experiment": experiments[0],
        "user": people[0],
        "job_query": job_ids[jobs // 2][-12:-6],
    }
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("home", type=Path)
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--versions", type=int, default=10_000)
    parser.add_argument("--datasets", type=int, default=1_000)
    parser.add_argument("--audit", type=int, default=10_000)
    parser.add_argument("--log-lines", type=int, default=100_000)
    parser.add_argument("--metric-points", type=int, default=10_000)
    parser.add_argument("--reseed", action="store_true", help="seed again even if reusable")
    args = parser.parse_args(argv)
    manifest = seed(
        args.home,
        jobs=args.jobs,
        versions=args.versions,
        datasets=args.datasets,
        audit=args.audit,
        log_lines=args.log_lines,
        metric_points=args.metric_points,
        reuse=not args.reseed,
    )
    json.dump(manifest, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
