"""The dev broker alone: CloudEvents accepted (202) and routed to a no-op subscriber.

Its own redis-server, the dev broker process, one Trigger without filter to the no-op
func-python function (which counts what it receives), and wrk posting binary-mode
events with unique ids. Events/s is what reached the subscriber divided by the time
from the first post to the last delivery.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import redis
from cutman.runtime.redis_server import free_port, start_redis, wait_for_http

from .common import cpu_seconds, profiled, spawn_floor, stop, wrk


def run(*, seconds: float) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="cutman-bench-broker-") as tmp:
        server = start_redis(Path(tmp), persist=False)
        sub_port, port = free_port(), free_port()
        subscriber = spawn_floor(sub_port)
        r = redis.Redis.from_url(server.url, decode_responses=True)
        r.hset("cm:triggers", "default/all", json.dumps({
            "apiVersion": "eventing.knative.dev/v1", "kind": "Trigger",
            "metadata": {"name": "all", "namespace": "default"},
            "spec": {"broker": "default", "subscriber": {"uri": f"http://127.0.0.1:{sub_port}/"}}}))
        broker = subprocess.Popen(
            [sys.executable, "-m", "cutman.runtime.broker", "--port", str(port), "--redis-url", server.url,
             "--broker", "default/default"],
            env=os.environ.copy(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_for_http(port, "/health", timeout=30, proc=broker)
            cpu0 = cpu_seconds(broker.pid)
            started = time.perf_counter()
            with profiled(broker.pid, "broker"):
                res = wrk(f"http://127.0.0.1:{port}/default/default", connections=32, seconds=seconds, alerts=1,
                          mode="event", tag=uuid.uuid4().hex[:8])
                accepted = res.requests - res.non_2xx
                delivered, last_change, last = 0, time.perf_counter(), -1
                while time.perf_counter() - last_change < 3.0:
                    delivered = int(httpx.get(f"http://127.0.0.1:{sub_port}/count", timeout=10).text)
                    if delivered != last:
                        last, last_change = delivered, time.perf_counter()
                    if delivered >= accepted:
                        break
                    time.sleep(0.05)
            elapsed = last_change - started
            cpu = cpu_seconds(broker.pid) - cpu0
        finally:
            stop(broker)
            stop(subscriber)
            r.close()
            server.stop()
    return {"broker.events_per_s": delivered / elapsed, "broker.accepted_per_s": res.ok_rps,
            "broker.accept_p99_ms": res.p99_ms, "broker.delivered": float(delivered),
            "broker.lost": float(accepted - delivered), "broker.cpu_ms_per_event": cpu / max(1, delivered) * 1000}
