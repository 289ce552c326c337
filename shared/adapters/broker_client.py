"""The `Broker` port: how ingest hands events to the Knative Broker (its `K_SINK`).

Only ingest posts to the broker; step functions reply. A refused or unreachable broker
is `Unavailable`, so ingest answers 503 and Alertmanager retries.

The Knative Broker's ingress takes one event per request (binary or structured mode;
it has no batched mode), so a webhook of N alerts is N posts. They go out with bounded
concurrency and a deadline:

- one process-wide limit on posts in flight (`concurrency`, CUTMAN_BROKER_CONCURRENCY,
  default 32), which is also the size of the keep-alive connection pool, so a post never
  waits inside the HTTP client. Free slots go to the oldest request first (`Slots`):
  with a plain FIFO semaphore, 32 webhooks of 50 alerts took turns post by post and all
  finished together, late (a convoy: every one near the deadline under load); oldest
  first, they finish one after another and throughput holds as concurrency rises. (With httpx, 32 webhooks of 50 alerts were 1,600 posts
  queued on a 100-connection pool whose scheduling is quadratic in waiters: half of
  ingest's CPU went to choosing a connection, and throughput fell as load rose.)
- a deadline for all the events of one `send` (`deadline`, CUTMAN_BROKER_DEADLINE,
  default 10 s), past which it raises `Unavailable`: ingest undoes the claims and
  answers 503 instead of holding the request open indefinitely.

The posts go over `cutman.adapters.http1`, a lean keep-alive HTTP/1.1 client, rather than
aiohttp or httpx: per alert, the post is most of ingest's CPU (see that module).
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Iterator, Sequence
from typing import Protocol

from cloudevents.core.v1.event import CloudEvent

from ..errors import Unavailable
from ..models.cloudevent import to_binary
from . import http1

DEFAULT_CONCURRENCY = 32
KEEPALIVE_S = http1.DEFAULT_KEEPALIVE_S
"""Idle pooled connections are dropped after this, below the servers' own idle timeouts
(hypercorn's 5 s), so a post rarely meets a connection the server is closing."""
DEFAULT_DEADLINE_S = 10.0


class Broker(Protocol):
    async def send(self, events: Sequence[CloudEvent]) -> None: ...
    async def close(self) -> None: ...


class Slots:
    """A counting semaphore whose waiters are served lowest `priority` first (then FIFO)."""

    def __init__(self, size: int) -> None:
        self._free = size
        self._waiters: list[tuple[int, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    async def acquire(self, priority: int) -> None:
        if self._free > 0:  # release() hands slots to live waiters first, so none wait now
            self._free -= 1
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (priority, next(self._seq), fut))
        try:
            await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():
                self.release()  # granted just as we were cancelled: hand it on
            raise

    def release(self) -> None:
        while self._waiters:
            _, _, fut = heapq.heappop(self._waiters)
            if not fut.done():
                fut.set_result(None)
                return
        self._free += 1


class HTTPBroker:
    """Posts events in binary mode; every event must be accepted (2xx) or it raises."""

    def __init__(
        self, url: str, *, timeout: float = 10.0, concurrency: int = DEFAULT_CONCURRENCY,
        deadline: float = DEFAULT_DEADLINE_S,
    ) -> None:
        if not url:
            raise ValueError("K_SINK is not set: ingest does not know where the broker is")
        if concurrency < 1 or deadline <= 0:
            raise ValueError("broker concurrency must be at least 1 and the deadline positive")
        self.url = url
        self.concurrency = concurrency
        self.deadline = deadline
        self.timeout = timeout
        self._pool = http1.Pool(url, size=concurrency, keepalive_s=KEEPALIVE_S, max_body=64 * 1024)
        self._slots: Slots | None = None
        self._requests = itertools.count()
        self._closing: asyncio.Task[None] | None = None

    def _client(self) -> Slots:
        """Created on first use, inside the running event loop."""
        if self._slots is None:
            self._slots = Slots(self.concurrency)
        return self._slots

    async def send(self, events: Sequence[CloudEvent]) -> None:
        if not events:
            return
        slots = self._client()
        todo = iter(events)
        order = next(self._requests)
        try:
            async with asyncio.timeout(self.deadline):
                await self._all(slots, todo, order, workers=min(self.concurrency, len(events)))
        except TimeoutError:
            raise Unavailable(
                f"the broker at {self.url} did not accept the {len(events)} event(s) of this request "
                f"within {self.deadline:g} s"
            ) from None

    async def _all(self, slots: Slots, todo: Iterator[CloudEvent], order: int, *, workers: int) -> None:
        """`workers` tasks drain `todo`; the first refusal cancels the others and is raised."""
        if workers == 1:
            await self._drain(slots, todo, order)
            return
        try:
            async with asyncio.TaskGroup() as group:
                for _ in range(workers):
                    group.create_task(self._drain(slots, todo, order))
        except ExceptionGroup as failed:
            first = next((e for e in failed.exceptions if isinstance(e, Unavailable)), None)
            if first is None:
                raise
            raise first from None

    async def _drain(self, slots: Slots, todo: Iterator[CloudEvent], order: int) -> None:
        for event in todo:  # shared by the workers of one send: each event is taken once
            await slots.acquire(order)
            try:
                await self._send_one(event)
            finally:
                slots.release()

    async def _send_one(self, event: CloudEvent) -> None:
        msg = to_binary(event)
        headers = list(msg.headers.items())
        for attempt in (1, 2):
            try:
                resp = await self._pool.request("POST", headers, msg.body, timeout=self.timeout)
                break
            except http1.Disconnected:
                # A pooled connection the server closed as we reused it: once more, on a
                # new one (delivery is at least once; the event keeps its id).
                if attempt == 2:
                    raise Unavailable(f"broker unreachable at {self.url}: it closed the connection") from None
            except http1.HTTPError as exc:
                raise Unavailable(f"broker unreachable at {self.url}: {exc}") from None
        if resp.status >= 300:
            raise Unavailable(
                f"broker refused event {event.get_id()}: {resp.status} {resp.body[:200].decode(errors='replace')}"
            )

    async def close(self) -> None:
        await self._pool.close()

    def close_soon(self) -> None:
        """`close()` from synchronous code inside the event loop (a function's `stop()`):
        scheduled, and it marks the pool closed at its first step, before any await."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._closing = loop.create_task(self.close())
