"""api Sources at their `endpoint` and at POST /sources/<ns>/<name>: JSON or CloudEvents
(binary, structured) in, one dev.cutman.source.event out. Served ingest, own Redis, real dev broker (ingest_harness).
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
from cutman.models.cloudevent import make_event, to_binary, to_structured

from tests.integration.ingest_harness import IngestRig, secret, start_rig
from tests.waiting import wait_for

EVENT = "dev.cutman.source.event"


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IngestRig]:
    r = start_rig(tmp_path_factory.mktemp("api"))
    r.apply(secret("api-token", token="api-s3cret"), {
        "apiVersion": "cutman.dev/v1alpha1", "kind": "Source", "metadata": {"name": "deploys", "namespace": "default"},
        "spec": {"type": "api", "config": {"endpoint": "/api/deploys", "method": "POST",
                                           "authentication": {"type": "bearer", "secretRef": "api-token"}}},
    })
    yield r
    r.close()


AUTH = {"authorization": "Bearer api-s3cret"}


def _events(rig: IngestRig) -> list[dict[str, str]]:
    return rig.recorder.of_type(EVENT)


def test_json_with_idempotency_key_is_one_event(rig: IngestRig) -> None:
    url = rig.url + "/sources/default/deploys"
    doc = {"service": "web", "version": "1.2.3"}
    assert httpx.post(url, json=doc, timeout=10).status_code == 401
    first = httpx.post(url, json=doc, headers={**AUTH, "idempotency-key": "deploy-42"}, timeout=10)
    again = httpx.post(url, json=doc, headers={**AUTH, "idempotency-key": "deploy-42"}, timeout=10)
    assert first.status_code == again.status_code == 200 and first.json()["event"] == again.json()["event"]
    got = wait_for(lambda: [e for e in _events(rig) if e["ce-id"] == first.json()["event"]], what="the event")
    assert got[0]["ce-cmsource"] == "default/deploys"
    assert httpx.post(url, content=b"[1]", headers={**AUTH, "content-type": "application/json"}).status_code == 400
    assert httpx.post(url, content=b"x", headers={**AUTH, "content-type": "text/plain"}).status_code == 415
    assert httpx.post(rig.url + "/sources/default/nope", json=doc, headers=AUTH).status_code == 404
    assert httpx.post(rig.url + "/sources/default", json=doc, headers=AUTH).status_code == 404


@pytest.mark.parametrize("mode", ["binary", "structured"])
def test_cloudevents_in_both_modes_keep_the_original(rig: IngestRig, mode: str) -> None:
    original = make_event(type="dev.knative.sources.ping", source=f"/apis/v1/namespaces/default/pingsources/{mode}",
                          data={"tick": mode})
    msg = to_binary(original) if mode == "binary" else to_structured(original)
    answers = [httpx.post(rig.url + "/sources/default/deploys", content=msg.body,
                          headers={**dict(msg.headers), **AUTH}, timeout=10) for _ in range(2)]
    assert [a.status_code for a in answers] == [200, 200], answers[0].text
    assert answers[0].json()["event"] == answers[1].json()["event"], "a redelivery maps to the same event"
    event_id = answers[0].json()["event"]
    wait_for(lambda: [e for e in _events(rig) if e["ce-id"] == event_id], what="the wrapped event")


def test_stats_count_source_events(rig: IngestRig) -> None:
    stats = rig.redis_call(lambda r: r.hgetall("cm:srcstat:{default/deploys}"))
    assert int(stats["eventsProcessed"]) >= 2 and float(stats["lastEventTime"]) > 0


def test_data_of_a_cloudevent_reaches_the_subscriber(rig: IngestRig) -> None:
    """The broker's subscriber receives the original attributes and data under `cloudevent`/`data`."""
    original = make_event(type="com.example.deploy", source="/ci", data={"sha": "abc"})
    msg = to_structured(original)
    resp = httpx.post(rig.url + "/sources/default/deploys", content=msg.body, headers={**dict(msg.headers), **AUTH})
    assert resp.status_code == 200
    event_id = resp.json()["event"]
    wait_for(lambda: [e for e in _events(rig) if e["ce-id"] == event_id], what="the event")
    body = rig.recorder.bodies[event_id]
    sent, got = json.loads(msg.body), json.loads(body)
    assert got["data"] == {"sha": "abc"}
    assert {k: got["cloudevent"][k] for k in ("id", "type", "source", "specversion")} == \
        {k: sent[k] for k in ("id", "type", "source", "specversion")}
    assert got["cloudevent"]["time"].endswith("Z")


def test_the_endpoint_path_serves_the_api_source(rig: IngestRig) -> None:
    from cutman.errors import Invalid

    url = rig.url + "/api/deploys"
    assert httpx.post(url, json={"a": 1}, headers={"authorization": "Bearer nope"}, timeout=10).status_code == 401
    ok = httpx.post(url, json={"a": 1}, headers={**AUTH, "idempotency-key": "k-1"}, timeout=10)
    assert ok.status_code == 200 and ok.json()["source"] == "default/deploys"
    wait_for(lambda: [e for e in _events(rig) if e["ce-id"] == ok.json()["event"]], what="the event")
    assert json.loads(rig.recorder.bodies[ok.json()["event"]]) == {"a": 1}
    bad = {"apiVersion": "cutman.dev/v1alpha1", "kind": "Source", "metadata": {"name": "bad", "namespace": "default"},
           "spec": {"type": "api", "config": {"endpoint": "http://x/y"}}}
    with pytest.raises(Invalid, match="must be a path"):
        rig.apply(bad)
