"""Hosting a step under at-least-once delivery: what step-cli and step-agent share.

A step function receives either a start event (`/start/<ns>/<workflow>`, the alert or
source event) or `dev.cutman.step.requested`. The host makes both idempotent:

- the run id is derived from (workflow, triggering event id), so a redelivered start
  finds its run instead of starting another;
- a step that already finished replies the decision recorded when it ended;
- a step being run by another delivery (its lease is held) answers 409 with Retry-After
  (when the lease lapses unless renewed), and the broker retries then. The holder renews
  its lease every third of `lease_s` while the step runs, so a live holder keeps it and a
  dead one loses it within one lease length;
- a step found Running by the delivery that now holds the lease was interrupted (its
  holder died): it runs again only when idempotent, else fails with the reason
  (cutman.core.recovery);
- a holder that lost its lease (it stalled, and the step was taken over) records nothing;
- the run is saved before the reply is sent, so a crash in between only repeats a reply.

The executor (run a shell command, run an LLM agent) is the only part that differs.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from cloudevents.core.v1.event import CloudEvent

from . import clock, metrics, stepconfig
from . import log as logs
from .adapters.secret_store import SecretStore
from .adapters.store import Store, lease_key
from .approvals import awaiting_event
from .core import engine, ids, recovery
from .core.masking import mask_text, mask_value
from .errors import BadRequest, Conflict, NotFound, Unavailable
from .models.cloudevent import data_dict, ext, make_event
from .models.events import START_TYPES, EventType, Ext
from .models.resources import Step, StepType, WorkflowSpec
from .models.run import Next, Run, StepPhase
from .models.secret import CONVENTIONAL_KEYS, SecretError, resolve_secret
from .stepconfig import ApprovalSettings

logger = logs.get("cutman.step")
DEFAULT_STEP_TIMEOUT_MIN = engine.DEFAULT_STEP_TIMEOUT_MIN
DEFAULT_LEASE_S = stepconfig.DEFAULT_LEASE_S


@dataclass(frozen=True)
class StepSecrets:
    """Secret values a step needs, resolved at run time; never stored, masked in output."""

    env: dict[str, str] = field(default_factory=dict)
    api_key: str | None = None

    @property
    def values(self) -> list[str]:
        return [*self.env.values(), *([self.api_key] if self.api_key else [])]


class Executor(Protocol):
    step_type: StepType

    def configure(self, cfg: Mapping[str, str]) -> None: ...

    async def execute(self, *, run: Run, step: Step, secrets: StepSecrets) -> engine.Outcome: ...


class MissingSecret(Exception):
    pass


async def resolve_secrets(store: SecretStore, run: Run, step: Step) -> StepSecrets:
    """`secretEnv` of the runtime and the step, and the agent's `apiKeySecret`."""
    env: dict[str, str] = {}
    for name, ref in {**run.spec.runtime.secret_env, **step.secret_env}.items():
        env[name] = await _secret(store, ref, run.namespace, f"secretEnv.{name}")
    api_key = None
    llm = run.spec.runtime.llm_config
    if step.type is StepType.AGENT and llm is not None and llm.api_key_secret:
        api_key = await _secret(store, llm.api_key_secret, run.namespace, "llmConfig.apiKeySecret")
    return StepSecrets(env, api_key)


async def _secret(store: SecretStore, ref: str, namespace: str, where: str) -> str:
    keys = ("apiKey", "token") if where.startswith("llmConfig") else CONVENTIONAL_KEYS
    try:
        return await resolve_secret(ref, namespace=namespace, lookup=store.get_secret, keys=keys, where=where)
    except SecretError as exc:
        raise MissingSecret(exc.message) from None


def masked(outcome: engine.Outcome, secrets: StepSecrets) -> engine.Outcome:
    values = secrets.values
    if not values:
        return outcome
    return dataclasses.replace(
        outcome,
        output=mask_text(outcome.output, values), stderr=mask_text(outcome.stderr, values),
        error=mask_text(outcome.error, values) if outcome.error else outcome.error,
        result=mask_value(outcome.result, values),
        tool_calls=tuple(mask_value(list(outcome.tool_calls), values)),
        transcript=tuple(mask_value(list(outcome.transcript), values)) if outcome.transcript else outcome.transcript,
    )


def event_source(run: Run) -> str:
    return f"/apis/cutman.dev/v1alpha1/namespaces/{run.namespace}/workflows/{run.workflow_name}"


def reply_for(run: Run, action: engine.Action) -> CloudEvent:
    """The event that carries a decision onward: the next step, or the finished run."""
    if isinstance(action, engine.RunStep):
        return make_event(
            id=ids.reply_event_id(run=run.id, what=f"step:{action.step}"),
            type=EventType.STEP_REQUESTED,
            source=event_source(run),
            data={"run": run.id},
            extensions={
                Ext.WORKFLOW: run.workflow,
                Ext.RUN: run.id,
                Ext.STEP: action.step,
                Ext.STEPTYPE: action.executor.value,
            },
        )
    return make_event(
        id=ids.reply_event_id(run=run.id, what="finished"),
        type=EventType.RUN_FINISHED,
        source=event_source(run),
        data=run.summary(),
        extensions={Ext.WORKFLOW: run.workflow, Ext.RUN: run.id, Ext.PHASE: run.phase.value},
    )


