"""ingest's housekeeping: the sweep that makes every run end, and the dead-letter sink.

POST /housekeeping/approvals (a PingSource in a cluster, deploy/knative/base/housekeeping.yaml;
the pinger in `cutman dev`, every CUTMAN_SWEEP_SECONDS) sweeps, in order:

1. the outbox: events recorded but not yet handed to the broker (an approval's resume
   whose sender died or met a broker outage, a run this sweep failed);
2. approvals past their deadline: the step.requested that makes the step fail;
3. sink deliveries a crash left open (cutman.sinks.delivery.sweep_sink_deliveries);
4. runs under way (cutman.core.recovery.assess): a run past its deadline is failed with
   the reason; a step whose holder died (no lease) or that was requested and never
   started within CUTMAN_LEASE_SECONDS is requested again (the step host decides, under
   the lease, whether it may run again).

Every event goes to the broker before its record is cleared, so a broker outage only
delays it to the next sweep. Answering a sweep twice is harmless: the step host replays.

POST /housekeeping/deadletters is the Triggers' `deadLetterSink`: a dead-lettered event
(with Knative's `knativeerror*` extensions) is recorded on its run, so `cutman runs get`
shows why a step or a sink never got its event.

In a cluster the PingSource exists only while something waits (cutman.core.housekeeping):
a sweep that leaves nothing to do says `dev.cutman.housekeeping.check`, and the reconciler
removes it until a run starts or a step waits for approval again.
"""

from __future__ import annotations

import base64
import binascii
import time
import uuid
from typing import TYPE_CHECKING, Any

from cloudevents.core.v1.event import CloudEvent
from cutman import clock
from cutman import log as logs
from cutman.adapters.store import Store, lease_key
from cutman.asgi import Receive, Scope, Send, headers_of, read_body, respond_error, respond_json
from cutman.errors import BadRequest, CutmanError, NotFound
from cutman.models.cloudevent import ext, from_http, make_event
from cutman.models.events import EventType, Ext
from cutman.stepconfig import DEFAULT_LEASE_S

if TYPE_CHECKING:
    # What a sweep uses (the engine, the run models, the sink plugins and httpx) is
    # imported by the first sweep, not with ingest: a webhook needs none of it.
    import httpx
    from cutman.adapters.broker_client import Broker

PATH = "/housekeeping/approvals"
DEAD_PATH = "/housekeeping/deadletters"
OUTBOX_GRACE_S = 2.0
logger = logs.get("cutman.ingest.housekeeping")


