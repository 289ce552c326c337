"""What to do with a run that stopped moving: pure decisions for crash recovery.

Delivery is at-least-once and any process may die at any moment, so a run can be left
with a step marked Running whose holder is gone, or a step that was decided next but
whose request was lost (dead-lettered, or the reply went to a broker that died). Two
places act on such runs, and both ask this module:

- the step host, when it holds a step's lease and finds the step already Running: the
  previous attempt was interrupted. `interrupted` says whether to run it again (it is
  idempotent and has attempts left) or to fail it with the reason;
- the housekeeping sweep, for every run still under way: `assess` says whether to fail
  it (past its deadline), to request its current step again (never started and stalled,
  or its holder's lease is gone), or to leave it alone.

Requesting a step again is always safe: the step host decides under the lease, and a
finished step replays its recorded decision.
"""

from __future__ import annotations

from dataclasses import dataclass

from .. import clock
from ..models.resources import Step, StepType
from ..models.run import Run, StepPhase
from . import engine

MAX_ATTEMPTS = 3


def idempotent(step: Step) -> bool:
    """May the step run again after a crash? Its `idempotent` field, else: agent steps
    without approval (read-only tools), never cli steps."""
    work = step.work
    explicit = step.idempotent if step.idempotent is not None else work.idempotent
    if explicit is not None:
        return explicit
    return work.type is StepType.AGENT and not (step.approval_required or work.approval_required)


def interrupted(*, run: Run, step: str, now: str, max_attempts: int = MAX_ATTEMPTS) -> engine.Advance | None:
    """A step found Running by whoever now holds its lease: its last attempt died.

    None: run it again. An Advance: it failed, with the reason (not idempotent, or out
    of attempts), and what follows.
    """
    state = run.state(step)
    if state.phase is not StepPhase.RUNNING:
        return None
    spec = run.spec.step(step)
    assert spec is not None
    attempt = f"attempt {state.attempts}" if state.attempts else "its attempt"
    if not idempotent(spec):
        reason = (f"interrupted: {attempt} stopped without finishing (its process died or lost its lease); "
                  "not run again because the step is not idempotent (set idempotent: true to allow it)")
    elif state.attempts >= max_attempts:
        reason = f"interrupted: {state.attempts} attempts stopped without finishing"
    else:
        return None
    outcome = engine.Outcome(StepPhase.FAILED, output=state.output, stderr=state.stderr, error=reason)
    return engine.complete_step(run=run, step=step, outcome=outcome, now=now)


@dataclass(frozen=True)
class Expire:
    reason: str


@dataclass(frozen=True)
class Nudge:
    """Request `step` again: `why` is logged."""

    step: str
    why: str


@dataclass(frozen=True)
class Leave:
    """Nothing to do now (the run moves, or waits for a human)."""


Assessment = Expire | Nudge | Leave


def current_step(run: Run) -> str | None:
    """The first step not done, in order (what the run waits on)."""
    for state in run.steps:
        if not state.phase.done:
            return state.name
    return None


def _since(run: Run, step: str) -> str:
    """When `step` became due: the end of the step before it, or the run's start."""
    last = run.startTime
    for state in run.steps:
        if state.name == step:
            if state.approval is not None and state.approval.decidedAt:
                last = max(last, state.approval.decidedAt)
            return last
        if state.completionTime:
            last = max(last, state.completionTime)
    return last


def assess(*, run: Run, now: str, lease_held: bool, stall_s: float) -> Assessment:
    """The sweep's decision for one run still under way.

    `lease_held`: someone holds the current step's lease (a live holder renews it).
    `stall_s`: how long a step may stay requested-but-not-started before it is requested
    again (about one lease length: a request in the broker's retry schedule is not lost).
    """
    if run.phase.done:
        return Leave()
    reason = engine.overdue(run=run, now=now)
    if reason is not None:
        return Expire(reason)
    step = current_step(run)
    if step is None or lease_held:
        return Leave()
    state = run.state(step)
    if state.phase is StepPhase.AWAITING_APPROVAL:
        return Leave()
    if state.phase is StepPhase.RUNNING:
        return Nudge(step, "its holder's lease is gone (the process running it died)")
    waited = (clock.parse(now) - clock.parse(_since(run, step))).total_seconds()
    if waited >= stall_s:
        return Nudge(step, f"requested {waited:.0f}s ago and never started")
    return Leave()
