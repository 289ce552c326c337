"""Soak: 20,000 runs with a short retention, and Redis memory back at its baseline.

    python bench/soak_retention.py [--runs 20000] [--retention 3]

Drives the real stores (cutman.adapters.store.RedisStore) on a private redis-server at a
high rate, as the step functions and the sink would per run: create the run, save it
finished, record a sink delivery, count it, record a dead letter. Then waits for the
retention to pass and prints used_memory at the baseline, at the peak and after, and
the keys left. Figures, not pass/fail: it exits 1 only if keys other than the bounded
ones are left behind (the run-update stream, capped by count, and the workflow's counters).
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

import redis
from cutman.adapters.store import RedisStore
from cutman.core import engine
from cutman.models.resources import WorkflowSpec
from cutman.models.run import RunPhase
from cutman.runtime.redis_server import start_redis

BOUNDED = {"cm:runs:updates", "cm:wfstat:{default/soak}"}
SPEC = WorkflowSpec.model_validate({"steps": [{"name": "a", "type": "cli", "command": "true"}]})


async def drive(url: str, runs: int, retention: float) -> None:
    store = RedisStore(url, retention_s=retention)
    sem = asyncio.Semaphore(200)

    async def one(i: int) -> None:
        async with sem:
            run = engine.new_run(run_id=f"soak-{i}", workflow="default/soak", spec=SPEC, event_id=f"e{i}",
                                 event_type="dev.cutman.alert.firing", source="default/am", source_context={},
                                 alert={"alertname": "Soak", "labels": {"i": str(i)}}, data=None,
                                 now="2026-12-01T10:00:00.000Z")
            await store.create_run(run)
            done = run.model_copy(update={"phase": RunPhase.SUCCEEDED})
            await store.save_run(done)
            await store.record_sink(run.id, "console", {"phase": "Delivered", "time": "now"})
            await store.count_run("default/soak", run.id, "Succeeded")
            await store.record_dead_letter(run.id, {"event": f"e{i}", "detail": "x" * 200})
    try:
        await asyncio.gather(*(one(i) for i in range(runs)))
    finally:
        await store.close()


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--runs", type=int, default=20_000)
    p.add_argument("--retention", type=float, default=3.0)
    args = p.parse_args()
    server = start_redis(Path(tempfile.mkdtemp(prefix="cutman-soak-")), persist=False)
    client = redis.Redis.from_url(server.url)
    try:
        base = int(client.info("memory")["used_memory"])
        started = time.monotonic()
        asyncio.run(drive(server.url, args.runs, args.retention))
        took = time.monotonic() - started
        peak, keys = int(client.info("memory")["used_memory"]), int(client.dbsize())
        deadline = time.monotonic() + args.retention + 60
        while client.dbsize() > len(BOUNDED) and time.monotonic() < deadline:
            time.sleep(0.5)
        time.sleep(1)
        after, left = int(client.info("memory")["used_memory"]), sorted(k.decode() for k in client.keys("*"))
        print(f"runs: {args.runs} in {took:.1f}s ({args.runs / took:.0f}/s), retention {args.retention:g}s")
        print(f"used_memory: baseline {base / 1e6:.2f} MB, peak {peak / 1e6:.2f} MB ({keys} keys), "
              f"after retention {after / 1e6:.2f} MB ({after - base:+,} bytes)")
        print(f"keys left: {left}")
        return 0 if set(left) <= BOUNDED else 1
    finally:
        client.close()
        server.stop()


if __name__ == "__main__":
    raise SystemExit(main())
