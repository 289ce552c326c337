"""Alert to run finished through the whole local stack, and dedupe under a storm.

A Workflow of two cli steps running `true`: each alert is posted to ingest and timed
until its run (found from the alert's fingerprint record and the run id rule) is
Succeeded in Redis. One at a time, then 16 concurrent. The floor is the bare cost of
the work itself: two `sh -c true` spawns, measured here.

The end of a run is seen on the run update stream (`cm:runs:updates`, one blocking
XREAD in one thread), not by polling each run: 16 threads each reading its run every
millisecond took about a core of this 2-core machine from the stack it measured.

Dedupe: N identical alerts posted concurrently (httpx, C in flight, 5xx retried as
Alertmanager would) must start exactly one run.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import threading
import time
import uuid

import httpx
import redis
from cutman.core.alerts import fingerprint
from cutman.core.ids import run_id

from .common import E2E_PATH, E2E_SOURCE, E2E_WORKFLOW, RedisMonitor, Stack, alert, pct, webhook

RETRIES: list[int] = []  # webhooks of the e2e scenario that had to be posted again
UPDATES = "cm:runs:updates"


class Finishes:
    """When each run ended, from the run update stream, read by one thread."""

    def __init__(self, redis_url: str) -> None:
        self._r = redis.Redis.from_url(redis_url, decode_responses=True)
        self._done: dict[str, float] = {}
        self._cond = threading.Condition()
        self._stop = threading.Event()
        last = self._r.xrevrange(UPDATES, count=1)
        self._after = last[0][0] if last else "0-0"
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while not self._stop.is_set():
            reply = self._r.xread({UPDATES: self._after}, block=200, count=500)
            for _, entries in reply or []:
                now = time.perf_counter()
                with self._cond:
                    for entry_id, fields in entries:
                        self._after = entry_id
                        if fields.get("phase") in ("Succeeded", "Failed"):
                            self._done.setdefault(fields.get("run", ""), now)
                    self._cond.notify_all()

    def wait(self, run: str, deadline: float) -> float:
        with self._cond:
            while run not in self._done:
                left = deadline - time.perf_counter()
                if left <= 0:
                    raise TimeoutError(f"run {run} did not finish within 60 s")
                self._cond.wait(left)
            return self._done[run]

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._r.close()


def _run_id(r: redis.Redis, labels: dict[str, str]) -> str | None:
    event = r.hget(f"cm:fp:{{{E2E_SOURCE}}}:{fingerprint(labels)}", "event")
    return run_id(workflow=E2E_WORKFLOW, event_id=str(event)) if event else None


def one_alert(client: httpx.Client, r: redis.Redis, stack: Stack, tag: str, finishes: Finishes) -> float:
    body = webhook(alert(tag))
    started = time.perf_counter()
    for attempt in range(5):  # as Alertmanager does: a 5xx or a dropped connection is retried
        try:
            resp = client.post(stack.base + E2E_PATH, content=json.dumps(body),
                               headers={"content-type": "application/json"})
        except httpx.TransportError:
            RETRIES.append(1)
            continue
        if resp.status_code < 500:
            break
        RETRIES.append(1)
        time.sleep(0.05 * (attempt + 1))
    assert resp.status_code == 200 and resp.json()["firing"] == 1, resp.text
    run = _run_id(r, body["alerts"][0]["labels"])
    assert run is not None
    return finishes.wait(run, started + 60) - started


def spawn_floor(n: int = 50) -> float:
    """Two `sh -c true` spawns, what the Workflow's two steps need at the very least."""
    started = time.perf_counter()
    for _ in range(n):
        subprocess.run(["/bin/sh", "-c", "true"], check=True)
    return 2 * (time.perf_counter() - started) / n


