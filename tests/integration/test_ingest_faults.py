"""No alert lost: Redis or the broker stops during a burst, then comes back.

Real processes only (ingest_harness): redis-server (append-only file, restarted on the
same port), the dev broker (which keeps its streams in that same Redis), ingest served by
func-python. The client retries on 5xx or a dropped connection as Alertmanager's webhook
notifier does. Exactly once here means: every alert's firing event reaches the
subscriber, and each alert has exactly one event id (a re-emission after a failure
reuses the first id, which is what runs are keyed by).
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections import defaultdict
from pathlib import Path

import httpx

from tests.integration.ingest_harness import IngestRig, alert, am_payload, source, start_rig, storm
from tests.waiting import wait_for

FIRING = "dev.cutman.alert.firing"


class Burst:
    """Webhooks for `pods`, one alert each, all in flight at once, each retried until < 500."""

    def __init__(self, rig: IngestRig, pods: list[str]) -> None:
        self.attempts: list[int] = []
        self.answers: list[httpx.Response] = []
        self.thread = threading.Thread(target=lambda: asyncio.run(self._run(rig, pods)))
        self.thread.start()

    async def _run(self, rig: IngestRig, pods: list[str]) -> None:
        results = await asyncio.gather(*(
            storm(rig.url + "/webhook/am", json.dumps(am_payload(alert(pod=p))).encode(), n=1, concurrency=1,
                  retry_5xx=True, attempts=self.attempts)
            for p in pods))
        self.answers = [r for rs in results for r in rs]

    def join(self) -> list[int]:
        self.thread.join(timeout=60)
        assert not self.thread.is_alive(), "the client never got through"
        return [r.status_code for r in self.answers]


def _exactly_once(rig: IngestRig, count: int) -> None:
    ids: dict[str, set[str]] = defaultdict(set)
    for event in rig.recorder.of_type(FIRING):
        ids[event["ce-fingerprint"]].add(event["ce-id"])
    assert len(ids) == count, f"{count - len(ids)} alerts never reached the broker's subscriber"
    assert all(len(v) == 1 for v in ids.values()), "an alert was emitted under two event ids"


def _delivered(rig: IngestRig) -> int:
    return len({e["ce-fingerprint"] for e in rig.recorder.of_type(FIRING)})


def test_redis_stops_during_a_burst_and_comes_back(tmp_path: Path) -> None:
    rig = start_rig(tmp_path, CUTMAN_CLAIM_LEASE="1")
    try:
        rig.apply(source())
        pods = [f"pod-{i}" for i in range(120)]
        burst = Burst(rig, pods[:60])
        wait_for(lambda: _delivered(rig) >= 10, what="the burst to start")
        rig.redis.stop()
        during = httpx.post(rig.url + "/webhook/am", json=am_payload(alert(pod="probe")), timeout=30)
        assert during.status_code == 503 and during.headers["retry-after"]
        assert "redis" in during.json()["message"]
        late = Burst(rig, pods[60:])
        wait_for(lambda: 503 in late.attempts, what="503 answers while Redis is down")
        rig.restart_redis()
        assert set(burst.join() + late.join()) == {200}
        assert 500 not in burst.attempts + late.attempts
        wait_for(lambda: _delivered(rig) >= 120, timeout=30, what="every alert's event")
        _exactly_once(rig, 120)
        assert httpx.get(rig.url + "/health/readiness", timeout=5).status_code == 200
    finally:
        rig.close()


def test_broker_stops_then_comes_back(tmp_path: Path) -> None:
    rig = start_rig(tmp_path, CUTMAN_CLAIM_LEASE="1")
    try:
        rig.apply(source())
        rig.broker.stop()
        refused = httpx.post(rig.url + "/webhook/am", json=am_payload(alert(pod="p-0")), timeout=30)
        assert refused.status_code == 503 and "broker unreachable" in refused.json()["message"]
        state = rig.redis_call(lambda r: [r.hgetall(k) for k in r.scan_iter("cm:fp:{default/am}:*")])
        assert len(state) == 1 and state[0]["pending"] == "0", "the unsent claim is marked for re-emission"
        assert rig.redis_call(lambda r: r.hget("cm:srcstat:{default/am}", "eventsProcessed")) is None
        burst = Burst(rig, [f"p-{i}" for i in range(40)])
        wait_for(lambda: burst.attempts.count(503) >= 40, what="503 answers while the broker is down")
        rig.broker.start()
        assert set(burst.join()) == {200}
        assert 500 not in burst.attempts
        wait_for(lambda: _delivered(rig) >= 40, timeout=30, what="every alert's event")
        _exactly_once(rig, 40)
        assert rig.redis_call(lambda r: r.hget("cm:srcstat:{default/am}", "eventsProcessed")) == "40"
    finally:
        rig.close()
