"""Studio at scale (issue 16): list API latency and time to a usable page on a big workspace, and
MLflow's tracking UI on as many runs beside it.

1. Seeds (or reuses) a workspace through the store (``ui_seed.py``): 100,000 jobs, 10,000 model
   versions, 1,000 data set versions, 10,000 audit events, and one training job with 100,000 log
   lines and 10,000 metric points.
2. Runs Studio (``kiln.studio.studio_config`` under uvicorn, as ``kiln ui`` does) in a subprocess
   and calls every paged list route with an API token: first page, a deep page, each filter, each
   sort, interleaved round by round; p50/p95/max per call. A route answering 404 (not on this
   checkout yet) is skipped and named; another error is shown with its code.
3. Drives Debian's Chromium through Playwright: signs in with a login link, then times, for each
   list page, the navigation (from about:blank) to its table's first rows being visible, and the
   big job's page to its last log line and its metric chart being drawn; median of several loads.
4. With MLflow in its own venv (``--mlflow-python``; never a kiln dependency): as many runs as
   jobs (each with 4 params, 4 metrics and 3 tags), bulk-inserted into the SQLite store after
   MLflow made the schema; then ``runs/search`` (first page, a deep page, a filter) and the
   experiment page to first rows, in the same way.

Every timed process runs on the CPUs of ``--cpus`` (default: CPU 1 only, as ``taskset -c 1``),
the client and browser included: requests are sent one at a time, so they wait for each other
rather than compete. Results: ``benchmarks/out/ui.json`` and Markdown tables on stdout.

    python benchmarks/ui.py --jobs 100000 --versions 10000 --datasets 1000
    python benchmarks/ui.py --quick          # 5,000 jobs, fewer calls: a smoke run

MLflow's venv, made once (3.18.0 needs an ``mlflow-tracing`` 3.18.0 this machine's index lacks)::

    python3 -m venv /tmp/mlflow-venv && /tmp/mlflow-venv/bin/pip install mlflow==3.17.2
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from _common import (
    OUT_DIR,
    REPO,
    CpuMeter,
    child_env,
    free_port,
    log,
    machine_info,
    markdown_table,
    percentile,
    stop,
    wait_for_ping,
    write_json,
)
from ui_seed import seed

CHROMIUM = os.environ.get("KILN_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [  # as tests/studio/conftest.py: no sandbox (root), no calls to Google's hosts
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
TARGET_API_MS = 150.0
TARGET_PAGE_S = 1.0
BENCH_USER = "bench_admin"
# A call is timed --calls times, or fewer (not under MIN_CALLS) once its samples add up to this.
CASE_BUDGET_S = 30.0
MIN_CALLS = 5
NO_ROUTE = "no such route on this checkout"
MLFLOW_TIMEOUT_S = 120.0
MLFLOW_SEED = 2  # bumped when the seeded MLflow store changes, so an older one is made again

SERVER = """
import sys, uvicorn
from kiln.workspace import Workspace
from kiln.studio import studio_config
config = studio_config(Workspace(sys.argv[1]), port=int(sys.argv[2]), log_level="warning")
uvicorn.Server(config).run()
"""


# -- the API calls --------------------------------------------------------------------------------
def api_cases(manifest: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """``(label, path, query)`` of every list call timed: each route's first page, a deep page,
    each filter and each sort."""
    sizes = manifest["sizes"]
    big = manifest["big_job"]
    deep_jobs = min(50_000, sizes["jobs"] // 2)
    cases = [
        ("jobs: first page", "/api/jobs", {}),
        ("jobs: oldest first", "/api/jobs", {"sort": "created_at"}),
        ("jobs: newest first", "/api/jobs", {"sort": "-created_at"}),
        (f"jobs: offset {deep_jobs:,}", "/api/jobs", {"offset": deep_jobs}),
        ("jobs: kind=training", "/api/jobs", {"kind": "training"}),
        ("jobs: status=Failed", "/api/jobs", {"status": "Failed"}),
        ("jobs: kind=tuning, status=Stopped", "/api/jobs", {"kind": "tuning", "status": "Stopped"}),
        ("jobs: q (id part)", "/api/jobs", {"q": manifest["job_query"]}),
        ("jobs: sort by kind", "/api/jobs", {"sort": "kind"}),
        ("jobs: sort by status", "/api/jobs", {"sort": "-status"}),
        ("jobs: top level only", "/api/jobs", {"top_level": "true"}),
        ("jobs: experiment", "/api/jobs", {"experiment": manifest["experiment"]}),
        ("models: groups", "/api/models", {}),
        ("models: groups, q", "/api/models", {"q": "fraud"}),
        ("versions: first page", "/api/models/versions", {}),
        ("versions: group", "/api/models/versions", {"group": manifest["group"]}),
        ("versions: status=Approved", "/api/models/versions", {"status": "Approved"}),
        ("versions: q", "/api/models/versions", {"q": "churn"}),
        (
            f"versions: offset {sizes['versions'] // 2:,}",
            "/api/models/versions",
            {"offset": sizes["versions"] // 2},
        ),
        ("versions: oldest first", "/api/models/versions", {"sort": "created_at"}),
        ("versions: algorithm", "/api/models/versions", {"algorithm": "xgboost"}),
        ("versions: by test roc_auc", "/api/models/versions", {"sort": "-test.roc_auc"}),
        ("versions: one group's", f"/api/models/{manifest['group']}/versions", {}),
        ("data: first page", "/api/data", {}),
        ("data: q", "/api/data", {"q": manifest["dataset_name"][:5]}),
        ("data: sort by name", "/api/data", {"sort": "name"}),
        ("data: one set's versions", f"/api/data/{manifest['dataset_name']}/versions", {}),
        ("audit: first page", "/api/audit", {}),
        ("audit: q", "/api/audit", {"q": "approve"}),
        ("audit: user", "/api/audit", {"user": f"{manifest['user']} (studio)"}),
        ("audit: outcome=refused", "/api/audit", {"outcome": "refused"}),
        (f"audit: offset {sizes['audit'] // 2:,}", "/api/audit", {"offset": sizes["audit"] // 2}),
        ("users: first page", "/api/users", {}),
        ("users: q", "/api/users", {"q": "ana"}),
        ("users: role=scientist", "/api/users", {"role": "scientist"}),
        ("big job: record", f"/api/jobs/{big}", {}),
        ("big job: logs tail=1000", f"/api/jobs/{big}/logs", {"tail": 1000}),
        ("big job: metrics max_points=1000", f"/api/jobs/{big}/metrics", {"max_points": 1000}),
    ]
    return cases


def time_api(base: str, token: str, manifest: dict, calls: int) -> tuple[list[dict], list[dict]]:
    """Each case ``calls`` times, round by round; returns (timed rows, skipped rows)."""
    import httpx

    timed, skipped = [], []
    live = []
    with httpx.Client(
        base_url=base, headers={"authorization": f"Bearer {token}"}, timeout=60
    ) as client:
        for label, path, query in api_cases(manifest):
            response = client.get(path, params=query)
            if response.status_code != 200:
                try:
                    body = response.json()
                except ValueError:
                    body = {"error": response.text[:100]}
                reason = (
                    NO_ROUTE
                    if response.status_code == 404 and body.get("detail") == "Not Found"
                    else f"{body.get('error')}: {str(body.get('detail'))[:120]}"
                )
                skipped.append({"call": label, "status": response.status_code, "why": reason})
                log(f"skip {label}: {response.status_code} {reason}")
                continue
            for _ in range(2):  # warm-up
                client.get(path, params=query)
            live.append({"call": label, "path": path, "query": query, "seconds": [], "bytes": 0})
        for _ in range(calls):
            for case in live:
                if len(case["seconds"]) >= MIN_CALLS and sum(case["seconds"]) > CASE_BUDGET_S:
                    continue  # a slow call: enough samples, the run stays minutes long
                started = time.perf_counter()
                response = client.get(case["path"], params=case["query"])
                case["seconds"].append(time.perf_counter() - started)
                response.raise_for_status()
                case["bytes"] = len(response.content)
                body = response.json()
                case["total"] = body.get("total") if isinstance(body, dict) else None
    for case in live:
        ms = [s * 1e3 for s in case.pop("seconds")]
        timed.append(
            {
                **case,
                "n": len(ms),
                "p50_ms": round(percentile(ms, 50), 2),
                "p95_ms": round(percentile(ms, 95), 2),
                "max_ms": round(max(ms), 2),
                "met": percentile(ms, 95) <= TARGET_API_MS,
            }
        )
    return timed, skipped


# -- the browser ----------------------------------------------------------------------------------
# Each list page's route and the selector of its table's rows (src/kiln/studio/static/pages/).
PAGES = [  # (label, route, selectors that must all show a row, the API area it needs)
    ("Jobs", "/jobs", ["#jobs-table"], "jobs"),
    ("Models", "/models", ["#model-groups", "#model-versions"], "models"),
    ("Model group", "/models/{group}", ["#group-versions"], "versions"),
    ("Data", "/data", ["#datasets-table"], "data"),
    ("Data set versions", "/data/{dataset_name}", ["#versions-table"], "data"),
    ("Audit log", "/audit", ["#audit-table"], "audit"),
    ("Users", "/users", ["#users-table"], "users"),
]
ROW = " tbody tr td:not(.muted)"  # a row of data, not the empty table's message
# The big job's page is usable when its last log line is shown and Plotly has drawn its chart.
JOB_PAGE_READY = """(last) => document.body.innerText.includes(last)
    && document.querySelector('.js-plotly-plot .main-svg') !== null"""


def launch_browser():
    from playwright.sync_api import sync_playwright

    playwright = sync_playwright().start()
    browser = playwright.chromium.launch(
        executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
    )
    return playwright, browser


def time_loads(page, url: str, ready, loads: int, timeout_ms: float = 15_000) -> list[float]:
    """Seconds from navigating (from about:blank) to ``url`` until ``ready(page)`` returns, each
    of ``loads`` times (after one untimed load that fills the HTTP cache)."""
    seconds = []
    for i in range(loads + 1):
        page.goto("about:blank")
        started = time.perf_counter()
        page.goto(url)
        ready(page, timeout_ms)
        if i:
            seconds.append(time.perf_counter() - started)
    return seconds


def summary_s(label: str, seconds: list[float], **extra: Any) -> dict[str, Any]:
    return {
        "page": label,
        "n": len(seconds),
        "median_s": round(statistics.median(seconds), 3),
        "max_s": round(max(seconds), 3),
        "met": statistics.median(seconds) <= TARGET_PAGE_S,
        **extra,
    }


def time_studio_pages(
    base: str, home: Path, manifest: dict, skipped: list[dict], loads: int
) -> tuple[list[dict], list[str]]:
    """Median time to a usable page for each list page and the big job's page; the pages whose
    API route is missing are skipped. Returns (rows, console errors seen)."""
    from kiln.workspace import Workspace

    missing = {row["call"].split(":")[0] for row in skipped if row["why"] == NO_ROUTE}
    ws = Workspace(home)
    link = ws.users.login_link_token(BENCH_USER).token
    ws.close()
    playwright, browser = launch_browser()
    errors: list[str] = []
    rows = []
    try:
        context = browser.new_context(viewport={"width": 1360, "height": 900})
        page = context.new_page()
        page.on("console", lambda m: m.type == "error" and errors.append(m.text))
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(f"{base}/api/session/link?token={link}")
        page.wait_for_selector("body[data-ready=signed-in]")
        for label, path, tables, area in PAGES:
            if area in missing:
                log(f"skip the {label} page: its API is not on this checkout")
                rows.append({"page": label, "skipped": f"its API ({area}) answers 404"})
                continue

            def ready(p, timeout, tables=tables):
                for table in tables:
                    p.wait_for_selector(table + ROW, state="visible", timeout=timeout)

            try:
                seconds = time_loads(page, f"{base}/#{path.format(**manifest)}", ready, loads)
            except Exception as exc:  # a page not built yet: say so, time the rest
                log(f"skip the {label} page: {str(exc).splitlines()[0]}")
                rows.append({"page": label, "skipped": str(exc).splitlines()[0][:160]})
                continue
            rows.append(summary_s(label, seconds, selector=", ".join(tables)))
        big = manifest["big_job"]
        last_line = f"[{manifest['sizes']['log_lines']}] "
        if "big job" in missing or "jobs" in missing:
            rows.append({"page": "Job (big)", "skipped": "/api/jobs/{id} answers 404"})
        else:
            try:
                seconds = time_loads(
                    page,
                    f"{base}/#/jobs/{big}",
                    lambda p, t: p.wait_for_function(JOB_PAGE_READY, arg=last_line, timeout=t),
                    loads,
                )
                rows.append(summary_s("Job (big)", seconds, selector="last log line + chart"))
                page.screenshot(path=str(OUT_DIR / "ui-big-job.png"), full_page=False)
            except Exception as exc:
                rows.append({"page": "Job (big)", "skipped": str(exc).splitlines()[0][:160]})
        context.close()
    finally:
        browser.close()
        playwright.stop()
    return rows, errors


# -- MLflow ----------------------------------------------------------------------------------------
MLFLOW_SCHEMA = """
import sys
from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore
store = SqlAlchemyStore(sys.argv[1], sys.argv[2])
print(store.create_experiment("bench"))
"""


def stop_group(process: subprocess.Popen) -> None:
    """Stop a process started with ``start_new_session`` and every process of its group."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=15)
    time.sleep(1)  # let its children see the signal and go
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=10)


