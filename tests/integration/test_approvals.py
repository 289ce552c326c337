"""Approval gates through the real step host and Redis (no broker: events handed on directly)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from cutman.adapters.store import RedisStore
from cutman.approvals import ApprovalSettings, apply_decision
from cutman.core.approval import verify_token
from cutman.errors import Invalid
from cutman.models.cloudevent import make_event
from cutman.models.events import EventType, Ext
from cutman.models.run import Decision, RunPhase, StepPhase
from cutman.runtime.loader import load
from cutman.stephost import StepHost

KEY = b"approval-key-for-tests"


def scenario(redis_url: str, tmp: Path, decision: Decision, *, clock: list[str]) -> dict[str, Any]:
    marker = tmp / "fixed"

    async def go() -> dict[str, Any]:
        store = RedisStore(redis_url)
        try:
            await store.put_config("workflow", "default/wf", {"spec": {"steps": [
                {"name": "look", "type": "cli", "command": "echo looked"},
                {"name": "fix", "type": "cli", "approvalRequired": True, "command": f"touch {marker}"}]}})
            settings = ApprovalSettings(KEY, "http://cutman.example", 30)
            host = StepHost(store, load("step-cli").runner.CliExecutor(), now=lambda: clock[0], approvals=settings)
            start = make_event(id="ev-1", type=EventType.ALERT_FIRING, source="/t", data={"alertname": "X"},
                               extensions={Ext.SOURCE: "default/am"})
            nxt = await host.handle(path="/start/default/wf", event=start)
            waiting = await host.handle(path="/", event=nxt)
            again = await host.handle(path="/", event=nxt)
            run_id = str(waiting.get_extension(Ext.RUN))
            paused = await store.get_run(run_id)
            out: dict[str, Any] = {"waiting": waiting, "again": again, "paused": paused, "ran_early": marker.exists()}
            clock[0] = clock[-1]
            try:
                applied = await apply_decision(store, run_id=run_id, step="fix", decision=decision, by="ana")
                out["applied"] = applied
                out["reply"] = await host.handle(path="/", event=applied.event)
            except Invalid as exc:
                out["error"] = exc.message
            out["run"] = await store.get_run(run_id)
            return out
        finally:
            await store.close()

    return asyncio.run(go())


def test_approved_step_waits_then_runs(redis_url: str, tmp_path: Path) -> None:
    out = scenario(redis_url, tmp_path, Decision.APPROVED, clock=["2099-01-01T10:00:00.000Z"])
    waiting = out["waiting"]
    assert waiting.get_type() == EventType.RUN_AWAITING_APPROVAL
    assert out["again"].get_id() == waiting.get_id()
    assert out["paused"].phase is RunPhase.AWAITING_APPROVAL
    assert not out["ran_early"]
    data = waiting.get_data()
    assert data["step"] == "fix" and data["expiresAt"] == "2099-01-01T10:30:00.000Z"
    token = data["approveUrl"].removeprefix("http://cutman.example/approvals/")
    grant = verify_token(key=KEY, token=token, now=time.time())
    assert (grant.run, grant.step, grant.decision) == (out["paused"].id, "fix", Decision.APPROVED)
    assert out["reply"].get_type() == EventType.RUN_FINISHED
    assert out["run"].phase is RunPhase.SUCCEEDED and (tmp_path / "fixed").exists()
    assert out["run"].state("fix").approval.decidedBy == "ana"


def test_denied_step_never_runs(redis_url: str, tmp_path: Path) -> None:
    out = scenario(redis_url, tmp_path, Decision.DENIED, clock=["2099-01-01T10:00:00.000Z"])
    assert out["run"].phase is RunPhase.FAILED
    assert out["run"].error == "step fix failed: approval denied by ana"
    assert not (tmp_path / "fixed").exists()


def test_unanswered_approval_expires_and_fails_the_step(redis_url: str, tmp_path: Path) -> None:
    """The approval window is in the past by the time the answer comes: the step fails."""
    out = scenario(redis_url, tmp_path, Decision.APPROVED,
                   clock=["2020-01-01T10:00:00.000Z", "2020-01-01T10:31:00.000Z"])
    assert out["applied"].refused == "the approval of step fix expired at 2020-01-01T10:30:00.000Z"
    assert out["run"].state("fix").phase is StepPhase.FAILED
    assert out["run"].state("fix").error == "approval expired at 2020-01-01T10:30:00.000Z without an answer"
    assert not (tmp_path / "fixed").exists()
