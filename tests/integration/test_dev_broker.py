"""The dev broker keeps Knative's data-plane contract.

Real Redis (the `redis_url` fixture), the real broker as a subprocess
(`python -m cutman.runtime.broker`), and real HTTP subscribers written here: small
threaded servers that record every request and answer from a script. No doubles of
our code. Every wait polls with a deadline; trigger specs use short backoff delays.
"""

from __future__ import annotations

import base64
import json
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from cutman.runtime.redis_server import free_port, wait_for_port

DEADLINE = 15.0
FAST = {"backoffPolicy": "linear", "backoffDelay": "PT0.05S"}


# -- real subscribers --------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    answered: int

    @property
    def id(self) -> str:
        return self.headers.get("ce-id", "")

    @property
    def type(self) -> str:
        return self.headers.get("ce-type", "")


class Subscriber:
    """An HTTP server that records requests and answers from `script`, then `default`."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.script: list[Reply] = []
        self.default = Reply(200)
        self._lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                with owner._lock:
                    reply = owner.script.pop(0) if owner.script else owner.default
                    headers = {k.lower(): v for k, v in self.headers.items()}
                    owner.received.append(Received(self.path, headers, body, reply.status))
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("content-length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def answer(self, *script: Reply, then: Reply | None = None) -> None:
        with self._lock:
            self.script = list(script)
            if then is not None:
                self.default = then

    def requests(self, path: str | None = None) -> list[Received]:
        with self._lock:
            return [r for r in self.received if path is None or r.path == path]

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


# -- the broker process ------------------------------------------------------------


@dataclass
class BrokerProcess:
    proc: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def tail(self) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-30:])

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


StartBroker = Callable[..., BrokerProcess]


@pytest.fixture
def start_broker(redis_url: str, tmp_path: Path) -> Iterator[StartBroker]:
    started: list[BrokerProcess] = []

    def start(addressables: dict[str, str], *args: str, redis: str | None = None) -> BrokerProcess:
        port = free_port()
        log = tmp_path / f"broker-{len(started)}.log"
        argv = [
            sys.executable,
            "-m",
            "cutman.runtime.broker",
            "--port",
            str(port),
            "--redis-url",
            redis or redis_url,
            "--addressables",
            json.dumps(addressables),
            *args,
        ]
        with log.open("wb") as out:
            proc = subprocess.Popen(argv, stdout=out, stderr=out)
        broker = BrokerProcess(proc, port, log)
        started.append(broker)
        wait_for_port(port, proc=proc)
        return broker

    yield start
    for broker in started:
        broker.stop()


@pytest.fixture
def subscribers() -> Iterator[Callable[[], Subscriber]]:
    made: list[Subscriber] = []

    def make() -> Subscriber:
        made.append(Subscriber())
        return made[-1]

    yield make
    for s in made:
        s.stop()


@pytest.fixture
def r(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    yield client
    client.close()


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(trust_env=False, timeout=10) as client:
        yield client


# -- helpers -----------------------------------------------------------------------


def put_trigger(
    r: redis.Redis,
    name: str,
    subscriber: dict[str, Any],
    *,
    namespace: str = "default",
    broker: str = "default",
    delivery: dict[str, Any] | None = None,
    **filtering: Any,
) -> None:
    """Store a Trigger as cutman's reconciler does (local backend)."""
    spec: dict[str, Any] = {"broker": broker, "subscriber": subscriber, **filtering}
    if delivery is not None:
        spec["delivery"] = delivery
    manifest = {
        "apiVersion": "eventing.knative.dev/v1",
        "kind": "Trigger",
        "metadata": {"name": name, "namespace": namespace, "labels": {"cutman.dev/test": "1"}},
        "spec": spec,
    }
    r.hset("cm:triggers", f"{namespace}/{name}", json.dumps(manifest))


def ref(name: str, uri: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "ref": {"apiVersion": "serving.knative.dev/v1", "kind": "Service", "name": name}
    }
    if uri:
        out["uri"] = uri
    return out


def binary(event_type: str, **extensions: str) -> tuple[dict[str, str], bytes]:
    headers = {
        "ce-specversion": "1.0",
        "ce-id": str(uuid.uuid4()),
        "ce-source": "/tests/dev-broker",
        "ce-type": event_type,
        "content-type": "application/json",
        **{f"ce-{k}": v for k, v in extensions.items()},
    }
    return headers, json.dumps({"hello": "world"}).encode()


def post(
    http: httpx.Client,
    broker: BrokerProcess,
    event_type: str,
    path: str = "default/default",
    **extensions: str,
) -> str:
    headers, body = binary(event_type, **extensions)
    response = http.post(f"{broker.url}/{path}", headers=headers, content=body)
    assert response.status_code == 202, response.text
    return headers["ce-id"]


def wait_until(
    check: Callable[[], Any], what: str, broker: BrokerProcess, timeout: float = DEADLINE
) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}; broker log tail:\n{broker.tail()}")


def drained(r: redis.Redis, broker: str = "default/default") -> bool:
    """Nothing accepted is still being routed or delivered (entries go once done)."""
    keys = [f"cm:broker:{{{broker}}}:ingress", f"cm:broker:{{{broker}}}:deliveries"]
    return all(r.xlen(k) == 0 for k in keys)


def dead_letters(r: redis.Redis, broker: str = "default/default") -> list[dict[str, str]]:
    entries: list[tuple[str, dict[str, str]]] = r.xrange(f"cm:broker:{{{broker}}}:dead")  # type: ignore[assignment]
    return [fields for _, fields in entries]


def wait_drained(r: redis.Redis, broker: BrokerProcess, name: str = "default/default") -> None:
    wait_until(lambda: drained(r, name), f"broker {name} to drain", broker)


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