def seed_mlflow(python: str, folder: Path, runs: int) -> dict[str, Any]:
    """An MLflow SQLite store with one experiment of ``runs`` runs (4 params, 4 metrics with
    their latest values, 3 tags each): MLflow makes the schema, then executemany inserts."""
    db = folder / "mlflow.db"
    marker = folder / "seeded.json"
    if marker.exists() and json.loads(marker.read_text()).get("format") == [MLFLOW_SEED, runs]:
        return {**json.loads(marker.read_text()), "reused": True}
    if folder.exists():
        import shutil

        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    started = time.perf_counter()
    made = subprocess.run(
        [python, "-c", MLFLOW_SCHEMA, f"sqlite:///{db}", (folder / "artifacts").as_uri()],
        capture_output=True,
        text=True,
        env=child_env(),
        check=True,
    )
    experiment = made.stdout.strip().splitlines()[-1]
    schema_s = time.perf_counter() - started
    base_ms = int(time.time() * 1000) - runs * 60_000
    artifacts = (folder / "artifacts").as_uri()
    run_rows, params, metrics, latest, tags = [], [], [], [], []
    for i in range(runs):
        run_id = f"{i:032x}"
        start = base_ms + i * 60_000
        status = "FAILED" if i % 11 == 0 else "FINISHED"
        name = f"run-{i:06d}"
        run_rows.append(
            (
                run_id,
                name,
                "LOCAL",
                "",
                "",
                "root",
                status,
                start,
                start + 30_000,
                "",
                "active",
                f"{artifacts}/{experiment}/{run_id}/artifacts",
                experiment,
                None,
            )
        )
        for key, value in (
            ("algorithm", "lightgbm"),
            ("learning_rate", "0.05"),
            ("num_leaves", "31"),
            ("n_estimators", str(100 + i % 200)),
        ):
            params.append((key, value, run_id))
        for key in ("roc_auc", "accuracy", "f1", "log_loss"):
            value = ((i * 7919) % 1000) / 1000
            metrics.append((key, value, start, run_id, 0, 0))
            latest.append((key, value, start, 0, 0, run_id))
        for key, value in (
            ("mlflow.runName", name),
            ("mlflow.user", "root"),
            ("mlflow.source.type", "LOCAL"),
        ):
            tags.append((key, value, run_id))
    with sqlite3.connect(db) as con:
        columns = [r[1] for r in con.execute("PRAGMA table_info(runs)")]
        expected = [
            "run_uuid",
            "name",
            "source_type",
            "source_name",
            "entry_point_name",
            "user_id",
            "status",
            "start_time",
            "end_time",
            "source_version",
            "lifecycle_stage",
            "artifact_uri",
            "experiment_id",
            "deleted_time",
        ]
        if columns != expected:
            raise RuntimeError(f"MLflow's runs table changed: {columns}")
        con.executemany(f"INSERT INTO runs VALUES ({','.join('?' * 14)})", run_rows)
        con.executemany("INSERT INTO params (key, value, run_uuid) VALUES (?,?,?)", params)
        con.executemany(
            "INSERT INTO metrics (key, value, timestamp, run_uuid, step, is_nan) "
            "VALUES (?,?,?,?,?,?)",
            metrics,
        )
        con.executemany(
            "INSERT INTO latest_metrics (key, value, timestamp, step, is_nan, run_uuid) "
            "VALUES (?,?,?,?,?,?)",
            latest,
        )
        con.executemany("INSERT INTO tags (key, value, run_uuid) VALUES (?,?,?)", tags)
        # MLflow 3's UI opens an experiment of unknown kind as a GenAI one (traces, no runs).
        con.execute(
            "INSERT INTO experiment_tags (key, value, experiment_id) VALUES (?,?,?)",
            ("mlflow.experimentKind", "custom_model_development", int(experiment)),
        )
    info = {
        "format": [MLFLOW_SEED, runs],
        "runs": runs,
        "experiment_id": experiment,
        "schema_s": round(schema_s, 2),
        "seed_s": round(time.perf_counter() - started, 2),
        "sqlite_bytes": db.stat().st_size,
    }
    marker.write_text(json.dumps(info))
    return {**info, "reused": False}


