"""The dev broker keeps Knative's data-plane contract: ingress and routing.

Ingress accepts valid CloudEvents (202 once durable), refuses invalid ones with the
reason, 404s an unknown broker and is 503 while Redis is down; routing sends each event
to the matching Triggers of its own broker only, and replies re-enter the ingress. Real
Redis, the real broker process and real subscribers: see broker_harness.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest
import redis
from cutman.runtime.redis_server import free_port

from tests.integration import broker_harness as harness
from tests.integration.broker_harness import (
    Reply,
    StartBroker,
    Subscriber,
    binary,
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


# -- ingress -----------------------------------------------------------------------


def test_health_answers_when_redis_does(start_broker: StartBroker, http: httpx.Client) -> None:
    broker = start_broker({})
    assert http.get(f"{broker.url}/health").status_code == 200


def test_binary_and_structured_events_are_accepted_and_delivered_in_binary_mode(
    start_broker: StartBroker,
    subscribers: Callable[[], Subscriber],
    r: redis.Redis,
    http: httpx.Client,
) -> None:
    sub = subscribers()
    put_trigger(r, "all", ref("sink"))
    broker = start_broker({"sink": sub.url})

    binary_id = post(http, broker, "dev.test.binary")
    structured = {
        "specversion": "1.0",
        "id": "structured-1",
        "source": "/tests",
        "type": "dev.test.structured",
        "subject": "s-1",
        "datacontenttype": "application/json",
        "data": {"n": 1},
    }
    response = http.post(
        f"{broker.url}/default/default",
        content=json.dumps(structured),
        headers={"content-type": "application/cloudevents+json"},
    )
    assert response.status_code == 202, response.text

    got = wait_until(lambda: len(sub.requests()) >= 2 and sub.requests(), "two deliveries", broker)
    by_id = {req.id: req for req in got}
    assert set(by_id) == {binary_id, "structured-1"}
    delivered = by_id["structured-1"]
    assert delivered.type == "dev.test.structured"
    assert delivered.headers["ce-subject"] == "s-1"
    assert json.loads(delivered.body) == {"n": 1}
    assert json.loads(by_id[binary_id].body) == {"hello": "world"}
    for req in got:
        assert req.headers["prefer"] == "reply"
        assert req.headers["ce-knativearrivaltime"].endswith("Z")
        assert "ce-time" not in req.headers, "a broker forwards events without stamping time"


@pytest.mark.parametrize(
    ("headers", "body", "reason"),
    [
        ({"ce-specversion": "1.0", "ce-id": "1", "ce-source": "/s"}, b"{}", "type"),
        (
            {"ce-specversion": "2.0", "ce-id": "1", "ce-source": "/s", "ce-type": "t"},
            b"",
            "specversion",
        ),
        ({"content-type": "application/cloudevents+json"}, b"{not json", "not JSON"),
        (
            {"content-type": "application/cloudevents+json"},
            b'{"specversion": "1.0", "id": "1"}',
            "source",
        ),
        ({"content-type": "application/json"}, b'{"a": 1}', "not a CloudEvent"),
    ],
)
def test_an_invalid_event_is_refused_with_the_reason(
    start_broker: StartBroker,
    http: httpx.Client,
    r: redis.Redis,
    headers: dict[str, str],
    body: bytes,
    reason: str,
) -> None:
    broker = start_broker({})
    response = http.post(f"{broker.url}/default/default", headers=headers, content=body)
    assert response.status_code == 400
    assert reason in response.json()["message"]
    assert r.xlen("cm:broker:{default/default}:ingress") == 0


def test_an_unknown_broker_is_404(start_broker: StartBroker, http: httpx.Client) -> None:
    broker = start_broker({})
    headers, body = binary("dev.test")
    response = http.post(f"{broker.url}/default/nope", headers=headers, content=body)
    assert response.status_code == 404
    assert "/default/default" in response.json()["message"]


def test_ingress_is_503_while_redis_is_down(start_broker: StartBroker, http: httpx.Client) -> None:
    broker = start_broker({}, redis=f"redis://127.0.0.1:{free_port()}/0")
    headers, body = binary("dev.test")
    response = http.post(f"{broker.url}/default/default", headers=headers, content=body)
    assert response.status_code == 503
    assert response.json()["error"] == "unavailable"
    assert http.get(f"{broker.url}/health").status_code == 503


# -- routing -----------------------------------------------------------------------


def test_attribute_filters_route_only_to_matching_triggers(
    start_broker: StartBroker,
    subscribers: Callable[[], Subscriber],
    r: redis.Redis,
    http: httpx.Client,
) -> None:
    sub = subscribers()
    put_trigger(
        r,
        "firing",
        ref("svc", "/firing"),
        filter={"attributes": {"type": "dev.cutman.alert.firing", "severity": "critical"}},
    )
    put_trigger(
        r,
        "resolved",
        ref("svc", "/resolved"),
        filter={"attributes": {"type": "dev.cutman.alert.resolved"}},
    )
    put_trigger(r, "other-broker", ref("svc", "/other"), broker="elsewhere")
    broker = start_broker({"svc": sub.url})

    critical = post(http, broker, "dev.cutman.alert.firing", severity="critical")
    post(http, broker, "dev.cutman.alert.firing", severity="warning")
    resolved = post(http, broker, "dev.cutman.alert.resolved", severity="warning")
    wait_drained(r, broker)

    assert [q.id for q in sub.requests("/firing")] == [critical]
    assert [q.id for q in sub.requests("/resolved")] == [resolved]
    assert len(sub.requests()) == 2


def test_filters_dialects_route_and_take_precedence(
    start_broker: StartBroker,
    subscribers: Callable[[], Subscriber],
    r: redis.Redis,
    http: httpx.Client,
) -> None:
    sub = subscribers()
    put_trigger(
        r,
        "steps",
        ref("svc", "/steps"),
        filter={"attributes": {"type": "never.matches"}},
        filters=[
            {"prefix": {"type": "dev.cutman.step."}},
            {"any": [{"exact": {"step": "analyze"}}, {"suffix": {"workflow": "/triage"}}]},
            {"not": {"exact": {"steptype": "agent"}}},
        ],
    )
    put_trigger(r, "bad-cesql", ref("svc", "/cesql"), filters=[{"cesql": "true"}])
    broker = start_broker({"svc": sub.url})

    match = post(http, broker, "dev.cutman.step.requested", step="fix", workflow="default/triage")
    post(http, broker, "dev.cutman.step.requested", step="fix", workflow="default/other")
    post(http, broker, "dev.cutman.step.requested", step="analyze", steptype="agent")
    post(http, broker, "dev.cutman.run.finished", step="analyze")
    wait_drained(r, broker)

    assert [q.id for q in sub.requests()] == [match]
    assert sub.requests()[0].path == "/steps"
    assert "cesql filters are not supported" in broker.log.read_text()


def test_a_reply_is_routed_by_another_trigger(
    start_broker: StartBroker,
    subscribers: Callable[[], Subscriber],
    r: redis.Redis,
    http: httpx.Client,
) -> None:
    step, sink = subscribers(), subscribers()
    reply_headers = {
        "ce-specversion": "1.0",
        "ce-id": "reply-1",
        "ce-source": "/step-cli",
        "ce-type": "dev.cutman.run.finished",
        "ce-workflow": "default/triage",
        "content-type": "application/json",
    }
    step.answer(then=Reply(200, reply_headers, b'{"phase": "succeeded"}'))
    structured_reply = json.dumps(
        {
            "specversion": "1.0",
            "id": "reply-2",
            "source": "/step-cli",
            "type": "dev.cutman.run.finished",
            "workflow": "default/triage",
            "data": {"n": 2},
        }
    ).encode()
    put_trigger(
        r, "step", ref("step-cli"), filters=[{"exact": {"type": "dev.cutman.step.requested"}}]
    )
    put_trigger(
        r,
        "sink",
        ref("sink", "/sinks/default/slack"),
        filters=[
            {"exact": {"type": "dev.cutman.run.finished"}},
            {"exact": {"workflow": "default/triage"}},
        ],
    )
    broker = start_broker({"step-cli": step.url, "sink": sink.url})

    post(http, broker, "dev.cutman.step.requested")
    got = wait_until(sink.requests, "the binary reply at the sink", broker)
    assert [(q.id, q.path) for q in got] == [("reply-1", "/sinks/default/slack")]
    assert json.loads(got[0].body) == {"phase": "succeeded"}
    assert "ce-knativearrivaltime" in got[0].headers

    step.answer(then=Reply(200, {"content-type": "application/cloudevents+json"}, structured_reply))
    post(http, broker, "dev.cutman.step.requested")
    got = wait_until(lambda: len(sink.requests()) == 2 and sink.requests(), "second reply", broker)
    assert got[1].id == "reply-2"
    assert json.loads(got[1].body) == {"n": 2}


def test_triggers_apply_only_to_their_own_broker(
    start_broker: StartBroker,
    subscribers: Callable[[], Subscriber],
    r: redis.Redis,
    http: httpx.Client,
) -> None:
    sub = subscribers()
    put_trigger(r, "team", ref("svc", "/team"), namespace="team", broker="events")
    put_trigger(r, "default", ref("svc", "/default"))
    broker = start_broker(
        {"svc": sub.url}, "--broker", "default/default", "--broker", "team/events"
    )

    team = post(http, broker, "dev.test", path="team/events")
    default = post(http, broker, "dev.test")
    wait_drained(r, broker, "team/events")
    wait_drained(r, broker)
    assert [q.id for q in sub.requests("/team")] == [team]
    assert [q.id for q in sub.requests("/default")] == [default]
