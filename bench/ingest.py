"""Ingest under load: 1- and 50-alert webhooks, new and duplicate, beside a no-op floor.

wrk (own process, 1 thread) posts to ingest of a running `cutman dev` and, in the same
run, to a no-op func-python function (the floor: same runtime and server, no work).
Ingest's CPU per alert comes from /proc/<pid>/stat over each wrk run; Redis commands
per alert from MONITOR over a short serial window.
"""

from __future__ import annotations

import uuid
from contextlib import nullcontext

import httpx

from .common import (
    INGEST_PATH,
    RedisMonitor,
    Stack,
    WrkResult,
    alert,
    cpu_seconds,
    post_json,
    profiled,
    webhook,
    wrk,
)

BATCH = 50
CONNECTIONS = 32
SWEEP = (1, 8, 32, 128)
SWEEP_MIN_S = 8.0


def _tag() -> str:
    return uuid.uuid4().hex[:10]


def _measured(stack: Stack, *, connections: int, seconds: float, alerts: int, mode: str,
              tag: str | None = None, profile: str | None = None) -> tuple[WrkResult, float]:
    """A wrk run against ingest and the ingest process's CPU seconds during it."""
    pid = stack.pids["ingest"]
    before = cpu_seconds(pid)
    with profiled(pid, profile) if profile else nullcontext():
        result = wrk(stack.base + INGEST_PATH, connections=connections, seconds=seconds, alerts=alerts,
                     mode=mode, tag=tag or _tag())
    return result, cpu_seconds(pid) - before


def _cpu_ms_per_alert(cpu: float, result: WrkResult, alerts: int) -> float:
    ok = result.requests - result.non_2xx
    return cpu / (ok * alerts) * 1000 if ok else float("nan")


def run(stack: Stack, floor_url: str, *, seconds: float, out: dict[str, float]) -> None:
    """Fills `out` as it goes, so a scenario that fails keeps the figures before it."""
    floor1 = wrk(floor_url, connections=CONNECTIONS, seconds=seconds, alerts=1, mode="new", tag=_tag())
    floor50 = wrk(floor_url, connections=CONNECTIONS, seconds=seconds, alerts=BATCH, mode="new", tag=_tag())
    out["floor.single.rps"] = floor1.rps
    out["floor.single.p99_ms"] = floor1.p99_ms
    out["floor.batch50.rps"] = floor50.rps

    single, cpu = _measured(stack, connections=CONNECTIONS, seconds=seconds, alerts=1, mode="new",
                            profile="ingest-single")
    out["ingest.single.alerts_per_s"] = single.ok_rps
    out["ingest.single.ratio_to_floor"] = single.ok_rps / floor1.rps
    out["ingest.single.p50_ms"] = single.p50_ms
    out["ingest.single.p99_ms"] = single.p99_ms
    out["ingest.single.non_2xx"] = single.non_2xx + single.socket_errors
    out["ingest.single.cpu_ms_per_alert"] = _cpu_ms_per_alert(cpu, single, 1)

    new, cpu = _measured(stack, connections=CONNECTIONS, seconds=seconds, alerts=BATCH, mode="new",
                         profile="ingest-batch50-new")
    out["ingest.batch50.new_alerts_per_s"] = new.ok_rps * BATCH
    out["ingest.batch50.new_webhooks_per_s"] = new.ok_rps
    out["ingest.batch50.new_ratio_to_floor"] = new.ok_rps / floor50.rps
    out["ingest.batch50.new_p50_ms"] = new.p50_ms
    out["ingest.batch50.new_p99_ms"] = new.p99_ms
    out["ingest.batch50.new_non_2xx"] = new.non_2xx + new.socket_errors
    out["ingest.cpu_ms_per_new_alert"] = _cpu_ms_per_alert(cpu, new, BATCH)

    tag = _tag()
    with httpx.Client(timeout=60) as client:
        resp = post_json(client, stack.base + INGEST_PATH, webhook(*(alert(0, pod=f"{tag}-{k}")
                                                                    for k in range(1, BATCH + 1))))
        assert resp.status_code == 200 and resp.json()["firing"] == BATCH, resp.text
    dup, cpu = _measured(stack, connections=CONNECTIONS, seconds=seconds, alerts=BATCH, mode="dup", tag=tag,
                         profile="ingest-batch50-dup")
    out["ingest.batch50.duplicate_alerts_per_s"] = dup.ok_rps * BATCH
    out["ingest.batch50.duplicate_p99_ms"] = dup.p99_ms
    out["ingest.batch50.duplicate_non_2xx"] = dup.non_2xx + dup.socket_errors
    out["ingest.cpu_ms_per_duplicate_alert"] = _cpu_ms_per_alert(cpu, dup, BATCH)

    serial, _ = _measured(stack, connections=1, seconds=seconds, alerts=BATCH, mode="dup", tag=tag)
    out["ingest.batch50.serial_duplicate_ms"] = 1000 / serial.ok_rps if serial.ok_rps else float("nan")
    serial_new, _ = _measured(stack, connections=1, seconds=seconds, alerts=BATCH, mode="new")
    out["ingest.batch50.serial_new_ms"] = 1000 / serial_new.ok_rps if serial_new.ok_rps else float("nan")

    for c in SWEEP:
        # At least 8 s: 128 connections open with 6,400 events at once, and a shorter run
        # measures only how that first wave drains, not the steady rate.
        res, _ = _measured(stack, connections=c, seconds=max(seconds, SWEEP_MIN_S), alerts=BATCH, mode="new")
        out[f"ingest.sweep.c{c}.new_alerts_per_s"] = res.ok_rps * BATCH
        out[f"ingest.sweep.c{c}.p99_ms"] = res.p99_ms
        out[f"ingest.sweep.c{c}.non_2xx"] = res.non_2xx + res.socket_errors
    out["ingest.sweep.c128_over_c8"] = (out["ingest.sweep.c128.new_alerts_per_s"]
                                        / out["ingest.sweep.c8.new_alerts_per_s"])
    out.update(redis_commands(stack))


def redis_commands(stack: Stack, webhooks: int = 20) -> dict[str, float]:
    """Redis commands ingest sends per alert, new and duplicate, 50-alert webhooks one at a time."""
    url = stack.base + INGEST_PATH
    tag = _tag()
    bodies = [webhook(*(alert(0, pod=f"{tag}-{i}-{k}") for k in range(BATCH))) for i in range(webhooks)]
    out: dict[str, float] = {}
    with httpx.Client(timeout=300) as client:
        for mode in ("new", "duplicate"):
            with RedisMonitor(stack.redis_url, {"ingest": stack.pids["ingest"]}) as mon:
                ok = sum(post_json(client, url, body).status_code == 200 for body in bodies)
            out[f"ingest.redis_commands_per_{mode}_alert"] = (mon.per_process().get("ingest", 0) / (ok * BATCH)
                                                              if ok else float("nan"))
    return out
