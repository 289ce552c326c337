"""The API's query layer over a real Redis: run paging and filters, resources, alerts, streams.

No doubles: runs are written through the real run store, configs through the config
store, as the step functions and the reconciler write them.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from cutman.adapters.store import RedisStore
from cutman.api import queries
from cutman.errors import BadRequest
from cutman.models.resources import WorkflowSpec
from cutman.models.run import Run, RunPhase, StepState

SPEC = WorkflowSpec.model_validate({"steps": [{"name": "a", "type": "cli", "command": "true"}]})


def _run(i: int, *, workflow: str, phase: RunPhase, fp: str) -> Run:
    return Run(id=f"r{i:03d}", workflow=workflow, source="default/am", eventId=f"e{i}",
               eventType="dev.cutman.alert.firing", phase=phase, startTime="2026-12-01T20:00:00.000Z",
               spec=SPEC, alert={"alertname": "A", "fingerprint": fp},
               steps=[StepState(name="a", type=SPEC.steps[0].type)])


async def _seed(store: RedisStore) -> None:
    for i in range(30):
        wf = "default/triage" if i % 2 else "team/triage"
        phase = RunPhase.SUCCEEDED if i % 3 else RunPhase.FAILED
        await store.create_run(_run(i, workflow=wf, phase=phase, fp=f"fp{i % 5:02d}abcdef"))


def _ids(page: queries.Page) -> list[str]:
    return [r["id"] for r in page.items]


async def _paging(url: str) -> None:
    store = RedisStore(url)
    try:
        await _seed(store)
        seen: list[str] = []
        cont = None
        while True:
            page = await queries.list_runs(store, limit=7, cont=cont)
            seen += _ids(page)
            if page.next is None:
                break
            cont = page.next
        assert len(seen) == 30 and len(set(seen)) == 30, "every run exactly once across pages"
        assert seen == sorted(seen, reverse=True), "newest first"
        ns = await queries.list_runs(store, namespace="team", limit=100)
        assert ns.items and all(r["workflow"] == "team/triage" for r in ns.items) and ns.next is None
        assert len(ns.items) == 15
        failed = await queries.list_runs(store, phase="failed", limit=4)
        assert all(r["phase"] == "Failed" for r in failed.items) and len(failed.items) == 4 and failed.next
        rest = await queries.list_runs(store, phase="Failed", limit=100, cont=failed.next)
        assert len(failed.items) + len(rest.items) == 10
        wf = await queries.list_runs(store, workflow="triage", namespace="default", limit=100)
        assert len(wf.items) == 15
        fp = await queries.list_runs(store, fingerprint="fp03abc", limit=100)
        assert {r["alert"]["fingerprint"] for r in fp.items} == {"fp03abcdef"} and len(fp.items) == 6
        with pytest.raises(BadRequest) as err:
            await queries.list_runs(store, phase="Exploded")
        assert err.value.field == "phase"
        with pytest.raises(BadRequest):
            await queries.list_runs(store, cont="not-a-token!")
        one = await queries.get_run(store, "r007")
        assert one is not None and one["steps"][0]["name"] == "a" and "output" in one["steps"][0]
        assert await queries.get_run(store, "nope") is None
    finally:
        await store.close()


def test_run_paging_and_filters(redis_url: str) -> None:
    asyncio.run(_paging(redis_url))


async def _resources(url: str) -> None:
    store = RedisStore(url)
    try:
        src: dict[str, Any] = {"apiVersion": "cutman.dev/v1alpha1", "kind": "Source",
                               "metadata": {"name": "am", "namespace": "default", "labels": {"team": "db"}},
                               "spec": {"type": "webhook", "config": {"path": "/w"}, "triggerWorkflow": "triage"},
                               "ingest": {"auth": {"type": "hmac", "key": "hmac-secret-value"}},
                               "status": {"conditions": [{"type": "Ready", "status": "False",
                                                          "reason": "WorkflowNotFound",
                                                          "message": "workflow 'triage' does not exist"}]}}
        sink = {"apiVersion": "cutman.dev/v1alpha1", "kind": "Sink",
                "metadata": {"name": "slack", "namespace": "team", "annotations": {
                    "kubectl.kubernetes.io/last-applied-configuration": '{"botToken": "xoxb-inline-token"}'}},
                "spec": {"type": "slack", "config": {"channel": "#x", "botToken": "xoxb-inline-token",
                                                     "endpoint": "https://u:pw@h.example/x?k=v"}}}
        await store.put_config("source", "default/am", src)
        await store.put_config("sink", "team/slack", sink)
        sources = await queries.list_resources(store, "sources")
        assert [s["name"] for s in sources] == ["am"]
        assert sources[0]["ready"] is False and sources[0]["reason"] == "WorkflowNotFound"
        assert "hmac-secret-value" not in str(sources) and "ingest" not in sources[0]["spec"]
        sinks = await queries.list_resources(store, "sinks", namespace="team")
        assert sinks[0]["spec"]["config"]["botToken"] == "***" and sinks[0]["ready"] is None
        assert "xoxb-inline-token" not in str(sinks), "not even in kubectl's last-applied annotation"
        assert sinks[0]["spec"]["config"]["endpoint"] == "https://***@h.example/x?***"
        assert await queries.list_resources(store, "sinks", namespace="default") == []
        assert await queries.list_resources(store, "sources", labels={"team": "web"}) == []
        one = await queries.get_resource(store, "source", "default", "am")
        assert one is not None and one["stats"] == {}
        with pytest.raises(BadRequest):
            await queries.list_resources(store, "pods")
        await store.record_source_events("default/am", [{"type": "alert.firing", "eventId": f"ev{i}",
                                                         "decision": "firing"} for i in range(5)])
        page = await queries.source_events(store, source="default/am", limit=3)
        assert [e["eventId"] for e in page.items] == ["ev4", "ev3", "ev2"] and page.next
        assert all(e["run"] and e["run"].startswith("triage-") for e in page.items)
        rest = await queries.source_events(store, source="default/am", limit=3, cont=page.next)
        assert [e["eventId"] for e in rest.items] == ["ev1", "ev0"] and rest.next is None
    finally:
        await store.close()


def test_resources_are_redacted_and_events_page(redis_url: str) -> None:
    asyncio.run(_resources(url=redis_url))
