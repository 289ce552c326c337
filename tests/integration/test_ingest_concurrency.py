"""Concurrent identical alerts start exactly one alert.firing (served ingest, real Redis, dev broker).

The client retries 5xx as Alertmanager does: a notification that meets a claim another
request still has in flight is answered 503 and comes back as a duplicate.

The count here (1,000 webhooks, 50 in flight) keeps the suite fast; `make bench` (bench/e2e.py,
`dedupe`) posts the 10,000 of the issue through the whole local stack and counts runs.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from tests.integration.ingest_harness import alert, am_payload, source, start_rig, storm
from tests.waiting import wait_for

N = 1000


def test_concurrent_identical_alerts_emit_exactly_one_event(tmp_path: Path) -> None:
    rig = start_rig(tmp_path)
    try:
        rig.apply(source())
        body = json.dumps(am_payload(alert(pod="same"))).encode()
        attempts: list[int] = []
        answers = asyncio.run(storm(rig.url + "/webhook/am", body, n=N, concurrency=50, retry_5xx=True,
                                    attempts=attempts))
        assert {r.status_code for r in answers} == {200}
        assert set(attempts) <= {200, 503}
        firing = sum(r.json()["firing"] for r in answers)
        duplicates = sum(r.json()["duplicates"] for r in answers)
        assert (firing, duplicates) == (1, N - 1)
        wait_for(lambda: rig.recorder.of_type("dev.cutman.alert.firing"), what="the one event")
        states = rig.redis_call(lambda r: [r.hgetall(k) for k in r.scan_iter("cm:fp:{default/am}:*")])
        assert len(states) == 1 and states[0]["count"] == str(len(attempts)) and states[0]["emissions"] == "1"
        assert rig.redis_call(lambda r: r.hget("cm:srcstat:{default/am}", "eventsProcessed")) == "1"
        assert len(rig.recorder.of_type("dev.cutman.alert.firing")) == 1
    finally:
        rig.close()