@dataclass
class StepHost:
    store: Store
    executor: Executor
    now: Callable[[], str] = clock.now
    approvals: ApprovalSettings = field(default_factory=ApprovalSettings)
    lease_s: float = DEFAULT_LEASE_S

    async def handle(self, *, path: str, event: CloudEvent) -> CloudEvent:
        """Process one delivery; the returned event is the reply to the broker."""
        if path.startswith("/start/"):
            parts = path.strip("/").split("/")
            if len(parts) != 3:
                raise BadRequest(f"start path must be /start/<namespace>/<workflow>, got {path}")
            return await self.start(workflow=f"{parts[1]}/{parts[2]}", event=event)
        if event.get_type() != EventType.STEP_REQUESTED:
            raise BadRequest(f"unexpected event type {event.get_type()} on {path}")
        run_id, step = ext(event, Ext.RUN), ext(event, Ext.STEP)
        if not run_id or not step:
            raise BadRequest("step.requested needs the `run` and `step` extensions")
        with logs.bind(run=run_id, step=step, event=event.get_id()):
            return await self.run_step(run_id=run_id, step=step)

    async def _expire_if_overdue(self, run: Run) -> CloudEvent | None:
        """Whichever function next touches a stuck run fails it, with the reason."""
        now = self.now()
        reason = engine.overdue(run=run, now=now)
        if reason is None:
            return None
        advance = engine.expire(run=run, reason=reason, now=now)
        await self.store.save_run(advance.run)
        logs.warning(logger, "run expired", reason=reason)
        return reply_for(advance.run, advance.action)

    async def start(self, *, workflow: str, event: CloudEvent) -> CloudEvent:
        if event.get_type() not in START_TYPES:
            raise BadRequest(f"a run starts from {', '.join(START_TYPES)}, not {event.get_type()}")
        run_id = ids.run_id(workflow=workflow, event_id=event.get_id())
        with logs.bind(run=run_id, event=event.get_id(), workflow=workflow):
            # The configs a new run needs are read beside the run, not after it: a redelivered
            # start wastes two reads, a new run (the usual case) saves two round trips.
            source = ext(event, Ext.SOURCE)
            run, cfg, src_cfg = await asyncio.gather(
                self.store.get_run(run_id), self.store.get_config("workflow", workflow),
                self.store.get_config("source", source) if source else _nothing())
            if run is None:
                run = await self._create(run_id=run_id, workflow=workflow, event=event, cfg=cfg, src_cfg=src_cfg)
            assert run.start is not None
            expired = await self._expire_if_overdue(run)
            if expired is not None:
                return expired
            action = engine.action_of(run.start, run)
            if isinstance(action, engine.RunStep) and action.executor is self.executor.step_type:
                return await self.run_step(run_id=run.id, step=action.step)
            return reply_for(run, action)

    async def _create(self, *, run_id: str, workflow: str, event: CloudEvent, cfg: dict[str, Any] | None,
                      src_cfg: dict[str, Any] | None) -> Run:
        if cfg is None:
            raise NotFound(f"workflow {workflow} is not configured")
        source = ext(event, Ext.SOURCE)
        data = data_dict(event)
        is_alert = event.get_type() == EventType.ALERT_FIRING
        alert = data if is_alert else None
        if event.get_type() == EventType.WORKFLOW_CHAINED and isinstance(data, dict):
            # a run a workflow sink chained: the parent's alert is this run's alert too
            parent_alert = (data.get("parent") or {}).get("alert")
            alert = parent_alert if isinstance(parent_alert, dict) else None
        fresh = engine.new_run(
            run_id=run_id,
            workflow=workflow,
            spec=WorkflowSpec.model_validate(cfg["spec"]),
            event_id=event.get_id(),
            event_type=event.get_type(),
            source=source,
            source_context=dict((src_cfg or {}).get("spec", {}).get("context", {})),
            alert=alert,
            data=None if is_alert else data,
            now=self.now(),
        )
        advance = engine.start(run=fresh, now=self.now())
        run = advance.run
        run.start = Next(step=advance.action.step) if isinstance(advance.action, engine.RunStep) else Next(finish=advance.action.phase)
        if await self.store.create_run(run):
            metrics.RUNS_STARTED.labels(workflow).inc()
            logs.info(logger, "run started", workflow=workflow, phase=run.phase.value)
            return run
        existing = await self.store.get_run(run_id)
        if existing is None:
            raise Conflict(f"run {run_id} vanished while starting")
        return existing

    async def _settled(self, run: Run, step: str) -> CloudEvent | None:
        """The reply when the step needs no run: it finished (the recorded decision), the
        run is over, or it is overdue (failed now). Refuses an unknown or foreign step."""
        spec = run.spec.step(step)
        if spec is None:
            raise BadRequest(f"workflow {run.workflow} has no step {step!r}")
        replayed = engine.replay(run=run, step=step)
        if replayed is not None:
            return reply_for(run, replayed)
        if run.phase.done:
            return reply_for(run, engine.Finish(run.phase, run.error))
        expired = await self._expire_if_overdue(run)
        if expired is not None:
            return expired
        if spec.executor is not self.executor.step_type:
            raise BadRequest(f"step {step} is a {spec.executor.value} step, not {self.executor.step_type.value}")
        return None

    async def run_step(self, *, run_id: str, step: str) -> CloudEvent:
        """Run a step under its lease. The lease is taken and the run read in one round
        trip (`hold_step`), and the result saved and the lease dropped in one more
        (`finish_step`): a step costs three round trips with the save that marks it Running."""
        token = uuid.uuid4().hex
        held, fresh, left = await self.store.hold_step(run_id, step, token, self.lease_s)
        if not held:
            run = await self.store.get_run(run_id)
            if run is None:
                raise NotFound(f"run {run_id} does not exist (expired or never started)")
            settled = await self._settled(run, step)
            if settled is not None:
                return settled
            raise Conflict(f"step {step} of run {run_id} is already running", retry_after=left or 1.0)
        key = lease_key(run_id, step)
        lease = Lease(self.store, key, token, self.lease_s)
        released = False
        try:
            if fresh is None:
                raise NotFound(f"run {run_id} does not exist (expired or never started)")
            settled = await self._settled(fresh, step)
            if settled is not None:
                return settled
            spec = fresh.spec.step(step)
            assert spec is not None
            given_up = recovery.interrupted(run=fresh, step=step, now=self.now())
            if given_up is not None:
                await self.store.save_run(given_up.run)
                logs.warning(logger, "interrupted step failed", reason=given_up.run.state(step).error)
                return reply_for(given_up.run, given_up.action)
            gate = engine.gate(run=fresh, step=step, now=self.now(), ttl_minutes=self.approvals.ttl_minutes)
            if isinstance(gate, engine.AwaitApproval):
                await self.store.save_run(gate.run)
                await self.store.track_approval(run_id, step, clock.parse(gate.expires_at).timestamp())
                logs.info(logger, "step awaits approval", expires=gate.expires_at)
                return awaiting_event(gate, self.approvals)
            if isinstance(gate, engine.Advance):
                await self.store.save_run(gate.run)
                logs.info(logger, "step refused at its approval gate", reason=gate.run.state(step).error)
                return reply_for(gate.run, gate.action)
            running = engine.begin_step(run=fresh, step=step, now=self.now())
            await self.store.save_run(running)
            logs.info(logger, "step started", attempt=running.state(step).attempts)
            async with lease.kept():
                outcome = await self._execute(running, spec.work)
            advance = engine.complete_step(run=running, step=step, outcome=outcome, now=self.now())
            if lease.lost or not await self.store.finish_step(advance.run, step, token):
                raise Conflict(f"step {step} of run {run_id} was taken over while it ran; its result is dropped")
            released = True
            logs.info(logger, "step finished", phase=outcome.phase.value, next=_describe(advance.action))
            return reply_for(advance.run, advance.action)
        finally:
            if not released:
                await self.store.release(key, token)

    async def _execute(self, run: Run, step: Step) -> engine.Outcome:
        try:
            secrets = await resolve_secrets(self.store, run, step)
        except MissingSecret as exc:
            return engine.Outcome(StepPhase.FAILED, error=str(exc))
        started = time.monotonic()
        outcome = await self.executor.execute(run=run, step=step, secrets=secrets)
        metrics.step_done(step_type=step.type.value, phase=outcome.phase.value, seconds=time.monotonic() - started,
                          workflow=run.workflow, usage=outcome.usage, tool_calls=outcome.tool_calls)
        return masked(outcome, secrets)


