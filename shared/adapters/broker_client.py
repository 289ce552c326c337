"""The `Broker` port: how ingest hands events to the Knative Broker (its `K_SINK`).

Only ingest posts to the broker; step functions reply. A refused or unreachable broker
is `Unavailable`, so ingest answers 503 and Alertmanager retries.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Protocol

import httpx
from cloudevents.core.v1.event import CloudEvent

from ..errors import Unavailable
from ..models.cloudevent import to_binary


class Broker(Protocol):
    async def send(self, events: Sequence[CloudEvent]) -> None: ...
    async def close(self) -> None: ...


class HTTPBroker:
    """Posts events in binary mode; every event must be accepted (2xx) or it raises."""

    def __init__(self, url: str, *, timeout: float = 10.0) -> None:
        if not url:
            raise ValueError("K_SINK is not set: ingest does not know where the broker is")
        self.url = url
        self._client = httpx.AsyncClient(timeout=timeout)

    async def send(self, events: Sequence[CloudEvent]) -> None:
        await asyncio.gather(*(self._send_one(e) for e in events))

    async def _send_one(self, event: CloudEvent) -> None:
        msg = to_binary(event)
        try:
            resp = await self._client.post(self.url, headers=msg.headers, content=msg.body)
        except httpx.HTTPError as exc:
            raise Unavailable(f"broker unreachable at {self.url}: {exc}") from None
        if resp.status_code >= 300:
            raise Unavailable(f"broker refused event {event.get_id()}: {resp.status_code} {resp.text[:200]}")

    async def close(self) -> None:
        await self._client.aclose()