class Housekeeping:
    def __init__(self, *, store: Store, broker: Broker, lease_s: float = DEFAULT_LEASE_S) -> None:
        self.store, self.broker, self.lease_s = store, broker, lease_s
        self._http: httpx.AsyncClient | None = None

    @property
    def http(self) -> httpx.AsyncClient:
        """The client sink deliveries are swept with, made by the first sweep."""
        if self._http is None:
            import httpx

            self._http = httpx.AsyncClient()
        return self._http

    async def serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            if scope["method"] != "POST":
                raise NotFound(f"{scope['path']} takes POST")
            if scope["path"] == DEAD_PATH:
                body = await read_body(receive, limit=8 * 1024 * 1024)
                await respond_json(send, 200, await self.dead_letter(headers_of(scope), body))
                return
            await read_body(receive, limit=64 * 1024)
            result = await self.sweep()
        except CutmanError as err:
            logs.warning(logger, "housekeeping failed", path=scope["path"], status=err.status, reason=err.message)
            await respond_error(send, err)
            return
        await respond_json(send, 200, result)

    async def sweep(self) -> dict[str, int]:
        from cutman.sinks.delivery import sweep_sink_deliveries
        from cutman.waiting import anything_waits

        resent = await self.flush_outbox()
        expired = await self.expire_approvals()
        sinks = await sweep_sink_deliveries(self.store, time.time(), http=self.http, emit=self.broker.send)
        failed, nudged = await self.sweep_runs()
        if not await anything_waits(self.store):
            await self.broker.send([make_event(type=EventType.HOUSEKEEPING_CHECK.value, source="/cutman/ingest",
                                               data={"reason": "idle"})])
        return {"expired": expired, "resent": resent, "failed": failed, "requested": nudged,
                **{f"sink_{k}": v for k, v in sinks.items()}}

    async def flush_outbox(self) -> int:
        due = await self.store.outbox_due(older_than_s=OUTBOX_GRACE_S)
        for key, event in due:
            await self.broker.send([event])
            await self.store.outbox_clear(key)
            logs.info(logger, "pending event sent", key=key, type=event.get_type())
        return len(due)

    async def expire_approvals(self) -> int:
        from cutman.approvals import due_expiries

        due = await due_expiries(self.store, now=time.time())
        events = [d.event for d in due if d.event is not None]
        await self.broker.send(events)
        for d in due:
            await self.store.forget_approval(d.run, d.step)
        if events:
            logs.info(logger, "approvals expired", runs=[d.run for d in due if d.event is not None])
        return len(events)

    async def sweep_runs(self) -> tuple[int, int]:
        from cutman.core import engine, recovery
        from cutman.stephost import reply_for

        failed = nudged = 0
        for run_id, _deadline in await self.store.active_runs():
            run = await self.store.get_run(run_id)
            if run is None or run.phase.done:
                await self.store.forget_active(run_id)
                continue
            step = recovery.current_step(run)
            held = step is not None and await self.store.lease_ttl(lease_key(run.id, step)) > 0
            verdict = recovery.assess(run=run, now=clock.now(), lease_held=held, stall_s=self.lease_s)
            with logs.bind(run=run.id):
                if isinstance(verdict, recovery.Expire):
                    failed += await self._expire(run.id, step)
                elif isinstance(verdict, recovery.Nudge) and await self.store.nudge(run.id, verdict.step, self.lease_s):
                    logs.warning(logger, "step requested again", step=verdict.step, why=verdict.why)
                    await self.broker.send([reply_for(run, engine.RunStep(verdict.step, _executor(run, verdict.step)))])
                    nudged += 1
        return failed, nudged

    async def _expire(self, run_id: str, step: str | None) -> int:
        """Fail a run past its deadline, taking its current step's lease even from a holder
        still renewing it (hung, or slower than the deadline allows): the holder finds its
        lease gone when it ends and drops its result (cutman.stephost)."""
        from cutman.core import engine
        from cutman.stephost import reply_for

        token, key = uuid.uuid4().hex, lease_key(run_id, step or "-")
        if not await self.store.acquire(key, token, 30):
            await self.store.take_over(key, token, 30)
            logs.warning(logger, "lease taken from a holder past the run's deadline", step=step)
        try:
            run = await self.store.get_run(run_id)
            reason = engine.overdue(run=run, now=clock.now()) if run is not None else None
            if run is None or reason is None:
                return 0
            advance = engine.expire(run=run, reason=reason, now=clock.now())
            event = reply_for(advance.run, advance.action)
            box = f"{run_id} finished"
            await self.store.outbox_put(box, event)
            await self.store.save_run(advance.run)
        finally:
            await self.store.release(key, token)
        logs.warning(logger, "run failed at its deadline", reason=reason)
        await self.broker.send([event])
        await self.store.outbox_clear(box)
        return 1

    async def dead_letter(self, headers: dict[str, str], body: bytes) -> dict[str, Any]:
        """Record a dead-lettered event on its run; events without a run are only logged."""
        event = from_http(headers, body)
        run_id = ext(event, Ext.RUN)
        record = _dead_record(event)
        logs.error(logger, "event dead-lettered", run=run_id, **record)
        await self.store.record_dead_letter_event(
            {k: str(v) for k, v in {**record, "run": run_id or ""}.items() if v is not None})
        if not run_id:
            return {"recorded": False, "reason": "the event names no run"}
        if await self.store.get_run(run_id) is None:
            raise BadRequest(f"run {run_id} does not exist", field="run")
        await self.store.record_dead_letter(run_id, record)
        return {"recorded": True, "run": run_id}


def _executor(run: Any, step: str) -> Any:
    spec = run.spec.step(step)
    assert spec is not None
    return spec.executor


def _dead_record(event: CloudEvent) -> dict[str, Any]:
    attrs = event.get_attributes()
    raw = str(attrs.get("knativeerrordata") or "")
    try:
        detail = base64.b64decode(raw).decode("utf-8", "replace") if raw else ""
    except (binascii.Error, ValueError):
        detail = raw
    what = str(attrs.get(Ext.STEP) or "") if event.get_type() == EventType.STEP_REQUESTED else ""
    return {
        "time": clock.now(), "event": event.get_id(), "type": event.get_type(), "step": what or None,
        "code": str(attrs.get("knativeerrorcode") or ""), "destination": str(attrs.get("knativeerrordest") or ""),
        "detail": detail[:500] or "no response body",
    }
