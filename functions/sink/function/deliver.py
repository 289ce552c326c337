"""Delivering one finished run to one Sink, at most once per (run, sink).

`run.finished` may arrive more than once; the delivery record on the run
(`cm:run:{id}:sinks`) makes the repeat a no-op, and a lease keeps two concurrent
deliveries from both sending.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx
from cutman import clock
from cutman.adapters.store import Store, sink_lease_key
from cutman.core.context import build_context
from cutman.core.templating import TemplateError, is_truthy, render
from cutman.errors import BadRequest, Conflict, NotFound, PermanentError, Unavailable
from cutman.models.resources import SinkSpec
from cutman.sinks import plugin_for

DELIVERED, SKIPPED, FAILED = "Delivered", "Skipped", "Failed"


@dataclass
class Delivery:
    store: Store
    http: httpx.AsyncClient

    async def deliver(
        self, *, path: str, run_id: str | None, approval: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Send `run` (finished, or waiting for the `approval` described) to the Sink at `path`."""
        parts = path.strip("/").split("/")
        if len(parts) != 3 or parts[0] != "sinks":
            raise BadRequest(f"sink path must be /sinks/<namespace>/<sink>, got {path}")
        if not run_id:
            raise BadRequest("the event needs the `run` extension")
        key, sink = f"{parts[1]}/{parts[2]}", parts[2]
        record_key = f"{sink}:approval:{approval.get('step')}" if approval else sink
        cfg = await self.store.get_config("sink", key)
        if cfg is None:
            raise NotFound(f"sink {key} is not configured")
        run = await self.store.get_run(run_id)
        if run is None:
            raise NotFound(f"run {run_id} does not exist")
        done = (await self.store.sink_records(run_id)).get(record_key)
        if done and done.get("phase") in (DELIVERED, SKIPPED):
            return done
        token, lease = uuid.uuid4().hex, sink_lease_key(run_id, record_key)
        if not await self.store.acquire(lease, token, 120):
            raise Conflict(f"sink {sink} is already delivering run {run_id}")
        try:
            record = await self._send(SinkSpec.model_validate(cfg["spec"]), run, record_key, approval, key)
        finally:
            await self.store.release(lease, token)
        return record

    async def _send(
        self, spec: SinkSpec, run: Any, sink: str, approval: dict[str, Any] | None, key: str
    ) -> dict[str, Any]:
        context = build_context(run)
        if approval:
            context["approval"] = approval
        record: dict[str, Any] = {"sink": sink, "type": spec.type.value, "time": clock.now()}
        try:
            if spec.condition and not is_truthy(render(spec.condition, context)):
                record.update(phase=SKIPPED, detail="condition is false")
            else:
                detail = await plugin_for(spec.type).deliver(spec=spec, run=run, context=context, http=self.http)
                record.update(phase=DELIVERED, detail=detail)
        except Unavailable as exc:
            record.update(phase=FAILED, detail=exc.message, retrying=True)
            await self._record(run.id, sink, record, key)
            raise
        except (PermanentError, TemplateError) as exc:
            record.update(phase=FAILED, detail=exc.message)
            await self._record(run.id, sink, record, key)
            raise
        await self._record(run.id, sink, record, key)
        return record

    async def _record(self, run_id: str, sink: str, record: dict[str, Any], key: str) -> None:
        """On the run (what happened to this delivery), then in the Sink's counters."""
        await self.store.record_sink(run_id, sink, record)
        if record["phase"] == DELIVERED:
            await self.store.count_sink(key, when=record["time"])
        elif record["phase"] == FAILED:
            await self.store.count_sink(key, when=record["time"], error=record["detail"])
