"""One post per (run, sink, event) under at-least-once delivery, and the sweep of crashes.

The broker may deliver `run.finished` (or `run.awaitingapproval`) twice, or twice at
once. The record on the run (`cm:run:{id}:sinks`, field = sink or `sink:approval:<step>`)
goes Sending before the remote call and Delivered / Failed / Retrying after it; a final
record makes a redelivery a no-op, and a lease keeps a concurrent delivery out (409, the
broker retries). The lease lasts the sink's timeout plus a margin and the plugin call is
cut at the timeout, so a slow delivery never outlives its lease.

A crash between Sending and the outcome leaves a Sending record with no lease. The next
redelivery, or `sweep_sink_deliveries` (called by the housekeeping sweep), resolves it:
a plugin whose remote takes an idempotency key is sent again; any other is marked
Unknown on the run and in the Sink's `lastError`, never silently nothing (and never
posted twice). A crash after the remote accepted and before Delivered was written can
still repeat one post for an idempotent remote; that window is one Redis write.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from cloudevents.core.v1.event import CloudEvent

from .. import clock, metrics
from .. import log as logs
from ..adapters.store import Store, sink_lease_key
from ..core.context import build_context
from ..core.masking import mask_text
from ..core.templating import TemplateError, is_truthy, render
from ..errors import BadRequest, Conflict, NotFound, PermanentError, Unavailable
from ..models.resources import SinkSpec
from ..models.run import Run
from .base import Delivery, Ports, SinkEvent, SinkPlugin, Skip
from .registry import plugin_for
from .secrets import StoreSecrets

if TYPE_CHECKING:
    import httpx

logger = logs.get("cutman.sink")
LEASE_MARGIN_S = 30.0
# a Retrying delivery not retried for this long was given up by the broker
EXHAUSTED_AFTER_S = 900.0


class Phase(StrEnum):
    SENDING = "Sending"
    DELIVERED = "Delivered"
    SKIPPED = "Skipped"
    RETRYING = "Retrying"
    FAILED = "Failed"
    UNKNOWN = "Unknown"


FINAL = frozenset({Phase.DELIVERED, Phase.SKIPPED, Phase.FAILED, Phase.UNKNOWN})


@dataclass
class StoreState:
    """The `SinkState` port on the store, scoped to one sink."""

    store: Store
    sink: str

    async def get(self, key: str) -> str | None:
        return await self.store.sink_state_get(self.sink, key)

    async def put(self, key: str, value: str) -> None:
        await self.store.sink_state_put(self.sink, key, value)


@dataclass
class Result:
    record: dict[str, Any]
    events: list[CloudEvent] = field(default_factory=list)


def record_key(sink_name: str, approval: Mapping[str, Any] | None) -> str:
    return f"{sink_name}:approval:{approval.get('step')}" if approval else sink_name


@dataclass
class Deliverer:
    store: Store
    http: httpx.AsyncClient
    settings: Mapping[str, str] = field(default_factory=dict)

    async def deliver_path(self, *, path: str, run_id: str | None,
                           approval: dict[str, Any] | None = None) -> Result:
        parts = path.strip("/").split("/")
        if len(parts) != 3 or parts[0] != "sinks":
            raise BadRequest(f"sink path must be /sinks/<namespace>/<sink>, got {path}")
        if not run_id:
            raise BadRequest("the event needs the `run` extension")
        return await self.deliver(sink=f"{parts[1]}/{parts[2]}", run_id=run_id, approval=approval)

    async def deliver(self, *, sink: str, run_id: str, approval: dict[str, Any] | None = None) -> Result:
        """Send `run` (finished, or waiting for the `approval` described) to Sink `sink` (ns/name)."""
        cfg = await self.store.get_config("sink", sink)
        if cfg is None:
            raise NotFound(f"sink {sink} is not configured")
        run = await self.store.get_run(run_id)
        if run is None:
            raise NotFound(f"run {run_id} does not exist")
        rkey = record_key(sink.partition("/")[2], approval)
        done = (await self.store.sink_records(run_id)).get(rkey)
        spec = SinkSpec.model_validate(cfg["spec"])
        plugin = plugin_for(spec.type)
        if done and done.get("phase") in FINAL:
            if done.get("phase") == Phase.DELIVERED and getattr(plugin, "replays", False):
                return Result(done, await self._replay(spec, plugin, run, sink, approval))
            return Result(done)
        timeout = float(spec.params.timeout_seconds)
        token, lease = uuid.uuid4().hex, sink_lease_key(run_id, rkey)
        if not await self.store.acquire(lease, token, timeout + LEASE_MARGIN_S):
            raise Conflict(f"sink {sink} is already delivering run {run_id}",
                           retry_after=await self.store.lease_ttl(lease) or 1.0)
        try:
            done = (await self.store.sink_records(run_id)).get(rkey)
            if done and done.get("phase") in FINAL:
                return Result(done)
            if done and done.get("phase") == Phase.SENDING and not plugin.idempotent:
                return Result(await self._unknown(run_id, sink, rkey, done))
            return await self._send(spec, plugin, run, sink, rkey, approval, done, timeout)
        finally:
            await self.store.release(lease, token)

    def _context(self, spec: SinkSpec, run: Run, sink: str, approval: dict[str, Any] | None) -> dict[str, Any]:
        context = build_context(run)
        if approval:
            context["approval"] = approval
        ns, _, name = sink.partition("/")
        context["sink"] = {"name": name, "namespace": ns, "context": dict(spec.params.context)}
        return context

    async def _replay(self, spec: SinkSpec, plugin: SinkPlugin, run: Run, sink: str,
                      approval: dict[str, Any] | None) -> list[CloudEvent]:
        """The reply of a delivered event-emitting sink, again (the first reply may have
        been lost with the broker); the event id is the same, so nothing starts twice."""
        events: list[CloudEvent] = []
        ports = Ports(http=self.http, secrets=StoreSecrets(self.store, sink.partition("/")[0]),
                      state=StoreState(self.store, sink), emit=events.append, settings=self.settings)
        delivery = Delivery(sink=sink, run=run, params=spec.params, context=self._context(spec, run, sink, approval),
                            event=SinkEvent.APPROVAL if approval else SinkEvent.FINISHED, approval=approval)
        try:
            await plugin.deliver(delivery, ports)
        except (Skip, PermanentError, Unavailable, TemplateError):
            return []
        return events

    async def _send(self, spec: SinkSpec, plugin: SinkPlugin, run: Run, sink: str, rkey: str,
                    approval: dict[str, Any] | None, previous: dict[str, Any] | None,
                    timeout: float) -> Result:
        context = self._context(spec, run, sink, approval)
        ns = sink.partition("/")[0]
        attempt = int((previous or {}).get("attempts", 0)) + 1
        record: dict[str, Any] = {"sink": rkey, "type": spec.type.value, "time": clock.now(), "attempts": attempt}
        secrets = StoreSecrets(self.store, ns)
        try:
            if spec.condition and not is_truthy(render(spec.condition, context)):
                record.update(phase=Phase.SKIPPED, detail="condition is false")
                await self._record(run.id, sink, rkey, record)
                return Result(record)
        except TemplateError as exc:
            record.update(phase=Phase.FAILED, detail=f"spec.condition: {exc.message}")
            await self._record(run.id, sink, rkey, record)
            return Result(record)
        await self._record(run.id, sink, rkey, {**record, "phase": Phase.SENDING})
        events: list[CloudEvent] = []
        ports = Ports(http=self.http, secrets=secrets, state=StoreState(self.store, sink),
                      emit=events.append, settings=self.settings)
        delivery = Delivery(sink=sink, run=run, params=spec.params, context=context,
                            event=SinkEvent.APPROVAL if approval else SinkEvent.FINISHED, approval=approval)
        try:
            async with asyncio.timeout(timeout):
                detail = await plugin.deliver(delivery, ports)
        except Skip as skip:
            record.update(phase=Phase.SKIPPED, detail=skip.reason)
            await self._record(run.id, sink, rkey, record)
            return Result(record)
        except (Unavailable, TimeoutError) as exc:
            reason = exc.message if isinstance(exc, Unavailable) else f"no answer within {timeout:g}s"
            record.update(phase=Phase.RETRYING, detail=mask_text(reason, secrets.seen))
            await self._record(run.id, sink, rkey, record)
            raise Unavailable(record["detail"], retry_after=getattr(exc, "retry_after", None)) from None
        except (PermanentError, TemplateError) as exc:
            record.update(phase=Phase.FAILED, detail=mask_text(exc.message, secrets.seen))
            await self._record(run.id, sink, rkey, record)
            return Result(record)
        except Exception as exc:
            record.update(phase=Phase.RETRYING, detail=f"sink plugin failed: {type(exc).__name__}")
            await self._record(run.id, sink, rkey, record)
            raise
        record.update(phase=Phase.DELIVERED, detail=mask_text(detail, secrets.seen))
        await self._record(run.id, sink, rkey, record)
        return Result(record, events)

    async def _unknown(self, run_id: str, sink: str, rkey: str, sending: dict[str, Any]) -> dict[str, Any]:
        record = {**sending, "phase": Phase.UNKNOWN, "time": clock.now(),
                  "detail": "the sink stopped while sending; the post may or may not have arrived "
                            "(not sent again: this remote has no idempotency key)"}
        await self._record(run_id, sink, rkey, record)
        return record

    async def _record(self, run_id: str, sink: str, rkey: str, record: dict[str, Any]) -> None:
        """On the run first (what happened to this delivery), then in the Sink's counters."""
        phase = record["phase"]
        await self.store.record_sink(run_id, rkey, record)
        metrics.sink_record(record)
        if phase in (Phase.SENDING, Phase.RETRYING):
            await self.store.track_delivery(run_id, sink, rkey, time.time())
            return
        await self.store.untrack_delivery(run_id, sink, rkey)
        if phase == Phase.DELIVERED:
            await self.store.count_sink(sink, when=record["time"])
        elif phase in (Phase.FAILED, Phase.UNKNOWN):
            await self.store.count_sink(sink, when=record["time"], error=f"run {run_id}: {record['detail']}")


