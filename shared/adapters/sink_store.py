"""Sink deliveries in flight, and the little state a sink keeps between deliveries.

    cm:sinkdeliveries                    sorted set "<run>\\x1f<sink ns/name>\\x1f<record>" by last
                                         attempt (epoch): deliveries not yet final, for the sweep
    cm:sinkstate:{<ns>/<sink>}:<key>     a string per sink and key (Slack thread ts of an alert
                                         fingerprint, Jira issue key), retention TTL

The delivery records themselves are on the run (`cm:run:{<id>}:sinks`, run_store).
"""

from __future__ import annotations

from typing import Protocol

from .redisbase import RedisBase, wrap
from .run_store import RUN_RETENTION_S

DELIVERIES = "cm:sinkdeliveries"
SEP = "\x1f"


class SinkStore(Protocol):
    async def track_delivery(self, run_id: str, sink: str, record: str, at: float) -> None: ...
    async def untrack_delivery(self, run_id: str, sink: str, record: str) -> None: ...
    async def open_deliveries(self, before: float, limit: int = 100) -> list[tuple[str, str, str, float]]: ...
    async def lease_held(self, name: str) -> bool: ...
    async def sink_state_get(self, sink: str, key: str) -> str | None: ...
    async def sink_state_put(self, sink: str, key: str, value: str) -> None: ...


class RedisSinkStore(RedisBase):
    @wrap
    async def track_delivery(self, run_id: str, sink: str, record: str, at: float) -> None:
        await self._r.zadd(DELIVERIES, {SEP.join((run_id, sink, record)): at})

    @wrap
    async def untrack_delivery(self, run_id: str, sink: str, record: str) -> None:
        await self._r.zrem(DELIVERIES, SEP.join((run_id, sink, record)))

    @wrap
    async def open_deliveries(self, before: float, limit: int = 100) -> list[tuple[str, str, str, float]]:
        """(run, sink, record, last attempt) of open deliveries last tried before `before`."""
        members: list[tuple[str, float]] = await self._r.zrangebyscore(  # type: ignore[assignment]
            DELIVERIES, "-inf", before, start=0, num=limit, withscores=True)
        out = []
        for m, score in members:
            parts = m.split(SEP)
            if len(parts) == 3:
                out.append((parts[0], parts[1], parts[2], float(score)))
        return out

    @wrap
    async def lease_held(self, name: str) -> bool:
        return bool(await self._r.exists(name))

    @wrap
    async def sink_state_get(self, sink: str, key: str) -> str | None:
        value = await self._r.get(f"cm:sinkstate:{{{sink}}}:{key}")
        return None if value is None else str(value)

    @wrap
    async def sink_state_put(self, sink: str, key: str, value: str) -> None:
        await self._r.set(f"cm:sinkstate:{{{sink}}}:{key}", value, ex=RUN_RETENTION_S)
