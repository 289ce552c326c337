"""The dev broker keeps Knative's data-plane contract: delivery, retries, dead letters.

Retryable statuses are retried until success; a 400, exhausted retries and unknown refs
end at the dead-letter sink and in the dead-letter stream; slow deliveries do not hold
up others; an accepted event survives kill -9 of the broker. Real Redis, the real broker
process and real subscribers: see broker_harness.
"""

from __future__ import annotations

import base64
import signal
from collections.abc import Callable

import httpx
import pytest
import redis

from tests.integration import broker_harness as harness
from tests.integration.broker_harness import (
    FAST,
    Reply,
    StartBroker,
    Subscriber,
    dead_letters,
    post,
    put_trigger,
    ref,
    wait_drained,
    wait_until,
)

# The harness's fixtures, bound here so that pytest finds them by name.
http = harness.http
r = harness.r
start_broker = harness.start_broker
subscribers = harness.subscribers


# -- retries and dead letters ------------------------------------------------------


@pytest.mark.parametrize("status", [503, 409, 429, 404])
def test_retryable_statuses_are_retried_until_success(
    start_broker: StartBroker,
    subscribers: Callable[[], Subscriber],
    r: redis.Redis,
    http: httpx.Client,
    status: int,
) -> None:
    sub = subscribers()
    sub.answer(Reply(status), Reply(status), then=Reply(202))
    put_trigger(r, "t", ref("svc"), delivery={"retry": 5, **FAST})
    broker = start_broker({"svc": sub.url})

    event = post(http, broker, "dev.test")
    wait_drained(r, broker)
    got = sub.requests()
    assert [q.answered for q in got] == [status, status, 202]
    assert {q.id for q in got} == {event}
    assert dead_letters(r) == []


def test_a_400_goes_to_the_dead_letter_sink_without_retry(
    start_broker: StartBroker,
    subscribers: Callable[[], Subscriber],
    r: redis.Redis,
    http: httpx.Client,
) -> None:
    sub, dls = subscribers(), subscribers()
    sub.answer(then=Reply(400, {"content-type": "application/json"}, b'{"error": "bad_request"}'))
    put_trigger(
        r,
        "t",
        ref("svc", "/start"),
        delivery={"retry": 5, **FAST, "deadLetterSink": ref("dls", "/dead")},
    )
    broker = start_broker({"svc": sub.url, "dls": dls.url})

    event = post(http, broker, "dev.test", workflow="default/w")
    got = wait_until(dls.requests, "the dead-letter sink", broker)
    wait_drained(r, broker)

    assert len(sub.requests()) == 1
    dead = got[0]
    assert dead.path == "/dead"
    assert dead.id == event
    assert dead.headers["ce-workflow"] == "default/w"
    assert dead.headers["ce-knativeerrorcode"] == "400"
    assert dead.headers["ce-knativeerrordest"] == f"{sub.url}/start"
    assert base64.b64decode(dead.headers["ce-knativeerrordata"]) == b'{"error": "bad_request"}'
    assert "prefer" not in dead.headers
    (record,) = dead_letters(r)
    assert record["code"] == "400"
    assert record["trigger"] == "default/t"
    assert "not retryable" in record["reason"]


def test_exhausted_retries_and_unknown_refs_are_dead_lettered(
    start_broker: StartBroker,
    subscribers: Callable[[], Subscriber],
    r: redis.Redis,
    http: httpx.Client,
) -> None:
    sub, dls = subscribers(), subscribers()
    sub.answer(then=Reply(500))
    put_trigger(
        r,
        "flaky",
        ref("svc"),
        delivery={"retry": 2, **FAST, "deadLetterSink": {"uri": f"{dls.url}/dead"}},
    )
    put_trigger(
        r, "ghost", ref("missing"), delivery={"deadLetterSink": {"uri": f"{dls.url}/ghost"}}
    )
    broker = start_broker({"svc": sub.url})

    post(http, broker, "dev.test")
    wait_until(lambda: len(dls.requests()) == 2, "two dead letters", broker)
    wait_drained(r, broker)

    assert len(sub.requests()) == 3
    (flaky,) = dls.requests("/dead")
    assert flaky.headers["ce-knativeerrorcode"] == "500"
    (ghost,) = dls.requests("/ghost")
    assert ghost.headers["ce-knativeerrorcode"] == "-1"
    assert "ce-knativeerrordest" not in ghost.headers
    assert b"missing" in base64.b64decode(ghost.headers["ce-knativeerrordata"])
    records = {rec["trigger"]: rec for rec in dead_letters(r)}
    assert "after 3 attempt(s)" in records["default/flaky"]["reason"]
    assert "not addressable" in records["default/ghost"]["reason"]


def test_many_slow_deliveries_do_not_wait_for_each_other(
    start_broker: StartBroker,
    subscribers: Callable[[], Subscriber],
    r: redis.Redis,
    http: httpx.Client,
) -> None:
    slow, fast = subscribers(), subscribers()
    slow.answer(then=Reply(503))
    put_trigger(
        r,
        "slow",
        ref("slow"),
        delivery={"retry": 1000, **FAST},
        filters=[{"exact": {"type": "slow"}}],
    )
    put_trigger(r, "fast", ref("fast"), filters=[{"exact": {"type": "fast"}}])
    broker = start_broker({"slow": slow.url, "fast": fast.url})

    post(http, broker, "slow")
    wait_until(slow.requests, "the slow delivery to start", broker)
    quick = post(http, broker, "fast")
    got = wait_until(fast.requests, "the fast delivery", broker, timeout=5)
    assert got[0].id == quick


# -- crash safety ------------------------------------------------------------------


def test_an_accepted_event_survives_kill_9(
    start_broker: StartBroker,
    subscribers: Callable[[], Subscriber],
    r: redis.Redis,
    http: httpx.Client,
) -> None:
    sub = subscribers()
    sub.answer(then=Reply(503))
    put_trigger(r, "t", ref("svc"), delivery={"retry": 1000, **FAST})
    first = start_broker({"svc": sub.url})

    event = post(http, first, "dev.test")
    wait_until(lambda: len(sub.requests()) >= 2, "failing attempts", first)
    first.proc.send_signal(signal.SIGKILL)
    first.proc.wait(timeout=5)
    sub.answer(then=Reply(200))
    assert r.xlen("cm:broker:{default/default}:deliveries") == 1

    second = start_broker({"svc": sub.url})
    wait_until(lambda: any(q.answered == 200 for q in sub.requests()), "redelivery", second)
    wait_drained(r, second)
    delivered = [q for q in sub.requests() if q.answered == 200]
    assert [q.id for q in delivered] == [event]
