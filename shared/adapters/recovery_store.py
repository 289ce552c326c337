"""What crash recovery keeps in Redis: live leases, runs under way, dead letters per run.

    cm:run:{<id>}:lease:<step>      the step's lease (run_store): renewed while the step runs
    cm:run:{<id>}:nudge:<step>      the sweep requested the step again (TTL: one stall interval)
    cm:run:{<id>}:dead              list: dead-lettered events of the run (newest first, capped, TTL)
    cm:active                       sorted set of runs under way by deadline (run_store keeps it)
    cm:outbox                       hash: "<run> <what>" -> an event to hand to the broker (JSON)

The outbox makes "record, then send" one intent: whoever records a change that must be
announced (an approval's resume, a run the sweep failed) puts the event in the outbox
first, sends it, then clears it; the sweep sends whatever is still there.

A holder renews its lease every third of its length, so a live holder's lease never
lapses and a dead holder's lapses within one length: the sweep and redeliveries take the
step over then (cutman.core.recovery).
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any, Protocol

from ..errors import BadRequest
from .redisbase import RedisBase, wrap
from .run_store import ACTIVE, run_key

if TYPE_CHECKING:
    from cloudevents.core.v1.event import CloudEvent

OUTBOX = "cm:outbox"
DEAD_PER_RUN = 20
DEAD_DETAIL_MAX = 2000

_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""


def nudge_key(run_id: str, step: str) -> str:
    return f"{run_key(run_id)}:nudge:{step}"


def dead_key(run_id: str) -> str:
    return f"{run_key(run_id)}:dead"


class RecoveryStore(Protocol):
    async def renew(self, name: str, token: str, ttl_s: float) -> bool: ...
    async def lease_ttl(self, name: str) -> float: ...
    async def take_over(self, name: str, token: str, ttl_s: float) -> None: ...
    async def active_runs(self, *, limit: int = 500) -> list[tuple[str, float]]: ...
    async def forget_active(self, run_id: str) -> None: ...
    async def nudge(self, run_id: str, step: str, ttl_s: float) -> bool: ...
    async def record_dead_letter(self, run_id: str, record: dict[str, Any]) -> None: ...
    async def run_dead_letters(self, run_id: str) -> list[dict[str, Any]]: ...
    async def outbox_put(self, key: str, event: CloudEvent) -> None: ...
    async def outbox_clear(self, key: str) -> None: ...
    async def outbox_due(self, *, older_than_s: float, limit: int = 100) -> list[tuple[str, CloudEvent]]: ...


class RedisRecoveryStore(RedisBase):
    @wrap
    async def renew(self, name: str, token: str, ttl_s: float) -> bool:
        """Extend a lease still held by `token`; False when it was lost (expired or taken)."""
        return bool(await self._script(_RENEW)(keys=[name], args=[token, max(1, int(ttl_s * 1000))]))

    @wrap
    async def take_over(self, name: str, token: str, ttl_s: float) -> None:
        """Hold a lease whoever held it: the old holder's next renewal fails."""
        await self._r.set(name, token, px=max(1, int(ttl_s * 1000)))

    @wrap
    async def lease_ttl(self, name: str) -> float:
        """Seconds left on a lease; 0 when nobody holds it."""
        ms = int(await self._r.pttl(name))
        return max(ms, 0) / 1000.0

    @wrap
    async def active_runs(self, *, limit: int = 500) -> list[tuple[str, float]]:
        """Runs under way with their deadlines (epoch), earliest deadline first."""
        rows: list[tuple[str, float]] = await self._r.zrange(  # type: ignore[assignment]
            ACTIVE, 0, limit - 1, withscores=True)
        return [(str(m), float(s)) for m, s in rows]

    @wrap
    async def forget_active(self, run_id: str) -> None:
        await self._r.zrem(ACTIVE, run_id)

    @wrap
    async def nudge(self, run_id: str, step: str, ttl_s: float) -> bool:
        """True once per `ttl_s` per step: the sweep re-requests a step at most that often."""
        return bool(await self._r.set(nudge_key(run_id, step), "1", nx=True, px=max(1, int(ttl_s * 1000))))

    @wrap
    async def record_dead_letter(self, run_id: str, record: dict[str, Any]) -> None:
        """Keep a dead-lettered event's summary on its run (never the event's data)."""
        doc = {k: (v[:DEAD_DETAIL_MAX] if isinstance(v, str) else v) for k, v in record.items()}
        key = dead_key(run_id)
        async with self._r.pipeline(transaction=False) as p:
            p.lpush(key, json.dumps(doc))
            p.ltrim(key, 0, DEAD_PER_RUN - 1)
            p.expire(key, self.retention_s)
            await p.execute()

    @wrap
    async def run_dead_letters(self, run_id: str) -> list[dict[str, Any]]:
        raw: list[str] = await self._r.lrange(dead_key(run_id), 0, -1)  # type: ignore[assignment]
        return [json.loads(r) for r in raw]

    @wrap
    async def outbox_put(self, key: str, event: CloudEvent) -> None:
        from ..models.cloudevent import to_structured  # the CloudEvents SDK, when first used

        body = to_structured(event).body
        await self._r.hset(OUTBOX, key, json.dumps({"since": time.time(), "event": body.decode()}))

    @wrap
    async def outbox_clear(self, key: str) -> None:
        await self._r.hdel(OUTBOX, key)

    @wrap
    async def outbox_due(self, *, older_than_s: float, limit: int = 100) -> list[tuple[str, CloudEvent]]:
        """Events put at least `older_than_s` ago and not cleared; entries older than the
        retention (their run is gone) or unreadable are dropped."""
        from ..models.cloudevent import from_http

        raw: dict[str, str] = await self._r.hgetall(OUTBOX)  # type: ignore[assignment]
        now = time.time()
        out: list[tuple[str, CloudEvent]] = []
        stale: list[str] = []
        for key, value in raw.items():
            try:
                doc = json.loads(value)
                since = float(doc["since"])
                event = from_http({"content-type": "application/cloudevents+json"}, doc["event"].encode())
            except (ValueError, KeyError, TypeError, BadRequest):
                stale.append(key)
                continue
            if now - since > self.retention_s:
                stale.append(key)
            elif now - since >= older_than_s and len(out) < limit:
                out.append((key, event))
        if stale:
            await self._r.hdel(OUTBOX, *stale)
        return out
