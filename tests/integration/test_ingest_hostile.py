"""Malformed, oversized and hostile payloads at ingest served for real (hypothesis).

Ingest runs as a process (func-python, own Redis, dev broker; see ingest_harness). For
any body, content type and header the answer is below 500 (garbage gets a 4xx naming
the problem; a well-formed payload with hostile values may be accepted), the process
stays up, and Redis is left consistent: every alert key has a lifecycle status, a
bounded lifetime and no unsettled claim, and eventsProcessed equals what the broker got.
"""

from __future__ import annotations

import json
import string
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.integration.ingest_harness import IngestRig, source, start_rig
from tests.waiting import wait_for

LIMIT = 16384
HOSTILE = st.sampled_from([
    "$(reboot)", "`id`", "'; DROP TABLE x;--", "{{ 7*7 }}", "{% raw %}", "\x00\x01", "\ud7ff\ue000",
    "a" * 3000, "../../etc/passwd", "\n\r\t", "☃" * 50, "cm:fp:{default/x}:y", "*", "",
])
TEXT = st.one_of(st.text(max_size=40), HOSTILE)
LABELS = st.dictionaries(st.one_of(st.sampled_from(["alertname", "severity", "pod"]), TEXT), TEXT, max_size=6)
JSONISH = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | TEXT,
                       lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
                       max_leaves=20)
ALERT = st.fixed_dictionaries(
    {"status": st.one_of(st.sampled_from(["firing", "resolved"]), TEXT, JSONISH), "labels": st.one_of(LABELS, JSONISH)},
    optional={"annotations": st.one_of(LABELS, JSONISH), "startsAt": st.one_of(TEXT, JSONISH),
              "fingerprint": st.one_of(TEXT, JSONISH), "extra": JSONISH},
)
PAYLOAD = st.fixed_dictionaries(
    {"alerts": st.one_of(st.lists(ALERT, max_size=5), JSONISH)},
    optional={"version": JSONISH, "groupKey": JSONISH, "truncatedAlerts": JSONISH, "status": JSONISH,
              "groupLabels": JSONISH, "externalURL": JSONISH, "notification_reason": JSONISH},
)


def _encode(doc: Any) -> bytes:
    return json.dumps(doc).encode()


BODIES = st.one_of(
    st.binary(max_size=300),
    st.builds(_encode, JSONISH),
    st.builds(_encode, PAYLOAD),
    st.builds(lambda n: b"[" * n + b"]" * n, st.integers(min_value=1, max_value=LIMIT // 2)),
    st.builds(lambda n: _encode({"alerts": [], "pad": "x" * n}), st.integers(min_value=LIMIT, max_value=3 * LIMIT)),
    st.builds(lambda s: s.encode("utf-8", "surrogatepass"), st.text(string.printable, max_size=200)),
)
CTYPES = st.sampled_from(["application/json", "application/json; charset=utf-8", "application/cloudevents+json",
                          "text/plain", "", "application/x-www-form-urlencoded", "APPLICATION/JSON"])
PATHS = st.sampled_from(["/webhook/h", "/webhook/h", "/webhook/h/", "/nowhere", "/webhook/%00", "/metrics/x"])


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IngestRig]:
    r = start_rig(tmp_path_factory.mktemp("hostile"), CUTMAN_BODY_LIMIT=str(LIMIT))
    r.apply(source("h", "/webhook/h", matchers=['severity!~"ignore.*"']))
    yield r
    r.close()


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=30) as c:
        yield c


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(body=BODIES, ctype=CTYPES, path=PATHS, method=st.sampled_from(["POST", "POST", "PUT", "GET"]),
       auth=st.sampled_from([None, "Bearer x", "\u00ff" * 10]))
def test_any_input_gets_an_answer_below_500(rig: IngestRig, client: httpx.Client, body: bytes, ctype: str,
                                            path: str, method: str, auth: str | None) -> None:
    headers = {"content-type": ctype.encode()} if ctype else {}
    if auth:
        headers["authorization"] = auth.encode("latin-1")
    resp = client.request(method, rig.url + path, content=body, headers=headers)
    assert resp.status_code < 500, resp.text
    if resp.status_code != 200:
        doc = resp.json()
        assert 400 <= resp.status_code < 500 and doc["error"] and doc["message"]
    if len(body) > LIMIT and resp.status_code != 404 and resp.status_code != 415 and method == "POST":
        assert resp.status_code == 413


def test_process_is_up_and_redis_is_consistent(rig: IngestRig) -> None:
    """Runs after the property test (file order): nothing it sent may leave a trace of harm."""
    assert rig.ingest.proc is not None and rig.ingest.proc.poll() is None
    assert httpx.get(rig.url + "/health/readiness", timeout=5).status_code == 200

    def states(r: Any) -> list[tuple[dict[str, str], int]]:
        return [(r.hgetall(k), r.ttl(k)) for k in r.scan_iter("cm:fp:{default/h}:*")]

    for state, ttl in rig.redis_call(states):
        assert state["status"] in ("firing", "resolved") and int(state["count"]) >= 1
        assert ttl > 0, "every alert key expires"
        assert "pending" not in state, "no claim left unsettled while the broker was up"
    processed = int(rig.redis_call(lambda r: r.hget("cm:srcstat:{default/h}", "eventsProcessed")) or 0)
    def alerts() -> list[dict[str, str]]:
        return [e for e in rig.recorder.events if e.get("ce-type", "").startswith("dev.cutman.alert.")]

    wait_for(lambda: len(alerts()) >= processed, what="the broker to deliver every event")
    assert len(alerts()) == processed
