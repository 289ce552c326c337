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
- a bound on the events in the broker's hands (`Backlog`): past it, a webhook's events
  wait their turn before any is posted (at most half the deadline, then `Unavailable`),
  instead of all starting at once to miss the deadline together.
- a deadline for all the events of one `send` (`deadline`, CUTMAN_BROKER_DEADLINE,
  default 10 s), past which it raises `Unavailable`: ingest undoes the claims and
  answers 503 instead of holding the request open indefinitely.

The posts go over `cutman.adapters.http1`, a lean keep-alive HTTP/1.1 client, rather than
aiohttp or httpx: per alert, the post is most of ingest's CPU (see that module).
"""

from __future__ import annotations

import asyncio
import collections
import heapq
import itertools
import time
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
DEFAULT_BACKLOG_S = 1.0


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


class Backlog:
    """How many events may be in the broker's hands before a webhook must wait its turn.

    Without a bound, a storm beyond the broker's rate starts every webhook's posts at
    once; each then waits behind all the others until it misses its deadline, half
    sent, its claims undone: goodput fell to nothing (0 alerts/s at 128 connections,
    issue 12). With it, a webhook's events start only when the events ahead of them will
    drain in `wait_s` (CUTMAN_BROKER_BACKLOG_SECONDS, default 1 s), at the rate measured
    while posts were waiting (EWMA over windows of `window_s` of busy time), and never
    less than `floor`; the others wait, in arrival order, costing nothing
    (`HTTPBroker._admit`). An idle client admits anything (one large webhook is not held
    back for being large), and so does one that has not measured a rate yet.
    """

    def __init__(self, *, wait_s: float, floor: int, window_s: float = 0.5) -> None:
        self.wait_s = wait_s
        self.floor = floor
        self.window_s = window_s
        self.waiting = 0
        self.rate = 0.0
        self._done = 0
        self._busy = 0.0
        self._since: float | None = None

    def room(self) -> int:
        return max(self.floor, int(self.rate * self.wait_s))

    def admits(self, n: int) -> bool:
        return self.waiting == 0 or self.rate == 0 or self.waiting + n <= self.room()

    def enter(self, n: int, now: float) -> None:
        if self.waiting == 0:
            self._since = now
        self.waiting += n

    def leave(self, n: int, sent: int, now: float) -> None:
        """`n` events left the backlog, `sent` of them accepted by the broker."""
        self.waiting -= n
        self._done += sent
        if self._since is not None:
            self._busy += now - self._since
            self._since = now if self.waiting else None
        if self._busy >= self.window_s:
            measured = self._done / self._busy
            self.rate = measured if self.rate == 0 else 0.7 * self.rate + 0.3 * measured
            self._done, self._busy = 0, 0.0


class HTTPBroker:
    """Posts events in binary mode; every event must be accepted (2xx) or it raises."""

    def __init__(
        self, url: str, *, timeout: float = 10.0, concurrency: int = DEFAULT_CONCURRENCY,
        deadline: float = DEFAULT_DEADLINE_S, backlog_s: float = DEFAULT_BACKLOG_S,
    ) -> None:
        if not url:
            raise ValueError("K_SINK is not set: ingest does not know where the broker is")
        if concurrency < 1 or deadline <= 0 or backlog_s <= 0:
            raise ValueError("broker concurrency must be at least 1, the deadline and backlog positive")
        self.url = url
        self.concurrency = concurrency
        self.deadline = deadline
        self.timeout = timeout
        self._pool = http1.Pool(url, size=concurrency, keepalive_s=KEEPALIVE_S, max_body=64 * 1024)
        self._slots = Slots(concurrency)
        self.backlog = Backlog(wait_s=backlog_s, floor=concurrency * 4)
        self._admission: collections.deque[tuple[int, asyncio.Future[None]]] = collections.deque()
        self._requests = itertools.count()
        self._closing: asyncio.Task[None] | None = None

    async def send(self, events: Sequence[CloudEvent]) -> None:
        if not events:
            return
        slots = self._slots
        n = len(events)
        started = time.monotonic()
        await self._admit(n, timeout=self.deadline / 2)
        todo = iter(events)
        order = next(self._requests)
        sent = [0]
        try:
            async with asyncio.timeout(self.deadline - (time.monotonic() - started)):
                await self._all(slots, todo, order, sent, workers=min(self.concurrency, n))
        except TimeoutError:
            raise Unavailable(
                f"the broker at {self.url} did not accept the {n} event(s) of this request "
                f"within {self.deadline:g} s"
            ) from None
        finally:
            self.backlog.leave(n, sent[0], time.monotonic())
            self._wake()

    async def _admit(self, n: int, *, timeout: float) -> None:
        """Enter `n` events into the backlog, waiting (first come, first served) up to
        `timeout` for room; Unavailable when none came."""
        if not self._admission and self.backlog.admits(n):
            self.backlog.enter(n, time.monotonic())
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (n, fut)
        self._admission.append(entry)
        try:
            async with asyncio.timeout(timeout):
                await fut
        except TimeoutError:
            if fut.done() and not fut.cancelled():
                return
            self._admission.remove(entry)
            raise Unavailable(
                f"{self.backlog.waiting} events are ahead of these {n} for the broker (it accepts about "
                f"{self.backlog.rate:.0f}/s) and none got through within {timeout:g} s; retry shortly"
            ) from None
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():
                self.backlog.leave(n, 0, time.monotonic())
                self._wake()
            elif entry in self._admission:
                self._admission.remove(entry)
            raise

    def _wake(self) -> None:
        while self._admission and self.backlog.admits(self._admission[0][0]):
            n, fut = self._admission.popleft()
            if not fut.done():
                self.backlog.enter(n, time.monotonic())
                fut.set_result(None)

    async def _all(
        self, slots: Slots, todo: Iterator[CloudEvent], order: int, sent: list[int], *, workers: int
    ) -> None:
        """`workers` tasks drain `todo`; the first refusal cancels the others and is raised."""
        if workers == 1:
            await self._drain(slots, todo, order, sent)
            return
        try:
            async with asyncio.TaskGroup() as group:
                for _ in range(workers):
                    group.create_task(self._drain(slots, todo, order, sent))
        except ExceptionGroup as failed:
            first = next((e for e in failed.exceptions if isinstance(e, Unavailable)), None)
            if first is None:
                raise
            raise first from None

    async def _drain(self, slots: Slots, todo: Iterator[CloudEvent], order: int, sent: list[int]) -> None:
        for event in todo:  # shared by the workers of one send: each event is taken once
            await slots.acquire(order)
            try:
                await self._send_one(event)
                sent[0] += 1
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
