"""Sink delivery under at-least-once, with the webhook sink as the remote.

Real components: the sink function as a subprocess (func-python HTTP), a real Redis, and a
local receiver over real HTTP standing in for the customer's webhook. The HMAC signature
is checked with Python's `hmac` module here, independently of cutman's code.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cutman.adapters.store import RedisStore
from cutman.models.run import RunPhase
from cutman.runtime.redis_server import stop_process
from cutman.sinks.delivery import LEASE_MARGIN_S, sweep_sink_deliveries

from tests.integration.sink_harness import NS, SinkRig, concurrently, start_sink
from tests.receiver import Receiver, Reply


@pytest.fixture
def rig(redis_url: str, tmp_path: Path) -> Iterator[SinkRig]:
    proc, rig = start_sink(redis_url, tmp_path)
    yield rig
    stop_process(proc, timeout=10)


def hook(endpoint: str, **config: object) -> dict[str, object]:
    return {"type": "webhook", "config": {"endpoint": endpoint, **config}}


def test_signed_post_with_headers_from_a_secret(rig: SinkRig, receiver: Receiver) -> None:
    rig.secret("hook-key", {"secret": "s3cr3t-signing-key"})
    rig.secret("hook-headers", {"Authorization": "Bearer tok-123", "X-Api-Key": "k-456"})
    rig.sink("hook", hook(receiver.url + "/in?token=query-secret", secretRef="hook-key",
                          headersSecret="hook-headers", template='{"alert": "{{ .alert.alertname }}"}'))
    rig.run()
    resp = rig.deliver("hook")
    assert resp.status_code == 200, resp.text
    [req] = receiver.posts("/in")
    assert req.query == {"token": ["query-secret"]}
    assert json.loads(req.body) == {"alert": "HighCPU"}
    expected = "sha256=" + hmac.new(b"s3cr3t-signing-key", req.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(req.headers["x-cutman-signature"], expected)
    assert req.headers["authorization"] == "Bearer tok-123" and req.headers["x-api-key"] == "k-456"
    assert req.headers["x-cutman-delivery"] == f"run-1/{NS}/hook/finished"
    record = rig.records()["hook"]
    assert record["phase"] == "Delivered"
    dumped = json.dumps(rig.records()) + json.dumps(resp.json()) + rig.log.read_text()
    for secret in ("query-secret", "s3cr3t-signing-key", "tok-123", "k-456"):
        assert secret not in dumped
    assert rig.stats("hook")["messagesSent"] == "1"


def test_redelivered_and_concurrent_posts_once(rig: SinkRig, receiver: Receiver) -> None:
    receiver.handler = lambda r: Reply(delay=0.5)
    rig.sink("hook", hook(receiver.url + "/in"))
    rig.run()
    answers = concurrently(lambda: rig.deliver("hook"), n=4)
    assert min(a.status_code for a in answers) == 200
    assert {a.status_code for a in answers} <= {200, 409}
    for _ in range(2):
        assert rig.deliver("hook").status_code == 200
    assert len(receiver.posts("/in")) == 1
    assert rig.stats("hook")["messagesSent"] == "1"


def test_4xx_is_permanent_and_shown_in_status(rig: SinkRig, receiver: Receiver) -> None:
    receiver.handler = lambda r: Reply(status=403, body={"error": "forbidden"})
    rig.sink("hook", hook(receiver.url + "/in"))
    rig.run()
    resp = rig.deliver("hook")
    assert resp.status_code == 200 and resp.json()["phase"] == "Failed"
    assert rig.deliver("hook").status_code == 200
    assert len(receiver.posts()) == 1
    assert "answered 403" in rig.records()["hook"]["detail"]
    assert "run run-1: webhook" in rig.stats("hook")["lastError"]


@pytest.mark.parametrize("status", [500, 503, 408, 429])
def test_5xx_408_429_are_retried_then_delivered(rig: SinkRig, receiver: Receiver, status: int) -> None:
    answers = [Reply(status=status), Reply(status=200)]
    receiver.handler = lambda r: answers.pop(0)
    rig.sink("hook", hook(receiver.url + "/in"))
    rig.run()
    first = rig.deliver("hook")
    assert first.status_code == 503
    assert rig.records()["hook"]["phase"] == "Retrying"
    assert rig.deliver("hook").status_code == 200
    assert rig.records()["hook"]["phase"] == "Delivered" and rig.records()["hook"]["attempts"] == 2
    assert len(receiver.posts()) == 2


def test_a_delivery_slower_than_its_timeout_never_outlives_the_lease(rig: SinkRig, receiver: Receiver) -> None:
    receiver.handler = lambda r: Reply(delay=2.5)
    rig.sink("hook", hook(receiver.url + "/in", timeoutSeconds=1))
    rig.run()
    started = time.monotonic()
    slow = rig.deliver("hook")
    assert slow.status_code == 503 and time.monotonic() - started < 1 + LEASE_MARGIN_S
    assert "no answer within 1s" in rig.records()["hook"]["detail"]


def test_a_crash_while_sending_is_marked_unknown_not_sent_twice(
        rig: SinkRig, receiver: Receiver, redis_url: str) -> None:
    rig.sink("hook", hook(receiver.url + "/in"))
    rig.run()

    async def crashed_mid_send() -> None:
        store = RedisStore(redis_url)
        await store.record_sink("run-1", "hook", {"sink": "hook", "phase": "Sending", "attempts": 1})
        await store.track_delivery("run-1", f"{NS}/hook", "hook", time.time() - 2 * LEASE_MARGIN_S)
        await store.close()

    asyncio.run(crashed_mid_send())
    resp = rig.deliver("hook")
    assert resp.status_code == 200 and resp.json()["phase"] == "Unknown"
    assert receiver.posts() == []
    assert "may or may not have arrived" in rig.stats("hook")["lastError"]


def test_the_sweep_resolves_a_crash_nobody_redelivers(rig: SinkRig, receiver: Receiver, redis_url: str) -> None:
    rig.sink("hook", hook(receiver.url + "/in"))
    rig.run()
    rig.run("run-2")

    async def go() -> dict[str, int]:
        store = RedisStore(redis_url)
        long_ago = time.time() - 3600
        await store.record_sink("run-1", "hook", {"sink": "hook", "phase": "Sending", "attempts": 1})
        await store.track_delivery("run-1", f"{NS}/hook", "hook", long_ago)
        await store.record_sink("run-2", "hook", {"sink": "hook", "phase": "Retrying", "attempts": 6,
                                                  "detail": "webhook answered 503"})
        await store.track_delivery("run-2", f"{NS}/hook", "hook", long_ago)
        async with httpx.AsyncClient() as http:
            counts = await sweep_sink_deliveries(store, time.time(), http=http)
            again = await sweep_sink_deliveries(store, time.time(), http=http)
        await store.close()
        assert again == {"resent": 0, "unknown": 0, "exhausted": 0}
        return counts

    assert asyncio.run(go()) == {"resent": 0, "unknown": 1, "exhausted": 1}
    assert rig.records("run-1")["hook"]["phase"] == "Unknown"
    assert rig.records("run-2")["hook"]["phase"] == "Failed"
    assert "retries exhausted" in rig.records("run-2")["hook"]["detail"]
    assert receiver.posts() == []


def test_condition_and_failed_runs(rig: SinkRig, receiver: Receiver) -> None:
    rig.sink("hook", hook(receiver.url + "/in", template="{{ .run.phase }}: {{ .run.id }}"))
    rig.sink("only-failed", {**hook(receiver.url + "/failed"), "condition": '{{ eq .run.phase "Failed" }}'})
    rig.run(phase=RunPhase.FAILED, error="step analyze failed")
    rig.run("run-ok")
    for run_id in ("run-1", "run-ok"):
        assert rig.deliver("hook", run_id).status_code == 200
        assert rig.deliver("only-failed", run_id).status_code == 200
    assert [r.body for r in receiver.posts("/in")] == [b"Failed: run-1", b"Succeeded: run-ok"]
    assert len(receiver.posts("/failed")) == 1
    assert rig.records("run-ok")["only-failed"]["phase"] == "Skipped"


def test_workflow_sink_replies_one_chain_event_and_bounds_the_chain(rig: SinkRig) -> None:
    rig.sink("next", {"type": "workflow", "config": {"workflowName": "followup"}})
    rig.run()
    answers = concurrently(lambda: rig.deliver("next"), n=3)
    chained = [a for a in answers if a.headers.get("ce-type") == "dev.cutman.workflow.chained"]
    assert chained and len({a.headers["ce-id"] for a in chained}) == 1  # one child run id, however many replies
    assert chained[0].headers["ce-cmchain"] == f"{NS}/followup"
    assert chained[0].json()["parent"]["outputs"]["root_cause"] == "a busy loop in v2.3"
    again = rig.deliver("next")
    assert again.headers["ce-type"] == "dev.cutman.workflow.chained" and again.headers["ce-id"] == chained[0].headers["ce-id"]
    assert rig.records()["next"]["phase"] == "Delivered" and rig.records()["next"]["attempts"] == 1
    deep = rig.run("run-deep").model_copy(update={
        "eventType": "dev.cutman.workflow.chained",
        "data": {"chain": [f"{NS}/w{i}" for i in range(6)], "parent": {}}})
    rig._store(lambda s: s.save_run(deep))
    record = rig.deliver("next", "run-deep").json()
    assert record["phase"] == "Failed" and "workflows deep" in record["detail"]


def test_stdout_text_format_printed_once_under_redelivery(rig: SinkRig) -> None:
    rig.sink("console", {"type": "stdout", "config": {"format": "text"}})
    rig.run()
    answers = concurrently(lambda: rig.deliver("console"), n=3)
    assert 200 in {a.status_code for a in answers}
    assert rig.deliver("console").status_code == 200
    log = rig.log.read_text()
    assert log.count("[cutman] run run-1 of ops/wf: Succeeded\n") == 1
    assert "alert: HighCPU (critical)\n" in log and "root_cause: a busy loop in v2.3\n" in log


def test_a_remote_retry_after_reaches_the_broker(rig: SinkRig, receiver: Receiver) -> None:
    receiver.handler = lambda r: Reply(status=429, headers={"Retry-After": "7"})
    rig.sink("hook", hook(receiver.url + "/in"))
    rig.run()
    resp = rig.deliver("hook")
    assert resp.status_code == 503 and resp.headers["retry-after"] == "7"
