"""Crash recovery decisions (cutman.core.recovery): pure, no doubles."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from cutman import clock
from cutman.core import engine, recovery
from cutman.models.resources import WorkflowSpec
from cutman.models.run import Run, RunPhase, StepPhase

T0 = "2026-11-28T10:00:00.000Z"


def at(seconds: float) -> str:
    return (clock.parse(T0) + timedelta(seconds=seconds)).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def make_run(steps: list[dict[str, Any]], timeout: float | None = None) -> Run:
    spec = WorkflowSpec.model_validate({"steps": steps, "timeoutMinutes": timeout})
    run = engine.new_run(run_id="r1", workflow="default/wf", spec=spec, event_id="e1",
                         event_type="dev.cutman.alert.firing", source=None, source_context={},
                         alert=None, data=None, now=T0)
    return engine.start(run=run, now=T0).run


CLI = {"name": "a", "type": "cli", "command": "sleep 2"}
AGENT = {"name": "a", "type": "agent", "goal": "look"}


def test_idempotency_defaults_and_explicit_flag() -> None:
    spec = make_run([CLI, {**AGENT, "name": "b"}, {**AGENT, "name": "c", "approvalRequired": True},
                     {**CLI, "name": "d", "idempotent": True}]).spec
    assert [recovery.idempotent(s) for s in spec.steps] == [False, True, False, True]


def test_interrupted_cli_step_fails_with_the_reason_and_run_ends() -> None:
    run = engine.begin_step(run=make_run([CLI, {**CLI, "name": "b"}]), step="a", now=T0)
    advance = recovery.interrupted(run=run, step="a", now=at(5))
    assert advance is not None
    assert advance.run.phase is RunPhase.FAILED
    assert advance.run.state("a").phase is StepPhase.FAILED
    assert "not idempotent" in (advance.run.state("a").error or "")
    assert isinstance(advance.action, engine.Finish)


def test_interrupted_idempotent_step_runs_again_until_out_of_attempts() -> None:
    run = make_run([{**CLI, "idempotent": True}])
    for _ in range(recovery.MAX_ATTEMPTS - 1):
        run = engine.begin_step(run=run, step="a", now=T0)
        assert recovery.interrupted(run=run, step="a", now=at(1)) is None
    run = engine.begin_step(run=run, step="a", now=T0)
    advance = recovery.interrupted(run=run, step="a", now=at(1))
    assert advance is not None and "3 attempts" in (advance.run.state("a").error or "")


def test_a_step_not_running_is_not_interrupted() -> None:
    assert recovery.interrupted(run=make_run([CLI]), step="a", now=at(1)) is None


def test_assess_overdue_dead_holder_stalled_and_waiting() -> None:
    run = make_run([CLI, {**CLI, "name": "b"}], timeout=1)
    assert isinstance(recovery.assess(run=run, now=at(61), lease_held=True, stall_s=30), recovery.Expire)
    assert recovery.assess(run=run, now=at(10), lease_held=False, stall_s=30) == recovery.Leave()
    stalled = recovery.assess(run=run, now=at(31), lease_held=False, stall_s=30)
    assert isinstance(stalled, recovery.Nudge) and stalled.step == "a"
    running = engine.begin_step(run=run, step="a", now=at(1))
    assert recovery.assess(run=running, now=at(2), lease_held=True, stall_s=30) == recovery.Leave()
    dead = recovery.assess(run=running, now=at(2), lease_held=False, stall_s=30)
    assert isinstance(dead, recovery.Nudge) and "lease" in dead.why
    done = engine.complete_step(run=running, step="a", outcome=engine.Outcome(StepPhase.SUCCEEDED), now=at(20)).run
    assert recovery.assess(run=done, now=at(40), lease_held=False, stall_s=30) == recovery.Leave(), \
        "the next step became due at 20 s"
    nxt = recovery.assess(run=done, now=at(51), lease_held=False, stall_s=30)
    assert isinstance(nxt, recovery.Nudge) and nxt.step == "b"


def test_finished_and_approval_waits_are_left_alone() -> None:
    run = make_run([{**CLI, "approvalRequired": True}])
    gate = engine.gate(run=run, step="a", now=T0, ttl_minutes=60)
    assert isinstance(gate, engine.AwaitApproval)
    assert recovery.assess(run=gate.run, now=at(600), lease_held=False, stall_s=30) == recovery.Leave()
    failed = engine.expire(run=run, reason="x", now=at(1)).run
    assert recovery.assess(run=failed, now=at(10**6), lease_held=False, stall_s=30) == recovery.Leave()
