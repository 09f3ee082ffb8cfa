"""Feature store benchmark (issue 17): the point-in-time join, and online reads.

Targets
  (1) ``ws.features.training_set`` of 1,000,000 entity rows against 10 features over
      10,000,000 feature records (one group, five ingests) in at most 15 s on this machine;
      time and peak memory, against a plain pandas ``merge_asof`` (the Parquet files read,
      sorted, merged by id) in the same run. Each join runs in a fresh process of its own, so
      each peak RSS (``ru_maxrss``) is that join's alone.
  (2) Online read p99 at 1,000,000 records, on SQLite (the workspace's ``online.db``) and on
      Redis (a ``redis-server`` this script starts on loopback, persistence off): in-process
      (``ws.features.get``) and over HTTP (``GET /features/{group}/records/{id}`` of a
      ``python -m kiln serve``, sequential requests over one keep-alive client).

    .venv/bin/python benchmarks/features.py                    # the sizes above
    .venv/bin/python benchmarks/features.py --scale 0.1        # a tenth of every size

Prints Markdown tables and writes benchmarks/out/features.json.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _common
from _common import child_env, free_port, log, markdown_table, stop, summarize_ms, wait_for_ping

FEATURES = [f"f{i}" for i in range(10)]
YEAR_US = 365 * 86400 * 10**6
START = "2025-01-01"


def feature_chunk(ids: int, per_id: int, chunk: int, seed: int):
    """``ids * per_id`` records, one per (id, event time): id ``i % ids``, a random time in the
    year (the row's repeat number added in microseconds keeps each id's times distinct)."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    n = ids * per_id
    index = np.arange(n)
    micros = rng.integers(0, YEAR_US, n) + index // ids + chunk * per_id
    frame = pd.DataFrame(
        {
            "customer_id": index % ids,
            "ts": pd.Timestamp(START) + pd.to_timedelta(micros, unit="us"),
        }
    )
    for name in FEATURES:
        frame[name] = rng.normal(size=n)
    return frame


