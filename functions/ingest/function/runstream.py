"""`GET /api/v1/stream`: run updates as Server-Sent Events, one Redis reader per process.

The run store appends to the capped stream `cm:runs:updates` in the pipeline of every
run write (cutman.adapters.event_log), so the step functions pay nothing extra. Here one
`Hub` task reads it with `XREAD BLOCK` while at least one client listens, looks each
changed run up once per batch, and fans the result out to every subscriber's queue:
a hundred open pages cost one Redis connection, and no reader runs when nobody looks.

SSE ids are stream entry ids; a client reconnecting with `Last-Event-ID` first gets what
it missed (from the capped stream), then live entries. A slow client whose queue fills is
dropped (it reconnects and catches up by id) instead of slowing the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass, field
from typing import Any

from cutman import log as logs
from cutman.adapters.store import Store
from cutman.asgi import Receive, Scope, Send, headers_of
from cutman.errors import CutmanError

logger = logs.get("cutman.ingest.stream")
BLOCK_MS = 5000
KEEPALIVE_S = 15.0
QUEUE_MAX = 256
Update = tuple[str, dict[str, Any]]


@dataclass(eq=False)
class Subscriber:
    run: str | None = None
    workflow: str | None = None
    queue: asyncio.Queue[list[Update] | None] = field(default_factory=lambda: asyncio.Queue(QUEUE_MAX))

    def wants(self, update: dict[str, Any]) -> bool:
        if self.run and update["run"] != self.run:
            return False
        return not (self.workflow and update.get("workflow") != self.workflow)


class Hub:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.subscribers: set[Subscriber] = set()
        self._task: asyncio.Task[None] | None = None

    def subscribe(self, sub: Subscriber) -> None:
        self.subscribers.add(sub)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._read())

    def unsubscribe(self, sub: Subscriber) -> None:
        self.subscribers.discard(sub)

    async def enrich(self, entries: list[tuple[str, dict[str, str]]]) -> list[Update]:
        """Each entry with the run's summary (each run read once per batch)."""
        from cutman.api import queries

        ids = list(dict.fromkeys(f["run"] for _, f in entries if f.get("run")))
        runs = dict(zip(ids, await self.store.get_runs(ids)))
        out: list[Update] = []
        for entry_id, fields in entries:
            run = runs.get(fields.get("run", ""))
            update: dict[str, Any] = dict(fields)
            if run is not None:
                update["workflow"] = run.workflow
                update["phase"] = run.phase.value
                update["summary"] = queries.run_summary(run, await self.store.sink_records(run.id))
            out.append((entry_id, update))
        return out

    async def _read(self) -> None:
        last = await self._last()
        while self.subscribers:
            try:
                entries = await self.store.run_updates(last, block_ms=BLOCK_MS)
                if not entries:
                    continue
                last = entries[-1][0]
                batch = await self.enrich(entries)
            except CutmanError as exc:
                logs.warning(logger, "run update stream read failed", reason=exc.message)
                await asyncio.sleep(1)
                continue
            for sub in list(self.subscribers):
                try:
                    sub.queue.put_nowait([u for u in batch if sub.wants(u[1])])
                except asyncio.QueueFull:
                    self.subscribers.discard(sub)
                    with contextlib.suppress(asyncio.QueueFull):
                        sub.queue.get_nowait()
                        sub.queue.put_nowait(None)

    async def _last(self) -> str:
        while True:
            try:
                return await self.store.last_run_update()
            except CutmanError as exc:
                logs.warning(logger, "run update stream unavailable", reason=exc.message)
                await asyncio.sleep(1)


def _frame(entry_id: str, update: dict[str, Any]) -> bytes:
    return f"id: {entry_id}\nevent: run\ndata: {json.dumps(update, default=str)}\n\n".encode()


async def _disconnected(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def serve_stream(hub: Hub, scope: Scope, receive: Receive, send: Send, *,
                       query: dict[str, str], mask: list[str]) -> None:
    from cutman.api import queries

    headers = headers_of(scope)
    sub = Subscriber(run=query.get("run") or None, workflow=query.get("workflow") or None)
    resume = headers.get("last-event-id") or query.get("lastEventId") or ""
    catchup: list[Update] = []
    if resume:
        missed = await hub.store.run_updates(queries.stream_id(resume), block_ms=None)
        catchup = [u for u in await hub.enrich(missed) if sub.wants(u[1])]
    await send({"type": "http.response.start", "status": 200, "headers": [
        (b"content-type", b"text/event-stream; charset=utf-8"), (b"cache-control", b"no-cache"),
        (b"x-accel-buffering", b"no")]})
    hub.subscribe(sub)
    gone = asyncio.ensure_future(_disconnected(receive))
    try:
        await send({"type": "http.response.body", "body": b": connected\n\n", "more_body": True})
        pending = catchup
        while not gone.done():
            for entry_id, update in pending:
                body = _frame(entry_id, queries.masked(update, mask))
                await send({"type": "http.response.body", "body": body, "more_body": True})
            getter = asyncio.ensure_future(sub.queue.get())
            done, _ = await asyncio.wait({getter, gone}, timeout=KEEPALIVE_S,
                                         return_when=asyncio.FIRST_COMPLETED)
            if getter not in done:
                getter.cancel()
                pending = []
                if not gone.done():
                    await send({"type": "http.response.body", "body": b": keepalive\n\n", "more_body": True})
                continue
            got = getter.result()
            if got is None:
                break
            pending = got
        if not gone.done():
            await send({"type": "http.response.body", "body": b"", "more_body": False})
    except OSError:
        pass
    finally:
        hub.unsubscribe(sub)
        gone.cancel()
