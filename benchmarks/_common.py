"""Shared helpers of the kiln benchmarks: workspace set-up, process control, statistics, reports.

Every process a benchmark starts (kiln servers, baselines, load generators, transform jobs) gets
``OMP_WAIT_POLICY=PASSIVE``, the setting kiln itself applies on import, so that OpenMP thread
pools never spin against the process being measured on a small machine.

Run as a script, this module is the fallback load generator for ``serving.py`` when ``wrk`` is
not installed::

    python benchmarks/_common.py loadgen URL BODY_FILE CONCURRENCY SECONDS
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

# Before numpy, scikit-learn or LightGBM load anywhere in this process (the scripts import this
# module first and the heavy libraries only inside functions).
os.environ["OMP_WAIT_POLICY"] = "PASSIVE"

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
CHURN_CSV = REPO / "examples" / "churn" / "telco_churn.csv"
OUT_DIR = HERE / "out"
TARGET = "churn"


def child_env(**extra: str) -> dict[str, str]:
    """The environment for every process a benchmark starts."""
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE", "PYTHONUNBUFFERED": "1"}
    env.update(extra)
    return env


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# -- the workspace and model under test --------------------------------------------------------
def prepare_workspace(home: Path):
    """A fresh workspace at ``home`` with the churn data ingested and LightGBM trained on it.

    Returns ``(workspace, model_ref)``.
    """
    import kiln

    ws = kiln.Workspace.init(home)
    ws.data.ingest(CHURN_CSV, name="churn")
    result = ws.train("churn", target=TARGET, algorithm="lightgbm")
    return ws, result.model.ref


def register_copy(ws, ref: str, group: str) -> str:
    """The same fitted model as the next version of ``group`` (to compile it while ``ref``
    stays as it is); returns its reference."""
    version = ws.models.get(ref)
    return ws.models.register(
        ws.models.load(version),
        group=group,
        algorithm=version.algorithm,
        target=version.target,
        hyperparameters=version.hyperparameters,
        metrics=version.metrics,
        dataset_version_id=version.dataset_version_id,
        job_id=version.job_id,
    ).ref


def sample_record(row: int = 1) -> dict[str, Any]:
    """One row of the churn data (without the target) as a JSON-ready record."""
    import pandas as pd

    frame = pd.read_csv(CHURN_CSV, nrows=row + 1).drop(columns=[TARGET])
    values = frame.iloc[row].to_dict()
    return {k: (v.item() if hasattr(v, "item") else v) for k, v in values.items()}


# -- processes ----------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_ping(process: subprocess.Popen, url: str, timeout: float = 90.0) -> None:
    """Wait until ``url`` answers 200, failing early if ``process`` exits."""
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            err = process.stderr.read().decode(errors="replace") if process.stderr else ""
            raise RuntimeError(f"Server exited early with code {process.returncode}: {err[-2000:]}")
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f}s")


def stop(process: subprocess.Popen, timeout: float = 10.0) -> None:
    """Terminate one process we started, then kill it if it lingers."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=timeout)


class RssPoller:
    """Polls a process and all its descendants every ``interval`` seconds, in a thread.

    Records the peak of the summed RSS of the tree and the peak RSS of any single process.
    """

    def __init__(self, pid: int, interval: float = 0.05):
        import psutil

        self._root = psutil.Process(pid)
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.peak_tree_bytes = 0
        self.peak_single_bytes = 0
        self.peak_single_cmd = ""
        self.samples = 0
        self.max_processes = 0

    def __enter__(self) -> RssPoller:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        import psutil

        while not self._stop.is_set():
            try:
                procs = [self._root, *self._root.children(recursive=True)]
            except psutil.Error:
                return
            total = 0
            alive = 0
            for proc in procs:
                try:
                    rss = proc.memory_info().rss
                except psutil.Error:
                    continue
                alive += 1
                total += rss
                if rss > self.peak_single_bytes:
                    self.peak_single_bytes = rss
                    try:
                        self.peak_single_cmd = " ".join(proc.cmdline()[1:4])
                    except psutil.Error:
                        self.peak_single_cmd = "?"
            self.peak_tree_bytes = max(self.peak_tree_bytes, total)
            self.max_processes = max(self.max_processes, alive)
            self.samples += 1
            self._stop.wait(self._interval)


