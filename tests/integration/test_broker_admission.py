"""The broker client under a storm: webhooks past the backlog wait their turn, whole.

Against a real HTTP server on loopback (a scripted asyncio server standing in for the
broker's ingress: it answers 202 after a pause and records the order events arrive in).
"""

from __future__ import annotations

import asyncio

import pytest
from cutman.adapters.broker_client import HTTPBroker
from cutman.errors import Unavailable
from cutman.models.cloudevent import make_event


async def slow_ingress(seen: list[str], pause: float) -> asyncio.Server:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                fields = dict(line.split(": ", 1) for line in head.decode().split("\r\n")[1:] if ": " in line)
                await reader.readexactly(int(fields["content-length"]))
                await asyncio.sleep(pause)
                seen.append(fields["ce-id"])
                writer.write(b"HTTP/1.1 202 Accepted\r\ncontent-length: 0\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.transport.abort()

    return await asyncio.start_server(handle, "127.0.0.1", 0)


def events(webhook: int, n: int) -> list:  # type: ignore[type-arg]
    return [make_event(type="t", source="/s", data={}, id=f"w{webhook}-{i}") for i in range(n)]


def test_past_the_backlog_webhooks_go_one_after_another_each_whole() -> None:
    async def scenario() -> list[str]:
        seen: list[str] = []
        server = await slow_ingress(seen, pause=0.002)
        port = server.sockets[0].getsockname()[1]
        # room: the floor, 4 x concurrency = 8 events, below one webhook's 20
        broker = HTTPBroker(f"http://127.0.0.1:{port}/ns/default", concurrency=2, deadline=30, backlog_s=0.001)
        try:
            await broker.send(events(0, 400))  # measures the drain rate
            seen.clear()
            assert broker.backlog.rate > 0
            await asyncio.gather(*(broker.send(events(k, 20)) for k in range(1, 6)))
            return seen
        finally:
            await broker.close()
            server.close()
            await asyncio.sleep(0.01)

    seen = asyncio.run(scenario())
    order = [eid.split("-")[0] for eid in seen]
    assert len(seen) == 100
    assert order == sorted(order, key=lambda w: int(w[1:])), "a later webhook's event went before an earlier's end"


def test_a_webhook_that_waits_past_half_the_deadline_posts_nothing_and_is_unavailable() -> None:
    async def scenario() -> tuple[str, list[str]]:
        seen: list[str] = []
        server = await slow_ingress(seen, pause=0.01)
        port = server.sockets[0].getsockname()[1]
        broker = HTTPBroker(f"http://127.0.0.1:{port}/ns/default", concurrency=1, deadline=2)
        try:
            await broker.send(events(0, 60))  # ~100 events/s measured
            big = asyncio.create_task(broker.send(events(1, 150)))  # 1.5 s of work, admitted (idle)
            await asyncio.sleep(0.05)
            with pytest.raises(Unavailable) as refused:
                await broker.send(events(2, 10))  # waits for room for more than 1 s
            await big
            return str(refused.value), seen
        finally:
            await broker.close()
            server.close()
            await asyncio.sleep(0.01)

    message, seen = asyncio.run(scenario())
    assert "none got through within 1 s" in message
    assert not any(eid.startswith("w2-") for eid in seen)
    assert sum(eid.startswith("w1-") for eid in seen) == 150
