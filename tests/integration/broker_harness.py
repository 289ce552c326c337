"""The dev broker test harness: real subscribers, the broker process, fixtures, helpers.

Shared by the test_dev_broker_*.py modules. Real Redis (the `redis_url` fixture), the
real broker as a subprocess (`python -m cutman.runtime.broker`), and real HTTP
subscribers written here: small threaded servers that record every request and answer
from a script. No doubles of our code. Every wait polls with a deadline; FAST gives
trigger specs short backoff delays. The fixtures (start_broker, subscribers, r, http)
are plain pytest fixtures; each test module binds them by name (`r = harness.r`).
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from cutman.runtime.redis_server import free_port, stop_process, wait_for_port

from tests.waiting import wait_for

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
        stop_process(self.proc, timeout=10)


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
    return wait_for(check, timeout=timeout, what=what, interval=0.02,
                    detail=lambda: f"; broker log tail:\n{broker.tail()}")


def drained(r: redis.Redis, broker: str = "default/default") -> bool:
    """Nothing accepted is still being routed or delivered (entries go once done)."""
    keys = [f"cm:broker:{{{broker}}}:ingress", f"cm:broker:{{{broker}}}:deliveries"]
    return all(r.xlen(k) == 0 for k in keys)


def dead_letters(r: redis.Redis, broker: str = "default/default") -> list[dict[str, str]]:
    entries: list[tuple[str, dict[str, str]]] = r.xrange(f"cm:broker:{{{broker}}}:dead")  # type: ignore[assignment]
    return [fields for _, fields in entries]


def wait_drained(r: redis.Redis, broker: BrokerProcess, name: str = "default/default") -> None:
    wait_until(lambda: drained(r, name), f"broker {name} to drain", broker)