def speed_probe() -> float:
    """Seconds for a fixed pure-Python loop (~30 ms on a quiet core): a host speed gauge.

    On a shared virtual machine the host can slow every core by 2-3x for seconds at a time
    without any process inside the VM being busy; the spread of these probes over a run shows it.
    """
    started = time.perf_counter()
    total = 0
    for i in range(1_000_000):
        total += i * i
    return time.perf_counter() - started


class CpuMeter:
    """How much CPU other tenants of the machine used between two marks.

    ``share()`` returns the fraction of all cores' time, since the previous mark, that was busy
    with processes outside this benchmark's own tree (this process, its live descendants, and
    every descendant it has already waited for), plus the hypervisor's steal time. Near 0 on a
    quiet machine; a benchmark phase with a large share shared the cores with someone else.
    """

    def __init__(self) -> None:
        self._last = self._snapshot()

    @staticmethod
    def _snapshot() -> tuple[float, float, float, float]:
        import psutil

        times = psutil.cpu_times()
        busy = sum(getattr(times, f, 0.0) for f in ("user", "nice", "system", "irq", "softirq"))
        steal = getattr(times, "steal", 0.0)
        own = os.times()
        mine = own.user + own.system + own.children_user + own.children_system
        with contextlib.suppress(psutil.Error):
            for child in psutil.Process().children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    mine += sum(child.cpu_times()[:2])
        return time.monotonic(), busy, steal, mine

    def share(self) -> dict[str, float]:
        now = self._snapshot()
        wall = max(now[0] - self._last[0], 1e-9) * (os.cpu_count() or 1)
        foreign = max(0.0, (now[1] - self._last[1]) - (now[3] - self._last[3]))
        steal = max(0.0, now[2] - self._last[2])
        self._last = now
        return {
            "foreign_cpu_share": round(foreign / wall, 3),
            "steal_share": round(steal / wall, 3),
        }


# -- statistics and reports ---------------------------------------------------------------------
def percentile(samples: list[float], q: float) -> float:
    """The ``q``-th percentile (0-100) by linear interpolation."""
    ordered = sorted(samples)
    if not ordered:
        return float("nan")
    pos = (len(ordered) - 1) * q / 100.0
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def summarize_ms(samples_s: list[float]) -> dict[str, float]:
    ms = [s * 1e3 for s in samples_s]
    return {
        "n": len(ms),
        "p50_ms": round(percentile(ms, 50), 3),
        "p90_ms": round(percentile(ms, 90), 3),
        "p99_ms": round(percentile(ms, 99), 3),
        "mean_ms": round(statistics.fmean(ms), 3),
    }


# -- peers and kiln in processes of their own (automl.py, forecasting.py) -----------------------
def peak_rss_mb() -> float:
    """This process's peak RSS or its largest child's (a job's process), in MB."""
    import resource

    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return round(max(own, children) / 1024, 1)


def start_pinned(command: list[str], cpu: int | None, stem: Path, **env: str):
    """Start ``command`` pinned to ``cpu`` (taskset), its output in ``stem``.out and .err, with
    warnings off, passive OpenMP and ``env``; returns (process, stem, start time)."""
    if cpu is not None:
        command = ["taskset", "-c", str(cpu), *command]
    environment = {**os.environ, "PYTHONWARNINGS": "ignore", "OMP_WAIT_POLICY": "PASSIVE", **env}
    stem.parent.mkdir(parents=True, exist_ok=True)
    stdout, stderr = open(f"{stem}.out", "w"), open(f"{stem}.err", "w")  # noqa: SIM115
    # A session of its own, so a run past its deadline is killed with every process it started.
    process = subprocess.Popen(
        command, stdout=stdout, stderr=stderr, env=environment, start_new_session=True
    )
    return process, stem, time.monotonic()