def entity_rows(rows: int, ids: int, seed: int):
    """Entity rows: ids drawn from 1.2 times the ids with history (a sixth have none)."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "customer_id": rng.integers(0, int(ids * 1.2), rows),
            "when": pd.Timestamp(START) + pd.to_timedelta(rng.integers(0, YEAR_US, rows), "us"),
        }
    )


def build_offline(home: Path, records: int, ingests: int) -> dict:
    import kiln

    ids = records // 10  # ten records per id
    ws = kiln.Workspace.init(home)
    first = feature_chunk(10, 1, 0, 0)
    ws.features.create("customers", record_id="customer_id", event_time="ts", source=first)
    per_ingest = records // ingests // ids
    seconds = []
    for chunk in range(ingests):
        frame = feature_chunk(ids, per_ingest, chunk, seed=chunk + 1)
        started = time.perf_counter()
        ws.features.ingest("customers", frame)
        seconds.append(time.perf_counter() - started)
        log(f"ingest {chunk + 1}/{ingests}: {len(frame):,} rows in {seconds[-1]:.1f} s")
    ws.close()
    return {"ids": ids, "ingest_seconds": seconds}


def join_child(home: str, how: str, entities: int, ids: int) -> None:
    """One join in this (fresh) process; prints its time, peak RSS and a checksum as JSON."""
    import pandas as pd

    import kiln

    ws = kiln.Workspace(home)
    entity = entity_rows(entities, ids, seed=99)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    if how == "kiln":
        out = ws.features.training_set(
            entity, [f"customers:{f}" for f in FEATURES], event_time="when"
        )
    else:
        paths = [ws.artifacts.local_path(i.digest) for i in ws.features.ingests("customers")]
        records = pd.concat(
            [pd.read_parquet(p, columns=["customer_id", "ts", *FEATURES]) for p in paths]
        ).sort_values("ts")
        left = entity.reset_index().sort_values("when")
        out = pd.merge_asof(
            left, records, left_on="when", right_on="ts", by="customer_id", direction="backward"
        ).sort_values("index")
    seconds = time.perf_counter() - started
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        json.dumps(
            {
                "seconds": seconds,
                "peak_rss_mb": peak_kib / 1024,
                "peak_above_start_mb": (peak_kib - before) / 1024,
                "rows": len(out),
                "missing_share": float(out["f0"].isna().mean()),
                "f0": out["f0"].round(9).fillna(-999).tolist()[:: max(1, len(out) // 10_000)],
            }
        )
    )


def run_join(home: Path, how: str, entities: int, ids: int) -> dict:
    done = subprocess.run(
        [sys.executable, __file__, "--join-child", how, "--home", str(home),
         "--entities", str(entities), "--ids", str(ids)],
        env=child_env(), capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"the {how} join failed: {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# -- online reads ------------------------------------------------------------------------------
def start_redis(folder: Path) -> tuple[subprocess.Popen, str]:
    import redis

    port = free_port()
    process = subprocess.Popen(
        [shutil.which("redis-server") or "/usr/bin/redis-server", "--port", str(port),
         "--bind", "127.0.0.1", "--dir", str(folder), "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"redis://127.0.0.1:{port}/0"
    for _ in range(200):
        try:
            redis.Redis.from_url(url).ping()
            return process, url
        except redis.ConnectionError:
            time.sleep(0.05)
    stop(process)
    raise RuntimeError("redis-server did not start")


def online_reads(home: Path, records: int, reads: int, online_store: str | None) -> dict:
    import httpx

    import kiln

    if online_store:
        home.mkdir(parents=True)
        (home / "kiln.toml").write_text(f'[kiln]\nonline_store = "{online_store}"\n')
    ws = kiln.Workspace.init(home)
    frame = feature_chunk(records, 1, 0, seed=7)
    ws.features.create(
        "customers", record_id="customer_id", event_time="ts", source=frame.head(10), online=True
    )
    started = time.perf_counter()
    ws.features.ingest("customers", frame)
    ingest_seconds = time.perf_counter() - started
    log(f"{ws.features.online_store.url}: {records:,} records in {ingest_seconds:.1f} s")
    rng = random.Random(3)
    ids = [rng.randrange(records) for _ in range(reads)]
    for record_id in ids[:200]:  # warm-up
        ws.features.get("customers", record_id)
    samples = []
    for record_id in ids:
        started = time.perf_counter()
        ws.features.get("customers", record_id)
        samples.append(time.perf_counter() - started)
    in_process = summarize_ms(samples)
    ws.close()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [sys.executable, "-m", "kiln", "--home", str(home), "serve", "--port", str(port),
         "--log-level", "warning"],
        env=child_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        wait_for_ping(server, f"{url}/ping")
        with httpx.Client(base_url=url, timeout=30) as client:
            for record_id in ids[:200]:
                client.get(f"/features/customers/records/{record_id}").raise_for_status()
            samples = []
            for record_id in ids:
                started = time.perf_counter()
                client.get(f"/features/customers/records/{record_id}").raise_for_status()
                samples.append(time.perf_counter() - started)
        over_http = summarize_ms(samples)
    finally:
        stop(server)
    return {"ingest_seconds": ingest_seconds, "in_process": in_process, "http": over_http}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="Multiply every size by this.")
    parser.add_argument("--reads", type=int, default=5000, help="Online reads per store and way.")
    parser.add_argument("--ingests", type=int, default=5)
    parser.add_argument("--skip-join", action="store_true")
    parser.add_argument("--skip-online", action="store_true")
    parser.add_argument("--join-child", choices=["kiln", "pandas"], help=argparse.SUPPRESS)
    parser.add_argument("--home", help=argparse.SUPPRESS)
    parser.add_argument("--entities", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--ids", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.join_child:
        join_child(args.home, args.join_child, args.entities, args.ids)
        return
    records = int(10_000_000 * args.scale)
    entities = int(1_000_000 * args.scale)
    online_records = int(1_000_000 * args.scale)
    result = {"machine": _common.machine_info(), "scale": args.scale}
    with tempfile.TemporaryDirectory(prefix="kiln-bench-features-") as tmp:
        tmp = Path(tmp)
        if not args.skip_join:
            log(f"offline store: {records:,} records in {args.ingests} ingests")
            built = build_offline(tmp / "offline", records, args.ingests)
            joins = {}
            for how in ("kiln", "pandas"):
                log(f"{how} join of {entities:,} entity rows")
                joins[how] = run_join(tmp / "offline", how, entities, built["ids"])
                log(f"{how}: {joins[how]['seconds']:.1f} s, {joins[how]['peak_rss_mb']:.0f} MB")
            sampled = list(zip(joins["kiln"].pop("f0"), joins["pandas"].pop("f0"), strict=True))
            agree = sum(a == b for a, b in sampled) / len(sampled)
            result["join"] = {
                "records": records,
                "entities": entities,
                "features": len(FEATURES),
                "ingest_seconds": built["ingest_seconds"],
                "kiln": joins["kiln"],
                "pandas_merge_asof": joins["pandas"],
                "sampled_rows_equal": agree,
            }
            print(f"\n## Point-in-time join: {entities:,} entity rows, {len(FEATURES)} features, "
                  f"{records:,} records\n")  # fmt: skip
            print(
                markdown_table(
                    ["join", "seconds", "peak RSS (MB)", "rows missing a record"],
                    [
                        [name, j["seconds"], j["peak_rss_mb"], f"{j['missing_share']:.1%}"]
                        for name, j in (
                            ("kiln training_set (DuckDB ASOF)", joins["kiln"]),
                            ("pandas merge_asof", joins["pandas"]),
                        )
                    ],
                )
            )
            print(f"\nSampled rows with equal values in both: {agree:.2%}")
        if not args.skip_online:
            redis_process, redis_url = start_redis(tmp)
            try:
                online = {
                    "sqlite": online_reads(tmp / "sqlite", online_records, args.reads, None),
                    "redis": online_reads(tmp / "redis", online_records, args.reads, redis_url),
                }
            finally:
                stop(redis_process)
            result["online"] = {"records": online_records, "reads": args.reads, **online}
            print(f"\n## Online reads at {online_records:,} records ({args.reads:,} reads each)\n")
            print(
                markdown_table(
                    ["store", "way", "p50 (ms)", "p99 (ms)", "ingest (s)"],
                    [
                        [store, way, o[way]["p50_ms"], o[way]["p99_ms"], o["ingest_seconds"]]
                        for store, o in online.items()
                        for way in ("in_process", "http")
                    ],
                )
            )
    print(f"\nWrote {_common.write_json('features', result)}")


if __name__ == "__main__":
    main()
