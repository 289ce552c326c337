"""Alert-to-action latency and per-alert cost through the whole local stack.

Starts `cutman dev` with deploy/examples, posts N distinct alerts one at a time and
measures, per alert: webhook answered (ingest + dedupe + broker accept), run finished
(two cli steps through the broker), sink delivered. The floor is the cost of what the
work itself needs: two `sh -c` spawns and the HTTP hops, measured in this process.

    .venv/bin/python bench/alert_latency.py [--alerts 50]
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import redis
from cutman.runtime.redis_server import free_port

REPO = Path(__file__).resolve().parents[1]


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(p / 100 * (len(values) - 1)))]


def stack_cpu_seconds(root: int) -> float:
    """CPU time used so far by the processes `cutman dev` started (from /proc)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == root:
            total += int(fields[11]) + int(fields[12])
    return total / ticks


def sh_floor(n: int = 20) -> float:
    start = time.perf_counter()
    for _ in range(n):
        subprocess.run(["/bin/sh", "-c", "true"], check=True)
    return (time.perf_counter() - start) / n


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--alerts", type=int, default=50)
    args = parser.parse_args()
    alert = json.loads((REPO / "deploy/examples/alert.json").read_text())
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp) / "state"
        proc = subprocess.Popen(
            [sys.executable, "-m", "cutman.cli", "--state-dir", str(state), "dev", "--port", str(port),
             "-f", str(REPO / "deploy/examples")],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=REPO,
        )
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("cutman dev is up"):
                break
        info = json.loads((state / "dev.json").read_text())
        r = redis.Redis.from_url(info["redis_url"], decode_responses=True)
        answered, finished, delivered = [], [], []
        cpu0 = stack_cpu_seconds(proc.pid)
        try:
            with httpx.Client(timeout=30) as http:
                for i in range(args.alerts):
                    body = copy.deepcopy(alert)
                    body["alerts"][0]["labels"]["pod"] = f"bench-{i}"
                    t0 = time.perf_counter()
                    resp = http.post(f"http://127.0.0.1:{port}/webhook/alerts", json=body)
                    assert resp.status_code == 200 and resp.json()["firing"] == 1, resp.text
                    answered.append(time.perf_counter() - t0)
                    run_id = None
                    while True:
                        ids = r.zrange("cm:runs", 0, -1)
                        if len(ids) == i + 1:
                            run_id = ids[-1] if len(ids) == 1 else max(ids, key=lambda x: r.zscore("cm:runs", x) or 0)
                            run = json.loads(r.get(f"cm:run:{{{run_id}}}") or "{}")
                            if run.get("phase") in ("Succeeded", "Failed"):
                                finished.append(time.perf_counter() - t0)
                                break
                        time.sleep(0.001)
                    while not r.hget(f"cm:run:{{{run_id}}}:sinks", "console"):
                        time.sleep(0.001)
                    delivered.append(time.perf_counter() - t0)
            cpu = stack_cpu_seconds(proc.pid) - cpu0
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=30)
            proc.stdout.close()
            r.close()
    floor = 2 * sh_floor()
    print(f"alerts: {args.alerts}")
    for name, values in (("webhook answered", answered), ("run finished", finished), ("sink delivered", delivered)):
        print(f"{name:<17} p50 {statistics.median(values) * 1000:7.1f} ms   p95 {pct(values, 95) * 1000:7.1f} ms")
    print(f"floor (2 x sh -c true): {floor * 1000:.1f} ms; alert-to-action p50 is "
          f"{statistics.median(delivered) / floor:.1f}x the floor")
    print(f"CPU per alert (Redis, broker and the five functions): {cpu / args.alerts * 1000:.1f} ms")


if __name__ == "__main__":
    main()
