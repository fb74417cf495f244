"""How fast an escalation becomes a committed ticket, on SQLite and PostgreSQL.

Each run uses a fresh database (a temporary SQLite file; a PostgreSQL database created for the run
and dropped after). N worker threads, each with its own sessions, send escalations the way the
action server does; a quarter of them append to a conversation the worker already escalated.
Latency is measured around `HandoffStore.open_or_append`, which returns after the commit.

    .venv/bin/python bench/handoff_bench.py [--workers 1,4,16] [--requests 400]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import psycopg2

from bot.handoff.store import EscalationRequest, HandoffStore


@contextmanager
def sqlite_database() -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="handoff-bench-") as directory:
        yield f"sqlite:///{directory}/handoff.db"


@contextmanager
def postgres_database(server: str) -> Iterator[str]:
    name = f"fsgs_bench_{uuid.uuid4().hex[:12]}"
    admin = psycopg2.connect(f"{server}/postgres", connect_timeout=5)
    admin.autocommit = True
    try:
        admin.cursor().execute(f"CREATE DATABASE {name}")
        yield f"{server}/{name}"
    finally:
        admin.cursor().execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.close()


def worker(store: HandoffStore, worker_id: int, count: int) -> list[float]:
    latencies = []
    for i in range(count):
        conversation = f"w{worker_id}-c{i - 1 if i % 4 == 3 else i}"   # every 4th one appends
        request = EscalationRequest(conversation, "socketio", conversation,
                                    "emergency" if i % 10 == 0 else "personal_advice",
                                    f"Can I take ibuprofen with prednisone? ({i})")
        started = time.perf_counter()
        store.open_or_append(request)
        latencies.append((time.perf_counter() - started) * 1000)
    return latencies


def run(url: str, workers: int, requests: int) -> dict:
    store = HandoffStore.from_url(url)
    try:
        store.create_schema()
        worker(store, -1, 8)                                   # warm the pool and caches
        per_worker = max(1, requests // workers)
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=workers) as pool:
            results = pool.map(lambda w: worker(store, w, per_worker), range(workers))
            latencies = sorted(ms for result in results for ms in result)
        elapsed = time.perf_counter() - started
    finally:
        store.dispose()
    return {"n": len(latencies), "p50": statistics.median(latencies),
            "p95": latencies[int(0.95 * (len(latencies) - 1))], "max": latencies[-1],
            "rate": len(latencies) / elapsed}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", default="1,4,16", help="comma-separated worker counts")
    parser.add_argument("--requests", type=int, default=400, help="escalations per run")
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--postgres-server", default="postgresql://postgres@127.0.0.1:5432")
    args = parser.parse_args()
    databases = {"sqlite": sqlite_database, "postgres": lambda: postgres_database(
        args.postgres_server)}
    print(f"{'backend':<9} {'workers':>7} {'escalations':>11} {'p50 ms':>8} {'p95 ms':>8} "
          f"{'max ms':>8} {'per s':>8}")
    for backend in args.backends.split(","):
        for workers in map(int, args.workers.split(",")):
            with databases[backend]() as url:
                r = run(url, workers, args.requests)
            print(f"{backend:<9} {workers:>7} {r['n']:>11} {r['p50']:>8.1f} {r['p95']:>8.1f} "
                  f"{r['max']:>8.1f} {r['rate']:>8.0f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
