"""Approval gates in the engine and signed approval tokens: pure, no doubles."""

from __future__ import annotations

import pytest
from cutman.core import engine
from cutman.core.approval import TokenError, make_token, verify_token
from cutman.errors import Invalid
from cutman.models.run import Decision, Next, RunPhase, StepPhase

from tests.unit.test_engine import OK, T0, T1, T2, cli, make_run

KEY = b"k" * 32


def gated() -> engine.AwaitApproval:
    run = engine.start(run=make_run([cli("a"), cli("fix", approvalRequired=True), cli("c")]), now=T0).run
    run = engine.complete_step(run=engine.begin_step(run=run, step="a", now=T1), step="a", outcome=OK, now=T2).run
    assert engine.gate(run=run, step="a", now=T2) == engine.Proceed()
    wait = engine.gate(run=run, step="fix", now=T2, ttl_minutes=30)
    assert isinstance(wait, engine.AwaitApproval)
    return wait


def test_gate_requests_approval_once_with_an_expiry() -> None:
    wait = gated()
    assert wait.expires_at == "2026-11-28T10:30:02.000Z"
    assert wait.run.phase is RunPhase.AWAITING_APPROVAL
    assert wait.run.state("fix").phase is StepPhase.AWAITING_APPROVAL
    again = engine.gate(run=wait.run, step="fix", now="2026-11-28T10:10:00.000Z", ttl_minutes=30)
    assert isinstance(again, engine.AwaitApproval) and again.expires_at == wait.expires_at


def test_approved_step_proceeds() -> None:
    run = engine.decide(run=gated().run, step="fix", decision=Decision.APPROVED, by="ana", now=T2)
    assert run.phase is RunPhase.RUNNING and run.state("fix").phase is StepPhase.PENDING
    assert run.state("fix").approval is not None and run.state("fix").approval.decidedBy == "ana"
    assert engine.gate(run=run, step="fix", now=T2) == engine.Proceed()


def test_denied_step_fails_the_run() -> None:
    run = engine.decide(run=gated().run, step="fix", decision=Decision.DENIED, by="bob", now=T2)
    adv = engine.gate(run=run, step="fix", now=T2)
    assert isinstance(adv, engine.Advance)
    assert adv.action == engine.Finish(RunPhase.FAILED, "step fix failed: approval denied by bob")
    assert adv.run.state("fix").next == Next(finish=RunPhase.FAILED)


def test_denied_step_that_continues_on_error_moves_on() -> None:
    run = engine.start(run=make_run([cli("fix", approvalRequired=True, continueOnError=True), cli("c")]), now=T0).run
    wait = engine.gate(run=run, step="fix", now=T0)
    assert isinstance(wait, engine.AwaitApproval)
    run = engine.decide(run=wait.run, step="fix", decision=Decision.DENIED, by="bob", now=T1)
    adv = engine.gate(run=run, step="fix", now=T1)
    assert isinstance(adv, engine.Advance) and adv.action == engine.RunStep("c", engine.StepType.CLI)


def test_unanswered_approval_expires_and_fails_the_step() -> None:
    wait = gated()
    late = "2026-11-28T10:30:02.001Z"
    with pytest.raises(engine.ApprovalExpired, match="expired at 2026-11-28T10:30:02.000Z"):
        engine.decide(run=wait.run, step="fix", decision=Decision.APPROVED, by="ana", now=late)
    adv = engine.gate(run=wait.run, step="fix", now=late)
    assert isinstance(adv, engine.Advance)
    assert adv.run.state("fix").error == "approval expired at 2026-11-28T10:30:02.000Z without an answer"


def test_decide_refuses_steps_not_waiting_and_second_answers() -> None:
    wait = gated()
    with pytest.raises(Invalid, match="step c of run r1 is not awaiting approval"):
        engine.decide(run=wait.run, step="c", decision=Decision.APPROVED, by="x", now=T2)
    with pytest.raises(Invalid, match="has no step 'zz'"):
        engine.decide(run=wait.run, step="zz", decision=Decision.APPROVED, by="x", now=T2)
    run = engine.decide(run=wait.run, step="fix", decision=Decision.APPROVED, by="x", now=T2)
    with pytest.raises(Invalid, match="was already approved by x"):
        engine.decide(run=run, step="fix", decision=Decision.DENIED, by="y", now=T2)


def test_nested_step_approval_counts() -> None:
    steps = [{"name": "cond", "type": "conditional", "condition": "true",
              "agent": {"name": "inner", "type": "cli", "command": "true", "approvalRequired": True}}]
    run = engine.start(run=make_run(steps), now=T0).run
    assert isinstance(engine.gate(run=run, step="cond", now=T0), engine.AwaitApproval)


def test_token_round_trip_and_refusals() -> None:
    token = make_token(key=KEY, run="wf-1", step="fix", decision=Decision.DENIED, expires=1000)
    assert verify_token(key=KEY, token=token, now=999).decision is Decision.DENIED
    with pytest.raises(TokenError, match="expired"):
        verify_token(key=KEY, token=token, now=1001)
    with pytest.raises(TokenError, match="signature"):
        verify_token(key=b"other", token=token, now=0)
    _, _, sig = token.partition(".")
    forged = make_token(key=KEY, run="wf-1", step="fix", decision=Decision.APPROVED, expires=1000).split(".")[0]
    with pytest.raises(TokenError, match="signature"):
        verify_token(key=KEY, token=f"{forged}.{sig}", now=0)
    for bad in ("", "abc", ".x", "x."):
        with pytest.raises(TokenError, match="malformed"):
            verify_token(key=KEY, token=bad, now=0)
