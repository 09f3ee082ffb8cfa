"""Server isolation benchmark: how much one client's trouble slows a healthy endpoint.

Issue 19, items 13-14. A healthy endpoint (``churn``, LightGBM) is timed with sequential
single-row requests over one keep-alive connection while, in a separate process:

  quiet      nothing else happens (an endpoint whose big model fails its digest check is deployed
             throughout, as in the reported defect);
  unknown    a client loops on ``POST /endpoints/nope/invocations``;
  redeploy   two big models (extra trees, ~250 MB each) are deployed in turn to another endpoint,
             over and over, so the server loads a big model at every revision;
  big-body   (``/ping`` is timed instead) a client sends ~9 MiB JSON bodies in a loop.

With ``--before-src PATH`` (the ``src`` folder of an older checkout, e.g. a ``git worktree`` at
the commit before the change) each scenario runs against both servers, alternating, in one run:
the ratio is what counts on a shared machine.

    git worktree add ../kiln-before 40c858b
    .venv/bin/python benchmarks/server_isolation.py --before-src ../kiln-before/src

Prints a Markdown table and writes benchmarks/out/server_isolation.json. About 6 minutes with
``--before-src`` (training the three big models takes one of them).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _common
from _common import HERE, OUT_DIR, child_env, free_port, log, markdown_table, stop, wait_for_ping

FLOOD = r"""
import sys, time, httpx, json
url, mode, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
deadline = time.monotonic() + seconds
with httpx.Client(timeout=60) as client:
    if mode == "unknown":
        body = json.dumps([{"x": 1}]).encode()
        while time.monotonic() < deadline:
            client.post(url + "/endpoints/nope/invocations", content=body,
                        headers={"content-type": "application/json"})
    elif mode == "big-body":
        record = json.loads(sys.argv[4])
        body = json.dumps([record] * int(9 * 2**20 / len(json.dumps(record)))).encode()
        while time.monotonic() < deadline:
            client.post(url + "/endpoints/churn/invocations", content=body,
                        headers={"content-type": "application/json"})
"""

REDEPLOY = r"""
import sys, time, kiln
home, refs, seconds = sys.argv[1], sys.argv[2].split(","), float(sys.argv[3])
ws = kiln.Workspace(home)
deadline = time.monotonic() + seconds
deploys = 0
while time.monotonic() < deadline:
    ws.endpoints.deploy(refs[deploys % 2], endpoint="big")  # another model each time: a load
    deploys += 1
"""


def big_model(ws, seed: int, trees: int) -> str:
    """A big extra-trees model (fully grown on noise): about 2.8 MB per tree."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    rows = 60_000
    frame = pd.DataFrame(rng.normal(size=(rows, 8)), columns=[f"x{i}" for i in range(8)])
    frame["y"] = rng.integers(0, 2, rows).astype(str)
    name = f"noise{seed}"
    ws.data.ingest(frame, name=name)
    result = ws.train(
        name,
        target="y",
        algorithm="extra_trees",
        hyperparameters={
            "n_estimators": trees,
            "min_samples_leaf": 1,
            "max_features": "all",
        },
        validation="holdout",
    )
    return result.model.ref


def artifact_path(ws, ref: str) -> Path:
    digest = ws.models.get(ref).digest
    return Path(ws.settings.artifacts_url) / "sha256" / digest[:2] / digest[2:]


def start_server(home: Path, port: int, src: str | None) -> subprocess.Popen:
    env = child_env()
    if src:
        env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    process = subprocess.Popen(
        [sys.executable, "-m", "kiln", "--home", str(home), "serve", "--port", str(port)]
        + ["--log-level", "critical"],
        env=env,
        stdout=subprocess.DEVNULL,
        # Not a pipe: nobody reads it, and a server that logs a lot would block on a full pipe.
        stderr=subprocess.DEVNULL,
    )
    wait_for_ping(process, f"http://127.0.0.1:{port}/ping", timeout=180)
    return process


def measure(url: str, path: str, body: bytes | None, seconds: float) -> list[float]:
    """Sequential requests for ``seconds``; each one's latency in ms."""
    import httpx

    samples = []
    deadline = time.monotonic() + seconds
    with httpx.Client(timeout=120) as client:
        while time.monotonic() < deadline:
            started = time.perf_counter()
            if body is None:
                response = client.get(url + path)
            else:
                response = client.post(
                    url + path, content=body, headers={"content-type": "application/json"}
                )
            samples.append((time.perf_counter() - started) * 1e3)
            assert response.status_code == 200, response.text[:300]
    return samples


def run_scenario(
    name: str, home: Path, url: str, big_refs: str, seconds: float, src: str | None
) -> dict:
    record = _common.sample_record()
    body = json.dumps([record]).encode()
    helper = None
    if name in ("unknown", "big-body"):
        helper = subprocess.Popen(
            [sys.executable, "-c", FLOOD, url, name, str(seconds + 5), json.dumps(record)],
            env=child_env(),
        )
    elif name == "redeploy":
        helper = subprocess.Popen(
            [sys.executable, "-c", REDEPLOY, str(home), big_refs, str(seconds + 5)],
            env=child_env(PYTHONPATH=src or ""),
        )
    time.sleep(2.0 if helper else 0.5)  # let the load start
    if name == "big-body":
        samples = measure(url, "/ping", None, seconds)
    else:
        samples = measure(url, "/endpoints/churn/invocations", body, seconds)
    if helper is not None:
        helper.terminate()
        helper.wait()
    samples.sort()
    return {
        "n": len(samples),
        "p50_ms": statistics.median(samples),
        "p99_ms": samples[min(len(samples) - 1, int(0.99 * len(samples)))],
        "max_ms": samples[-1],
    }


