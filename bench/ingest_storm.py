"""10,000 concurrent identical alerts through ingest start exactly one alert.firing.

Serves ingest for real (func-python, own Redis, dev broker, a recording subscriber; the
rig of tests/integration/ingest_harness.py), fires N identical webhooks with C in
flight, and prints throughput, latency percentiles, and the dedupe outcome.

    .venv/bin/python bench/ingest_storm.py [--n 10000] [--concurrency 200]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.integration.ingest_harness import alert, am_payload, source, start_rig, storm, wait_for


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=10_000)
    p.add_argument("--concurrency", type=int, default=200)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        rig = start_rig(Path(tmp))
        try:
            rig.apply(source())
            body = json.dumps(am_payload(alert(pod="same"))).encode()
            started = time.perf_counter()
            attempts: list[int] = []
            answers = asyncio.run(storm(rig.url + "/webhook/am", body, n=args.n, concurrency=args.concurrency,
                                        retry_5xx=True, attempts=attempts))
            elapsed = time.perf_counter() - started
            codes = sorted({r.status_code for r in answers})
            firing = sum(r.json().get("firing", 0) for r in answers if r.status_code == 200)
            wait_for(lambda: rig.recorder.of_type("dev.cutman.alert.firing"), what="the event")
            time.sleep(1.0)
            delivered = len(rig.recorder.of_type("dev.cutman.alert.firing"))
            lat = sorted(r.elapsed.total_seconds() for r in answers)
            print(f"webhooks:            {args.n} identical, {args.concurrency} in flight")
            print(f"status codes:        {codes}  (final); attempts {len(attempts)}, "
                  f"of which 503 in-flight answers {attempts.count(503)}")
            print(f"wall time:           {elapsed:.2f} s  ({args.n / elapsed:.0f} webhooks/s)")
            print(f"latency p50/p99/max: {lat[len(lat) // 2] * 1000:.1f} / {lat[int(len(lat) * 0.99)] * 1000:.1f}"
                  f" / {lat[-1] * 1000:.1f} ms")
            print(f"firing decisions:    {firing}   (expected 1)")
            print(f"events delivered:    {delivered}   (expected 1)")
            return 0 if firing == 1 and delivered == 1 and codes == [200] else 1
        finally:
            rig.close()


if __name__ == "__main__":
    raise SystemExit(main())