@dataclass
class Lease:
    """A held step lease, renewed in the background while the step runs.

    The renewer is told to stop by a flag as well as cancelled: on Python 3.11 a cancel
    that lands as a renewal's command finishes sending is lost (redis-py sends with
    `asyncio.wait_for`, which swallows it: CPython gh-86296, fixed in 3.12). Cancelled
    only, the renewer went on renewing, `kept()` waited for it forever, and the step's
    result was never recorded: its run stalled, every redelivery answered 409, until the
    run's deadline (tests/integration/test_step_lease.py).
    """

    store: Store
    key: str
    token: str
    ttl_s: float
    lost: bool = False
    stopped: bool = False

    async def _renew(self) -> None:
        while not self.stopped:
            await asyncio.sleep(self.ttl_s / 3)
            try:
                if not await self.store.renew(self.key, self.token, self.ttl_s):
                    self.lost = True
                    logs.warning(logger, "step lease lost while running", lease=self.key)
                    return
            except Unavailable as exc:
                logs.warning(logger, "step lease not renewed; retrying", reason=exc.message)

    @contextlib.asynccontextmanager
    async def kept(self) -> AsyncIterator[None]:
        task = asyncio.create_task(self._renew())
        try:
            yield
        finally:
            self.stopped = True
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def _nothing() -> None:
    return None


def _describe(action: engine.Action) -> dict[str, Any]:
    if isinstance(action, engine.RunStep):
        return {"step": action.step}
    return {"finish": action.phase.value}