def run(stack: Stack, *, serial: int, concurrent_alerts: int, concurrency: int = 16) -> dict[str, float]:
    out: dict[str, float] = {}
    tag = uuid.uuid4().hex[:8]
    r = redis.Redis.from_url(stack.redis_url, decode_responses=True)
    finishes = Finishes(stack.redis_url)
    try:
        with httpx.Client(timeout=60) as client:
            for i in range(3):  # warm connections and code paths
                one_alert(client, r, stack, f"{tag}-warm-{i}", finishes)
            times = [one_alert(client, r, stack, f"{tag}-s{i}", finishes) for i in range(serial)]
            out["e2e.p50_ms"] = pct(times, 50) * 1000
            out["e2e.p95_ms"] = pct(times, 95) * 1000
            out["e2e.p99_ms"] = pct(times, 99) * 1000
            with RedisMonitor(stack.redis_url, dict(stack.pids)) as mon:
                runs = 10
                for i in range(runs):
                    one_alert(client, r, stack, f"{tag}-m{i}", finishes)
            per = mon.per_process()
            out["e2e.redis_commands_per_step"] = per.get("step-cli", 0) / (runs * 2)
            out["e2e.redis_commands_per_run_all"] = sum(per.values()) / runs
            out["e2e.redis_commands_per_alert_ingest"] = per.get("ingest", 0) / runs
            out["e2e.redis_commands_per_run_broker"] = per.get("broker", 0) / runs
        out.update(_concurrent(stack, r, tag, concurrent_alerts, concurrency, finishes))
    finally:
        finishes.close()
        r.close()
    out["e2e.floor_two_spawns_ms"] = spawn_floor() * 1000
    out["e2e.webhook_retries"] = float(len(RETRIES))
    return out


def _concurrent(stack: Stack, r: redis.Redis, tag: str, n: int, concurrency: int,
                finishes: Finishes) -> dict[str, float]:
    times: list[float] = []

    def worker(w: int) -> None:
        with httpx.Client(timeout=60) as client:
            for i in range(w, n, concurrency):
                times.append(one_alert(client, r, stack, f"{tag}-c{i}", finishes))

    started = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(w,)) for w in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    return {"e2e.concurrent16.p50_ms": pct(times, 50) * 1000, "e2e.concurrent16.p99_ms": pct(times, 99) * 1000,
            "e2e.concurrent16.runs_per_s": len(times) / elapsed}


def dedupe(stack: Stack, *, n: int = 10_000, concurrency: int = 200) -> dict[str, float]:
    """N identical alerts at once: exactly one run, every time."""
    body = json.dumps(webhook(alert(0, pod=f"storm-{uuid.uuid4().hex[:8]}"))).encode()
    codes: list[int] = []
    firing = 0

    async def storm() -> float:
        nonlocal firing
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        async with httpx.AsyncClient(timeout=60, limits=limits) as client:
            sem = asyncio.Semaphore(concurrency)

            async def one() -> None:
                nonlocal firing
                async with sem:
                    status, answer = 0, {}
                    for _ in range(50):  # as Alertmanager does: retry 5xx and transport errors
                        try:
                            resp = await client.post(stack.base + E2E_PATH, content=body,
                                                     headers={"content-type": "application/json"})
                        except httpx.TransportError:
                            await asyncio.sleep(0.05)
                            continue
                        status = resp.status_code
                        if status < 500:
                            answer = resp.json() if status == 200 else {}
                            break
                        await asyncio.sleep(0.05)
                    codes.append(status)
                    firing += answer.get("firing", 0)

            started = time.perf_counter()
            await asyncio.gather(*(one() for _ in range(n)))
            return time.perf_counter() - started

    r = redis.Redis.from_url(stack.redis_url, decode_responses=True)
    try:
        before = r.zcard(f"cm:runs:{E2E_WORKFLOW}")
        elapsed = asyncio.run(storm())
        time.sleep(2.0)  # let any (wrongly) emitted second event reach the step function
        runs = r.zcard(f"cm:runs:{E2E_WORKFLOW}") - before
    finally:
        r.close()
    return {"dedupe.runs_started": float(runs), "dedupe.webhooks": float(n), "dedupe.firing_answers": float(firing),
            "dedupe.non_200": float(sum(c != 200 for c in codes)), "dedupe.webhooks_per_s": n / elapsed}