def prepare(home: Path, trees: int) -> dict:
    """The workspace under test: churn served, a big model deployed, a broken big model deployed."""
    ws, churn_ref = _common.prepare_workspace(home)
    big_refs = [big_model(ws, seed=seed, trees=trees) for seed in (1, 2)]
    broken_ref = big_model(ws, seed=3, trees=trees)
    for ref in (churn_ref, *big_refs, broken_ref):  # deploy takes Approved models only
        ws.models.approve(ref, reason="benchmark")
    ws.endpoints.deploy(churn_ref, endpoint="churn")
    ws.endpoints.deploy(big_refs[0], endpoint="big")
    ws.endpoints.deploy(broken_ref, endpoint="broken")
    path = artifact_path(ws, broken_ref)
    path.chmod(0o644)
    with open(path, "r+b") as handle:  # one changed byte: the digest check fails
        handle.seek(-1, os.SEEK_END)
        last = handle.read(1)
        handle.seek(-1, os.SEEK_END)
        handle.write(bytes([last[0] ^ 1]))
    size_mb = artifact_path(ws, big_refs[0]).stat().st_size / 1e6
    ws.close()
    return {"big_refs": ",".join(big_refs), "big_model_mb": size_mb}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prepare", metavar="HOME", help=argparse.SUPPRESS)
    parser.add_argument("--before-src", help="src folder of an older kiln to compare against")
    parser.add_argument(
        "--scenarios",
        default="quiet,unknown,redeploy,big-body",
        help="comma-separated subset of quiet, unknown, redeploy, big-body",
    )
    parser.add_argument("--seconds", type=float, default=15.0, help="per scenario and server")
    parser.add_argument(
        "--trees", type=int, default=90, help="size of the big model (~2.8 MB a tree)"
    )
    args = parser.parse_args()
    if args.prepare:
        print(json.dumps(prepare(Path(args.prepare), args.trees)))
        return

    servers = {"after": None}
    if args.before_src:
        servers = {"before": str(Path(args.before_src).resolve()), "after": None}
        imported = subprocess.run(
            [sys.executable, "-c", "import kiln; print(kiln.__file__)"],
            env=child_env(PYTHONPATH=servers["before"]),
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        if not imported.startswith(servers["before"]):
            raise SystemExit(f"--before-src {args.before_src}: kiln imports from {imported}")
    with tempfile.TemporaryDirectory() as tmp:
        # The workspace is made by the oldest code compared (a newer kiln upgrades its database
        # when it opens it; an older one cannot read a newer one), then copied for each server.
        first = Path(tmp) / "first"
        log("training the churn model and two big models")
        made = subprocess.run(
            [sys.executable, __file__, "--prepare", str(first), "--trees", str(args.trees)],
            env=child_env(PYTHONPATH=servers.get("before") or ""),
            capture_output=True,
            text=True,
            check=True,
        )
        prepared = json.loads(made.stdout.strip().splitlines()[-1])
        size_mb = prepared["big_model_mb"]
        log(f"big model: {size_mb:.0f} MB")
        homes = {}
        for label in servers:
            homes[label] = Path(tmp) / label
            shutil.copytree(first, homes[label])

        results: dict[str, dict[str, dict]] = {}
        for scenario in args.scenarios.split(","):
            for label, src in servers.items():
                port = free_port()
                server = start_server(homes[label], port, src)
                try:
                    log(f"{scenario}: {label}")
                    results.setdefault(scenario, {})[label] = run_scenario(
                        scenario,
                        homes[label],
                        f"http://127.0.0.1:{port}",
                        prepared["big_refs"],
                        args.seconds,
                        src,
                    )
                finally:
                    stop(server)

    rows = []
    for scenario, by_server in results.items():
        timed = "GET /ping" if scenario == "big-body" else "churn, 1 row"
        for label, figures in by_server.items():
            rows.append(
                [
                    scenario,
                    label,
                    timed,
                    figures["n"],
                    f"{figures['p50_ms']:.2f}",
                    f"{figures['p99_ms']:.1f}",
                    f"{figures['max_ms']:.0f}",
                ]
            )
    print(f"big model {size_mb:.0f} MB\n")
    print(markdown_table(["scenario", "server", "timed", "n", "p50 ms", "p99 ms", "max ms"], rows))
    OUT_DIR.mkdir(exist_ok=True)
    (OUT_DIR / "server_isolation.json").write_text(
        json.dumps({"big_model_mb": size_mb, "results": results}, indent=2)
    )


if __name__ == "__main__":
    sys.path.insert(0, str(HERE))
    main()
