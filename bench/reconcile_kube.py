"""Reconcile cost with the Kubernetes backend: time and API requests per CR event.

Runs the reconciler's code with KubeCluster (official client) against kmock's Kubernetes
emulator over loopback HTTP and a private redis-server. Applies W Workflows (3 steps, 1
sink, 1 Source each) into one namespace, then replays every CR unchanged (what a status
patch's update event costs), then a full resync. Prints per-event latency and requests.
The API requests per event are the figure that carries over to a real cluster; latency
here is dominated by the emulator (kmock matches every request against its history).

    .venv/bin/python bench/reconcile_kube.py [--workflows 20]
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import kmock

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from cutman.adapters.kube import KubeCluster
from cutman.adapters.store import RedisStore
from cutman.runtime.loader import load
from cutman.runtime.redis_server import start_redis

from tests.kube_emulator import kube_api

NS = "bench"


def cr(kind: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "cutman.dev/v1alpha1", "kind": kind,
            "metadata": {"name": name, "namespace": NS, "uid": str(uuid.uuid4()), "generation": 1},
            "spec": spec}


def docs(n: int) -> list[dict[str, Any]]:
    out = [cr("Sink", "console", {"type": "stdout"})]
    for i in range(n):
        out.append(cr("Workflow", f"w{i}", {
            "steps": [{"name": f"s{j}", "type": "cli", "command": "true"} for j in range(3)],
            "sinks": ["console"]}))
        out.append(cr("Source", f"src{i}", {"type": "webhook", "config": {"path": f"/w/{i}"},
                                            "triggerWorkflow": f"w{i}"}))
    return out


async def main(n: int) -> None:
    tmp = Path(tempfile.mkdtemp())
    server = start_redis(tmp, persist=False)
    store = RedisStore(server.url)
    module = load("reconciler")
    reconciler_cls = importlib.import_module(module.__name__ + ".reconcile").Reconciler
    try:
        async with kube_api() as (emu, api):
            rec = reconciler_cls(store, KubeCluster(api))
            bodies = docs(n)
            for body in bodies:  # the API server holds them, as the ApiServerSource reports
                plural = body["kind"].lower() + "s"
                emu.objects[(kmock.resource("cutman.dev", "v1alpha1", plural), NS, body["metadata"]["name"])] = body
            for phase in ("first apply", "replay unchanged"):
                times, start_reqs = [], len(emu._requests)
                for body in bodies:
                    t0 = time.perf_counter()
                    await rec.apply(body)
                    times.append(time.perf_counter() - t0)
                reqs = (len(emu._requests) - start_reqs) / len(bodies)
                print(f"{phase:17s} {len(bodies)} events  median {statistics.median(times) * 1e3:6.1f} ms"
                      f"  p95 {sorted(times)[int(len(times) * 0.95)] * 1e3:6.1f} ms  {reqs:5.1f} API requests/event")
            t0 = time.perf_counter()
            await rec.resync([NS])
            print(f"resync            {len(bodies)} CRs     total  {(time.perf_counter() - t0) * 1e3:6.1f} ms")
            print(f"triggers owned: {len(emu.raw_objects('triggers', rec.cluster.namespace))}")
    finally:
        await store.close()
        server.stop()


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--workflows", type=int, default=20)
    asyncio.run(main(p.parse_args().workflows))
