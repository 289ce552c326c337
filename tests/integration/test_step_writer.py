"""A writer step Service (overlays/step-writer) refuses every step that is not
approval-gated, so a misrouted event cannot use its write RBAC; a gated step goes on to
the ordinary step host. Real step-cli function, real Redis; the ASGI call is func-python's
shape (scope with the decoded CloudEvent, a send that collects the messages)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from cutman.adapters.store import RedisStore
from cutman.core import engine
from cutman.models.cloudevent import make_event
from cutman.models.events import EventType, Ext
from cutman.models.resources import WorkflowSpec
from cutman.runtime.loader import load


async def _deliver(fn: Any, run_id: str, step: str) -> tuple[int, dict[str, Any]]:
    event = make_event(type=EventType.STEP_REQUESTED.value, source="/test", data={"run": run_id},
                       extensions={Ext.WORKFLOW.value: "team/wf", Ext.RUN.value: run_id, Ext.STEP.value: step,
                                   Ext.STEPTYPE.value: "cli"})
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await fn.handle({"type": "http", "path": "/step", "method": "POST", "event": event}, None, send)
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return status, json.loads(body) if body.startswith(b"{") else {}


def test_writer_refuses_steps_that_are_not_gated(redis_url: str) -> None:
    async def main() -> None:
        spec = WorkflowSpec.model_validate({"steps": [
            {"name": "look", "type": "cli", "command": "true"},
            {"name": "fix", "type": "cli", "command": "true", "approvalRequired": True}]})
        run = engine.new_run(run_id="r1", workflow="team/wf", spec=spec, event_id="e1",
                             event_type=EventType.ALERT_FIRING, source=None, source_context={},
                             alert={"alertname": "X"}, data=None, now="2026-11-28T10:00:00.000Z")
        store = RedisStore(redis_url)
        await store.create_run(run)
        await store.close()
        fn = load("step-cli").new()
        fn.start({"REDIS_URL": redis_url, "CUTMAN_STEP_WRITER": "true"})
        try:
            status, body = await _deliver(fn, "r1", "look")
            assert status == 400 and "approval-gated steps only" in body["message"], body
            status, body = await _deliver(fn, "nope", "fix")
            assert status == 400, body
            status, _ = await _deliver(fn, "r1", "fix")
            assert status != 400, "a gated step reaches the step host"
        finally:
            await fn.store.close()
            fn.stop()

    asyncio.run(main())