def mlflow_cases(experiment: str, runs: int) -> list[tuple[str, dict[str, Any]]]:
    deep = min(50_000, runs // 2)
    token = base64.b64encode(json.dumps({"offset": deep}).encode()).decode()
    common = {"experiment_ids": [experiment], "max_results": 100, "run_view_type": "ACTIVE_ONLY"}
    return [
        ("runs/search: first page", {**common, "order_by": ["attributes.start_time DESC"]}),
        ("runs/search: oldest first", {**common, "order_by": ["attributes.start_time ASC"]}),
        (f"runs/search: offset {deep:,}", {**common, "page_token": token}),
        ("runs/search: status FAILED", {**common, "filter": "attributes.status = 'FAILED'"}),
        ("runs/search: metric filter", {**common, "filter": "metrics.roc_auc > 0.9"}),
        ("runs/search: sort by metric", {**common, "order_by": ["metrics.roc_auc DESC"]}),
    ]


def run_mlflow(python: str, runs: int, calls: int, loads: int) -> dict[str, Any]:
    """Seed, serve and time MLflow; ``{"skipped": why}`` when it cannot run here."""
    import httpx

    if not Path(python).exists():
        return {"skipped": f"no MLflow venv at {python} (see the docstring)"}
    version = subprocess.run(
        [python, "-c", "import mlflow; print(mlflow.__version__)"],
        capture_output=True,
        text=True,
    )
    if version.returncode:
        return {"skipped": f"mlflow does not import in {python}: {version.stderr[-300:]}"}
    folder = OUT_DIR / f"ui-mlflow-{runs}"
    log(f"MLflow {version.stdout.strip()}: seeding {runs:,} runs")
    seeded = seed_mlflow(python, folder, runs)
    log(f"MLflow store: {seeded}")
    port = free_port()
    mlflow_bin = str(Path(python).parent / "mlflow")
    server = subprocess.Popen(
        [
            mlflow_bin,
            "server",
            "--backend-store-uri",
            f"sqlite:///{folder / 'mlflow.db'}",
            "--default-artifact-root",
            (folder / "artifacts").as_uri(),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        # MLflow 3's server also starts a job runner with seven task consumers (GenAI
        # evaluation jobs) that poll the store; runs/search needs none of them.
        env=child_env(MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,  # its own process group: uvicorn is a child of `mlflow server`
    )
    base = f"http://127.0.0.1:{port}"
    out: dict[str, Any] = {"version": version.stdout.strip(), "store": seeded}
    try:
        wait_for_ping(server, f"{base}/health", timeout=120)
        cases = mlflow_cases(seeded["experiment_id"], runs)
        samples: dict[str, list[float]] = {label: [] for label, _ in cases}
        failed: dict[str, str] = {}
        meter = CpuMeter()
        with httpx.Client(base_url=base, timeout=MLFLOW_TIMEOUT_S) as client:

            def call(label: str, body: dict) -> float | None:
                started = time.perf_counter()
                try:
                    client.post("/api/2.0/mlflow/runs/search", json=body).raise_for_status()
                except httpx.HTTPError as exc:
                    failed[label] = f"{type(exc).__name__} {str(exc)[:80]}".strip()
                    log(f"MLflow {label}: {failed[label]}")
                    return None
                return time.perf_counter() - started

            # Sorting by a metric may not answer within the timeout, and the server would still
            # be at it during the other calls: it is timed alone, after them and the page.
            last = [case for case in cases if "sort by metric" in case[0]]
            cases = [case for case in cases if case not in last]
            for label, body in cases:
                call(label, body)  # warm-up (and a first answer at all)
            for _ in range(calls):
                for label, body in cases:
                    spent = samples[label]
                    if label in failed or (len(spent) >= MIN_CALLS and sum(spent) > CASE_BUDGET_S):
                        continue  # a slow call: enough samples, the run stays minutes long
                    seconds = call(label, body)
                    if seconds is not None:
                        spent.append(seconds)
            out["page"] = time_mlflow_page(base, seeded["experiment_id"], runs, loads)
            for label, body in last:
                while label not in failed and len(samples[label]) < MIN_CALLS:
                    seconds = call(label, body)
                    if seconds is not None:
                        samples[label].append(seconds)
        out["api_other_load"] = meter.share()
        out["api"] = []
        for label, seconds in samples.items():
            if not seconds:
                out["api"].append({"call": label, "failed": failed.get(label, "no answer")})
                continue
            ms = [s * 1e3 for s in seconds]
            out["api"].append(
                {
                    "call": label,
                    "n": len(ms),
                    "p50_ms": round(percentile(ms, 50), 2),
                    "p95_ms": round(percentile(ms, 95), 2),
                    "max_ms": round(max(ms), 2),
                }
            )
    finally:
        stop_group(server)
    return out


def time_mlflow_page(base: str, experiment: str, runs: int, loads: int) -> dict[str, Any]:
    """The experiment page until the newest run's name is shown in its runs table."""
    newest = f"run-{runs - 1:06d}"
    playwright, browser = launch_browser()
    try:
        context = browser.new_context(viewport={"width": 1360, "height": 900})
        page = context.new_page()
        errors: list[str] = []
        page.on("console", lambda m: m.type == "error" and errors.append(m.text))
        url = f"{base}/#/experiments/{experiment}/runs"

        def ready(p, timeout):
            p.wait_for_function(
                "(name) => document.body.innerText.includes(name)", arg=newest, timeout=timeout
            )

        try:
            seconds = time_loads(page, url, ready, loads, timeout_ms=60_000)
        except Exception as exc:
            page.screenshot(path=str(OUT_DIR / "ui-mlflow-failed.png"))
            return {"page": "MLflow experiment", "skipped": str(exc).splitlines()[0][:200]}
        page.screenshot(path=str(OUT_DIR / "ui-mlflow-experiment.png"))
        context.close()
        return summary_s("MLflow experiment", seconds, console_errors=errors[:5])
    finally:
        browser.close()
        playwright.stop()


# -- the run ------------------------------------------------------------------------------------
def ensure_user(home: Path) -> str:
    """The benchmark's admin user (added once) and a new API token for it."""
    from kiln.errors import StateError
    from kiln.workspace import Workspace

    ws = Workspace(home)
    try:
        with contextlib.suppress(StateError):
            ws.users.add(BENCH_USER, role="admin")
        return ws.users.create_token(BENCH_USER).token
    finally:
        ws.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--versions", type=int, default=10_000)
    parser.add_argument("--datasets", type=int, default=1_000)
    parser.add_argument("--audit", type=int, default=10_000)
    parser.add_argument("--log-lines", type=int, default=100_000)
    parser.add_argument("--metric-points", type=int, default=10_000)
    parser.add_argument("--calls", type=int, default=40, help="timed calls per API case")
    parser.add_argument("--loads", type=int, default=7, help="timed loads per page")
    parser.add_argument("--home", type=Path, default=None, help="the seeded workspace folder")
    parser.add_argument("--reseed", action="store_true")
    parser.add_argument("--cpus", default="1", help="CPUs for every timed process (taskset)")
    parser.add_argument(
        "--src", type=Path, default=REPO / "src", help="the kiln source Studio runs from"
    )
    parser.add_argument("--skip-browser", action="store_true")
    parser.add_argument("--skip-studio", action="store_true", help="MLflow only")
    parser.add_argument("--skip-mlflow", action="store_true")
    parser.add_argument("--mlflow-python", default="/tmp/mlflow-venv/bin/python")
    parser.add_argument("--out", default="ui", help="benchmarks/out/OUT.json")
    parser.add_argument("--quick", action="store_true", help="5,000 jobs, 10 calls, 3 loads")
    args = parser.parse_args()
    if args.quick:
        args.jobs, args.versions, args.datasets, args.audit = 5_000, 500, 100, 1_000
        args.log_lines, args.metric_points, args.calls, args.loads = 10_000, 2_000, 10, 3
    cpus = {int(c) for c in args.cpus.split(",")}
    os.sched_setaffinity(0, cpus)  # every child (server, Chromium, MLflow) inherits it
    home = args.home or OUT_DIR / f"ui-workspace-{args.jobs}"
    info = machine_info()
    log(f"seeding {home} (reused when already seeded at these sizes)")
    manifest = seed(
        home,
        jobs=args.jobs,
        versions=args.versions,
        datasets=args.datasets,
        audit=args.audit,
        log_lines=args.log_lines,
        metric_points=args.metric_points,
        reuse=not args.reseed,
    )
    log(f"seeded: {manifest['seconds']} s, {manifest['sqlite_bytes'] / 1e6:.0f} MB")
    results: dict[str, Any] = {
        "machine": info,
        "studio_src": str(args.src),
        "cpus": sorted(cpus),
        "seed": manifest,
    }
    if not args.skip_studio:
        results |= run_studio(args, home, manifest)
        write_json(args.out, results)
    if not args.skip_mlflow:
        results["mlflow"] = run_mlflow(args.mlflow_python, args.jobs, args.calls, args.loads)
    write_json(args.out, results)
    report(results)


def run_studio(args: argparse.Namespace, home: Path, manifest: dict) -> dict[str, Any]:
    """Studio in a subprocess on the seeded workspace: the API timed, then the pages."""
    token = ensure_user(home)
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(home), str(port)],
        env=child_env(
            PYTHONPATH=os.pathsep.join([str(args.src.resolve()), os.environ.get("PYTHONPATH", "")])
        ),
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    results: dict[str, Any] = {}
    try:
        wait_for_ping(server, f"{base}/api/session")
        log(f"Studio on {base}: timing the list API, {args.calls} calls per case")
        meter = CpuMeter()
        timed, skipped = time_api(base, token, manifest, args.calls)
        results["api"], results["api_skipped"] = timed, skipped
        results["api_other_load"] = meter.share()
        if not args.skip_browser:
            log(f"Chromium: {args.loads} loads per page")
            results["pages"], results["console_errors"] = time_studio_pages(
                base, home, manifest, skipped, args.loads
            )
    finally:
        stop(server)
    return results


def report(results: dict[str, Any]) -> None:
    seeded = results["seed"]
    sizes = seeded["sizes"]
    print(
        f"\nWorkspace: {sizes['jobs']:,} jobs, {sizes['versions']:,} model versions, "
        f"{sizes['datasets']:,} data set versions, {sizes['audit']:,} audit events, a job of "
        f"{sizes['log_lines']:,} log lines and {sizes['metric_points']:,} metric points; "
        f"SQLite file {seeded['sqlite_bytes'] / 1e6:,.0f} MB; seeded in "
        f"{seeded['seconds']['total']:.1f} s ({'reused' if seeded.get('reused') else 'new'}). "
        f"CPUs {results['cpus']}; load average at the start "
        f"{results['machine']['load_average_at_start']}; other processes' CPU share while the "
        f"API was timed: {results.get('api_other_load')}.\n"
    )
    if "api" in results:
        rows = [
            [
                r["call"],
                r["n"],
                r["p50_ms"],
                r["p95_ms"],
                r["max_ms"],
                f"{r['bytes']:,}",
                "yes" if r["met"] else "**no**",
            ]
            for r in results["api"]
        ]
        print(
            markdown_table(
                ["Studio API call", "n", "p50 ms", "p95 ms", "max ms", "bytes", "p95 ≤ 150 ms"],
                rows,
            )
        )
        skipped: dict[str, list[str]] = {}
        for r in results.get("api_skipped", []):
            skipped.setdefault(f"{r['status']}: {r['why']}", []).append(r["call"])
        for why, calls in skipped.items():
            print(f"\nSkipped ({why}): {', '.join(calls)}.")
        if "pages" in results:
            rows = [
                [
                    r["page"],
                    r.get("n", ""),
                    r.get("median_s", ""),
                    r.get("max_s", ""),
                    r.get("skipped") or ("yes" if r["met"] else "**no**"),
                ]
                for r in results["pages"]
            ]
            print()
            print(markdown_table(["Studio page", "loads", "median s", "max s", "≤ 1 s"], rows))
            if results["console_errors"]:
                print(f"\nConsole errors: {results['console_errors'][:5]}")
    mlflow = results.get("mlflow")
    if mlflow:
        print()
        if "skipped" in mlflow:
            print(f"MLflow: skipped: {mlflow['skipped']}")
            return
        print(f"MLflow {mlflow['version']}: {mlflow['store']}")
        print(f"Other processes' CPU share while timed: {mlflow['api_other_load']}")
        rows = [
            [
                r["call"],
                r.get("n", 0),
                r.get("p50_ms", r.get("failed")),
                r.get("p95_ms", ""),
                r.get("max_ms", ""),
            ]
            for r in mlflow["api"]
        ]
        print(markdown_table(["MLflow API call", "n", "p50 ms", "p95 ms", "max ms"], rows))
        page = mlflow["page"]
        print(f"\nMLflow experiment page: {page}")


if __name__ == "__main__":
    main()
