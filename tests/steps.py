"""Driving a workflow through the real step hosts without a broker: tests' shortcut.

Each reply is handed to the host whose executor matches its `steptype`, exactly as the
broker's Triggers would route it; state lives in the real Redis behind RedisStore.
"""

from __future__ import annotations

import asyncio
from typing import Any

from cutman.adapters.store import RedisStore
from cutman.models.cloudevent import make_event
from cutman.models.events import EventType, Ext
from cutman.models.run import Run
from cutman.runtime.loader import load
from cutman.stephost import StepHost


def executors(cfg: dict[str, str] | None = None) -> dict[str, Any]:
    cli, agent = load("step-cli").runner.CliExecutor(), load("step-agent").agent.AgentExecutor()
    for ex in (cli, agent):
        ex.configure(cfg or {})
    return {"cli": cli, "agent": agent}


def run_workflow(redis_url: str, spec: dict[str, Any], *, alert: dict[str, Any] | None = None,
                 secrets: dict[str, dict[str, str]] | None = None, cfg: dict[str, str] | None = None,
                 event_id: str = "ev-1") -> Run:
    async def go() -> Run:
        store = RedisStore(redis_url)
        try:
            await store.put_config("workflow", "default/wf", {"spec": spec, "metadata": {"name": "wf"}})
            for key, data in (secrets or {}).items():
                await store.put_secret(key, data)
            hosts = {k: StepHost(store, ex) for k, ex in executors(cfg).items()}
            first = spec["steps"][0]
            kind = (first.get("agent") or first)["type"]
            event = make_event(id=event_id, type=EventType.ALERT_FIRING, source="/test",
                               data=alert or {"alertname": "HighCPU", "labels": {"pod": "web-1"}},
                               extensions={Ext.SOURCE: "default/am"})
            reply = await hosts[kind].handle(path="/start/default/wf", event=event)
            for _ in range(20):
                if reply.get_type() != EventType.STEP_REQUESTED:
                    break
                reply = await hosts[str(reply.get_extension(Ext.STEPTYPE))].handle(path="/", event=reply)
            assert reply.get_type() == EventType.RUN_FINISHED, reply
            run = await store.get_run(str(reply.get_extension(Ext.RUN)))
            assert run is not None
            return run
        finally:
            await store.close()

    return asyncio.run(go())