def pinned_sweep(runs, cpus, *, launch, timeout_of, collect, out: Path, show) -> None:
    """Run ``runs`` (tool, data set, budget) at most one per CPU at a time: ``launch(tool, name,
    budget, cpu)`` starts one (see :func:`start_pinned`); one past ``timeout_of(tool, budget)``
    seconds is killed with its session; ``collect(process, stem, tool, name, budget, timed_out)``
    makes its row, appended to ``out`` as a JSON line; ``show(row)`` is what is printed of it."""
    import signal

    waiting, running = list(runs), {}  # cpu: (process, stem, started, run)
    while waiting or running:
        for cpu in cpus:
            if cpu not in running and waiting:
                tool, name, budget = run = waiting.pop(0)
                running[cpu] = (*launch(tool, name, budget, cpu), run)
        time.sleep(0.5)
        for cpu, (process, stem, started, (tool, name, budget)) in list(running.items()):
            timed_out = time.monotonic() - started > timeout_of(tool, budget)
            if timed_out and process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
            if process.poll() is None:
                continue
            del running[cpu]
            row = collect(process, stem, tool, name, budget, timed_out)
            with out.open("a") as handle:
                handle.write(json.dumps(row) + "\n")
            print(f"{show(tool, name, budget, cpu, row)}", flush=True)


def markdown_table(headers: list[str], rows: list[list[Any]]) -> str:
    def cell(value: Any) -> str:
        if isinstance(value, float):
            return f"{value:,.3f}" if abs(value) < 100 else f"{value:,.0f}"
        return str(value)

    lines = [
        "| " + " | ".join(headers) + " |",
        "|" + "|".join("---" if i == 0 else "---:" for i in range(len(headers))) + "|",
    ]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def machine_info() -> dict[str, Any]:
    from importlib import metadata

    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = {"python": platform.python_version()}
    for name in (
        "kiln",
        "fastapi",
        "starlette",
        "uvicorn",
        "httpx",
        "orjson",
        "pandas",
        "numpy",
        "scikit-learn",
        "lightgbm",
        "pyarrow",
        "uvloop",
        "httptools",
    ):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    import kiln

    source = Path(kiln.__file__).resolve().parents[1]

    def git(*args: str) -> str | None:
        try:
            return subprocess.run(
                ["git", "-C", str(REPO), *args],
                capture_output=True,
                text=True,
                timeout=10,
                check=True,
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return None

    snapshot = source.parent / "COMMIT"  # a `git archive` export records its commit here
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "kiln_source": str(source),
        "kiln_commit": (
            snapshot.read_text().strip() if snapshot.exists() else git("rev-parse", "HEAD")
        ),
        "kiln_source_is_repo": source == REPO / "src",
        "repo_src_dirty": bool(git("status", "--porcelain", "src"))
        if source == REPO / "src"
        else None,
        "cpus": os.cpu_count(),
        "cpu_affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "cpu_model": cpu,
        "platform": platform.platform(),
        "versions": versions,
        "load_average_at_start": os.getloadavg() if hasattr(os, "getloadavg") else None,
    }


def write_json(name: str, payload: dict) -> Path:
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    path = OUT_DIR / f"{name}.json"
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    return path


# -- fallback load generator (used only when wrk is missing) -------------------------------------
def _loadgen(url: str, body_file: str, concurrency: int, seconds: float) -> None:
    """Closed-loop load: ``concurrency`` tasks each send the body, await the answer, repeat."""
    import asyncio

    import httpx

    body = Path(body_file).read_bytes()
    headers = {"content-type": "application/json"}

    async def main() -> dict:
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        latencies: list[float] = []
        errors = 0
        deadline = time.perf_counter() + seconds
        async with httpx.AsyncClient(limits=limits, timeout=30.0) as client:

            async def worker() -> None:
                nonlocal errors
                while time.perf_counter() < deadline:
                    started = time.perf_counter()
                    try:
                        response = await client.post(url, content=body, headers=headers)
                        ok = response.status_code == 200
                    except httpx.HTTPError:
                        ok = False
                    if ok:
                        latencies.append(time.perf_counter() - started)
                    else:
                        errors += 1

            started = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(concurrency)))
            elapsed = time.perf_counter() - started
        return {
            "requests": len(latencies),
            "errors": errors,
            "seconds": elapsed,
            "rps": len(latencies) / elapsed,
            "p50_ms": percentile(latencies, 50) * 1e3,
            "p99_ms": percentile(latencies, 99) * 1e3,
        }

    print(json.dumps(asyncio.run(main())))


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "loadgen":
        _loadgen(sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5]))
    else:
        sys.exit(__doc__)