async def sweep_sink_deliveries(
    store: Store, now: float, *, http: httpx.AsyncClient | None = None,
    settings: Mapping[str, str] | None = None, limit: int = 100,
    emit: Callable[[Sequence[CloudEvent]], Awaitable[None]] | None = None,
) -> dict[str, int]:
    """Resolve deliveries a crash left open; for the housekeeping sweep (helper "crash").

    A Sending record whose lease is gone: sent again where the remote takes an
    idempotency key (finished-run deliveries), else marked Unknown. A Retrying record
    not retried for EXHAUSTED_AFTER_S: the broker gave up, so it is marked Failed.
    A resent workflow sink's chain event goes to `emit` (the broker); without it such a
    delivery is marked Unknown. `settings` default to the process's CUTMAN_* variables
    (the remote API bases, CUTMAN_PUBLIC_URL), as the sink function reads them.
    """
    if settings is None:
        settings = {k: v for k, v in os.environ.items() if k.startswith("CUTMAN_")}
    own = http is None
    if http is None:
        import httpx

        http = httpx.AsyncClient()
    client = http
    counts = {"resent": 0, "unknown": 0, "exhausted": 0}
    try:
        for run_id, sink, rkey, last in await store.open_deliveries(now - LEASE_MARGIN_S, limit):
            record = (await store.sink_records(run_id)).get(rkey)
            if record is None or record.get("phase") in FINAL:
                await store.untrack_delivery(run_id, sink, rkey)
                continue
            if await store.lease_held(sink_lease_key(run_id, rkey)):
                continue
            deliverer = Deliverer(store, client, settings or {})
            if record.get("phase") == Phase.RETRYING:
                if last > now - EXHAUSTED_AFTER_S:
                    continue
                failed = {**record, "phase": Phase.FAILED, "time": clock.now(),
                          "detail": f"retries exhausted: {record.get('detail', '')}"}
                await deliverer._record(run_id, sink, rkey, failed)
                counts["exhausted"] += 1
                continue
            if await _idempotent(store, sink, can_emit=emit is not None) and ":approval:" not in rkey:
                try:
                    result = await deliverer.deliver(sink=sink, run_id=run_id)
                    if result.events and emit is not None:
                        await emit(result.events)
                    counts["resent"] += 1
                except (Unavailable, Conflict, NotFound, PermanentError) as exc:
                    logs.warning(logger, "sweep could not resend", run=run_id, sink=sink, reason=exc.message)
                continue
            await deliverer._unknown(run_id, sink, rkey, record)
            counts["unknown"] += 1
    finally:
        if own:
            await client.aclose()
    return counts


async def _idempotent(store: Store, sink: str, *, can_emit: bool) -> bool:
    cfg = await store.get_config("sink", sink)
    if cfg is None:
        return False
    plugin = plugin_for(SinkSpec.model_validate(cfg["spec"]).type)
    return plugin.idempotent and (can_emit or not getattr(plugin, "replays", False))
