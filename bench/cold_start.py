"""Cold start of each function: process spawn to a 200 on /health/readiness.

In a scale-to-zero system every first alert after a quiet period pays this. The floor
is the interpreter plus func-python's server with an empty function; the ratio says
what cutman's own imports and start() add.

    .venv/bin/python bench/cold_start.py [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from cutman.runtime.loader import FUNCTIONS
from cutman.runtime.redis_server import free_port, start_redis

FLOOR = """
from func_python.http import serve
class F:
    async def handle(self, scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})
def new():
    return F()
serve(new)
"""


def time_to_ready(argv: list[str], env: dict[str, str], port: int) -> float:
    start = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health/readiness", timeout=0.5).status_code == 200:
                    return time.perf_counter() - start
            except httpx.HTTPError:
                pass
            if proc.poll() is not None:
                raise RuntimeError(f"{argv} exited with {proc.returncode}")
            time.sleep(0.005)
    finally:
        proc.terminate()
        proc.wait()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        redis = start_redis(Path(tmp), persist=False)
        try:
            base = {**os.environ, "REDIS_URL": redis.url, "K_SINK": "http://127.0.0.1:9/none"}
            results: dict[str, list[float]] = {}
            for name in ("floor", *FUNCTIONS):
                for _ in range(args.runs):
                    port = free_port()
                    env = {**base, "LISTEN_ADDRESS": f"127.0.0.1:{port}"}
                    argv = ([sys.executable, "-c", FLOOR] if name == "floor"
                            else [sys.executable, "-m", "cutman.runtime.serve", name])
                    results.setdefault(name, []).append(time_to_ready(argv, env, port))
        finally:
            redis.stop()
    floor = statistics.median(results["floor"])
    print(f"{'function':<12} {'median ms':>10} {'min ms':>8} {'x floor':>8}")
    for name, times in results.items():
        med = statistics.median(times)
        print(f"{name:<12} {med * 1000:>10.0f} {min(times) * 1000:>8.0f} {med / floor:>8.2f}")


if __name__ == "__main__":
    main()
