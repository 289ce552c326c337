"""Approvals at the edges: the event that asks a human, and applying the answer.

A step with `approvalRequired` is gated by the engine (cutman.core.engine.gate). The
step function then replies `dev.cutman.run.awaitingapproval`, carrying signed approve
and deny links (cutman.core.approval) that sinks can announce. The answer arrives from
`cutman approve|deny` or ingest's `/approvals/<token>`: both record it on the run with
`apply_decision` and post a `step.requested` for the step, which resumes the run (or
fails the step, for a denial or an expired approval).

Decision and resume are one intent: the resume event goes into the outbox (a pending
marker) before the decision is saved, is sent, and only then cleared (`resume`). If the
sender dies or the broker is down in between, the housekeeping sweep sends it; a second
answer is refused because the decision is already recorded, and nothing is stuck.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cloudevents.core.v1.event import CloudEvent

from . import clock, stepconfig
from .adapters.store import Store, lease_key
from .core import engine, ids
from .core.approval import make_token
from .errors import Conflict, CutmanError, NotFound
from .models.cloudevent import make_event
from .models.events import EventType, Ext
from .models.run import Decision, Run, StepPhase

if TYPE_CHECKING:  # the HTTP client (aiohttp) is ingest's; step functions only reply
    from .adapters.broker_client import Broker

APPROVAL_PATH = stepconfig.APPROVAL_PATH
ApprovalSettings = stepconfig.ApprovalSettings


def _source(run: Run) -> str:
    return f"/apis/cutman.dev/v1alpha1/namespaces/{run.namespace}/workflows/{run.workflow_name}"


def awaiting_event(wait: engine.AwaitApproval, settings: ApprovalSettings) -> CloudEvent:
    """What sinks can announce: which step waits, until when, and how to answer."""
    run = wait.run
    data: dict[str, object] = {"run": run.id, "workflow": run.workflow, "step": wait.step,
                               "expiresAt": wait.expires_at,
                               "approve": f"cutman approve {run.id} {wait.step}",
                               "deny": f"cutman deny {run.id} {wait.step}"}
    if settings.key is not None:
        expires = int(clock.parse(wait.expires_at).timestamp())
        for decision in Decision:
            token = make_token(key=settings.key, run=run.id, step=wait.step, decision=decision, expires=expires)
            name = "approve" if decision is Decision.APPROVED else "deny"
            data[f"{name}Url"] = f"{settings.public_url}{APPROVAL_PATH}{token}"
    return make_event(
        id=ids.reply_event_id(run=run.id, what=f"approval:{wait.step}"),
        type=EventType.RUN_AWAITING_APPROVAL, source=_source(run), data=data,
        extensions={Ext.WORKFLOW: run.workflow, Ext.RUN: run.id, Ext.STEP: wait.step},
    )


def resume_event(run: Run, step: str, decision: Decision | None) -> CloudEvent:
    spec = run.spec.step(step)
    assert spec is not None
    what = decision.value if decision is not None else "expired"
    return make_event(
        id=ids.reply_event_id(run=run.id, what=f"approval:{step}:{what}"),
        type=EventType.STEP_REQUESTED, source=_source(run), data={"run": run.id},
        extensions={Ext.WORKFLOW: run.workflow, Ext.RUN: run.id, Ext.STEP: step,
                    Ext.STEPTYPE: spec.executor.value},
    )


@dataclass(frozen=True)
class Applied:
    """The event to post, why the answer was refused (an expired approval), and the outbox
    entry that keeps the resume pending until it is sent."""

    event: CloudEvent
    refused: str | None = None
    outbox: str | None = None


def outbox_key(run_id: str, step: str) -> str:
    return f"{run_id} resume:{step}"


async def resume(store: Store, broker: Broker, applied: Applied) -> str | None:
    """Send the resume event and clear its pending marker; None when it went through,
    else why not (the decision stays recorded and the housekeeping sweep sends it)."""
    try:
        await broker.send([applied.event])
    except CutmanError as exc:
        return exc.message or type(exc).__name__
    if applied.outbox:
        await store.outbox_clear(applied.outbox)
    return None


async def apply_decision(store: Store, *, run_id: str, step: str, decision: Decision, by: str) -> Applied:
    """Record the answer (under the step's lease) and return the event that resumes the run.

    An expired approval is refused, but the event is still returned: posting it makes
    the step function fail the step with the reason. Other refusals raise (Invalid).
    """
    token = uuid.uuid4().hex
    key = lease_key(run_id, step)
    deadline = time.monotonic() + 5
    while not await store.acquire(key, token, 30):
        if time.monotonic() > deadline:
            raise Conflict(f"step {step} of run {run_id} is busy; try again")
        await asyncio.sleep(0.05)
    try:
        run = await store.get_run(run_id)
        if run is None:
            raise NotFound(f"run {run_id} does not exist (expired or never started)")
        try:
            decided = engine.decide(run=run, step=step, decision=decision, by=by, now=clock.now())
        except engine.ApprovalExpired as exc:
            return Applied(resume_event(run, step, None), exc.message)
        event = resume_event(decided, step, decision)
        box = outbox_key(run_id, step)
        await store.outbox_put(box, event)
        await store.save_run(decided)
        return Applied(event, outbox=box)
    finally:
        await store.release(key, token)


@dataclass(frozen=True)
class Expiry:
    """An approval past its deadline; `event` resumes its step (which then fails), if still waiting."""

    run: str
    step: str
    event: CloudEvent | None


async def due_expiries(store: Store, *, now: float, limit: int = 100) -> list[Expiry]:
    """The approvals a sweep must expire: nobody answered, and their deadline passed.

    Expiring is the step's own decision (engine.gate fails it when it is requested after
    the deadline); the sweep only makes sure it is requested. An approval already
    answered yields no event, only its index entry to forget.
    """
    out = []
    for run_id, step in await store.due_approvals(now, limit):
        run = await store.get_run(run_id)
        waiting = run is not None and run.spec.step(step) is not None and \
            run.state(step).phase is StepPhase.AWAITING_APPROVAL
        out.append(Expiry(run_id, step, resume_event(run, step, None) if waiting and run else None))
    return out
