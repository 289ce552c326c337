"""One huge webhook is bounded work: refused over CUTMAN_MAX_ALERTS, never a freeze.

Served ingest for real (func-python), its own redis-server, the real dev broker process
and a recording subscriber (tests/integration/ingest_harness.py). No doubles. Issue 11
item 5: a 4,000- or 10,000-alert webhook used to hold ingest at 100% CPU for minutes
while every other request timed out.
"""

from __future__ import annotations

import json
import os
import re
import signal
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.ingest_harness import alert, am_payload, source, start_rig
from tests.waiting import wait_for

BIG_BODY_LIMIT = str(16 * 1024 * 1024)


def big(n: int, tag: str) -> bytes:
    return json.dumps(am_payload(*(alert(pod=f"{tag}-{i}") for i in range(n)))).encode()


def post(url: str, body: bytes, timeout: float = 60) -> httpx.Response:
    return httpx.post(url, content=body, headers={"content-type": "application/json"}, timeout=timeout)


def test_webhooks_over_the_alert_limit_are_refused_with_413_naming_max_alerts(tmp_path: Path) -> None:
    rig = start_rig(tmp_path, CUTMAN_BODY_LIMIT=BIG_BODY_LIMIT)
    try:
        rig.apply(source())
        for n in (4_000, 10_000):
            resp = post(rig.url + "/webhook/am", big(n, f"big{n}"))
            assert resp.status_code == 413, resp.text
            body = resp.json()
            assert body["field"] == "alerts"
            assert f"{n} alerts" in body["message"] and "max_alerts: 1000" in body["message"]
            assert "CUTMAN_MAX_ALERTS" in body["message"]
        assert rig.redis_call(lambda r: list(r.scan_iter("cm:fp:*"))) == []  # refused before any claim
        small = post(rig.url + "/webhook/am", json.dumps(am_payload(alert(pod="small"))).encode())
        assert small.status_code == 200 and small.json()["firing"] == 1
        wait_for(lambda: rig.recorder.of_type("dev.cutman.alert.firing"), what="the small webhook's event")
        assert len(rig.recorder.of_type("dev.cutman.alert.firing")) == 1
    finally:
        rig.close()


@pytest.mark.timeout(400)
def test_a_4000_alert_webhook_under_a_raised_limit_is_answered_while_others_are_served(tmp_path: Path) -> None:
    """No Trigger routes the events on (the broker only accepts them), so the figure is
    ingest's; the deadline is generous because this machine may be shared."""
    rig = start_rig(tmp_path, CUTMAN_BODY_LIMIT=BIG_BODY_LIMIT, CUTMAN_MAX_ALERTS="4000",
                    CUTMAN_BROKER_DEADLINE="300", CUTMAN_CLAIM_LEASE="310")
    try:
        rig.apply(source())
        rig.redis_call(lambda r: r.hdel("cm:triggers", "default/recorder"))
        answer: dict[str, Any] = {}

        def post_big() -> None:
            answer["big"] = post(rig.url + "/webhook/am", big(4_000, "huge"), timeout=320)

        worker = threading.Thread(target=post_big)
        worker.start()
        wait_for(lambda: len(rig.redis_call(lambda r: list(r.scan_iter("cm:fp:{default/am}:*", count=1000))))
                 >= 4_000, timeout=120, what="the big webhook's claims (its events are being sent)")
        small = post(rig.url + "/webhook/am", json.dumps(am_payload(alert(pod="meanwhile"))).encode())
        assert small.status_code == 200 and small.json()["firing"] == 1
        assert "big" not in answer  # served while the big one was still being handed to the broker
        worker.join(timeout=330)
        assert answer["big"].status_code == 200, answer["big"].text
        assert answer["big"].json()["firing"] == 4_000
        processed = rig.redis_call(lambda r: r.hget("cm:srcstat:{default/am}", "eventsProcessed"))
        assert processed == "4001"  # every event accepted by the broker, each confirmed once
    finally:
        rig.close()


def test_a_broker_that_does_not_answer_in_time_gets_a_503_and_the_claims_are_undone(tmp_path: Path) -> None:
    rig = start_rig(tmp_path, CUTMAN_BROKER_DEADLINE="1")
    try:
        rig.apply(source())
        body = big(200, "slow")
        assert rig.broker.proc is not None
        os.kill(rig.broker.proc.pid, signal.SIGSTOP)  # accepts connections (kernel), answers nothing
        try:
            resp = post(rig.url + "/webhook/am", body, timeout=30)
        finally:
            os.kill(rig.broker.proc.pid, signal.SIGCONT)
        assert resp.status_code == 503 and resp.headers["retry-after"] == "5"
        assert re.search(r"did not accept the 20\d event\(s\) of this request within 1 s", resp.json()["message"])
        pending = rig.redis_call(lambda r: [r.hget(k, "pending") for k in r.scan_iter("cm:fp:{default/am}:*")])
        assert len(pending) == 200 and set(pending) == {"0"}  # undone: the retry emits them again
        for _ in range(40):  # Alertmanager retries; the broker first works off the abandoned posts
            retry = post(rig.url + "/webhook/am", body)
            if retry.status_code != 503:
                break
            time.sleep(0.5)
        assert retry.status_code == 200 and retry.json()["firing"] == 200
    finally:
        rig.close()
