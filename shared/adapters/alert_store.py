"""Alert lifecycle per (source, fingerprint), decided atomically for a whole webhook.

    cm:fp:{<ns>/<source>}:<fp>      hash: status, since, lastSeen, count, event, ...
    cm:srcstat:{<ns>/<source>}      events processed, last event time

One Lua call per webhook decides every alert (firing, duplicate, resolved, ignored);
the hash tag keeps a source's keys in one slot so this works on Redis Cluster.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from .redisbase import RedisBase, wrap

RESOLVED_RETENTION_S = 24 * 3600


@dataclass(frozen=True)
class Claim:
    """One alert of a webhook, as offered to the dedupe decision."""

    fingerprint: str
    status: str
    event_id: str
    alertname: str


_DEDUPE = """
local now, ttl, hist, token = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
local out, emitted = {}, 0
for i = 1, #KEYS - 1 do
  local k = KEYS[i]
  local base = 4 + (i - 1) * 3
  local status, ev, name = ARGV[base + 1], ARGV[base + 2], ARGV[base + 3]
  local cur = redis.call('HGET', k, 'status')
  if status == 'firing' then
    if cur == 'firing' then
      redis.call('HINCRBY', k, 'count', 1)
      redis.call('HSET', k, 'lastSeen', now)
      out[i] = 'duplicate'
    else
      redis.call('DEL', k)
      redis.call('HSET', k, 'status', 'firing', 'since', now, 'lastSeen', now, 'count', 1,
        'event', ev, 'alertname', name, 'token', token)
      redis.call('EXPIRE', k, ttl)
      out[i] = 'firing'
      emitted = emitted + 1
    end
  else
    if cur == 'firing' then
      redis.call('HSET', k, 'status', 'resolved', 'resolvedAt', now, 'lastSeen', now,
        'resolvedEvent', ev, 'token', token)
      redis.call('EXPIRE', k, hist)
      out[i] = 'resolved'
      emitted = emitted + 1
    else
      out[i] = 'ignored'
    end
  end
end
if emitted > 0 then
  local st = KEYS[#KEYS]
  redis.call('HINCRBY', st, 'eventsProcessed', emitted)
  redis.call('HSET', st, 'lastEventTime', now)
end
return out
"""

_UNDO = """
local ttl, token = tonumber(ARGV[1]), ARGV[2]
for i = 1, #KEYS do
  local k = KEYS[i]
  if redis.call('HGET', k, 'token') == token then
    if redis.call('HGET', k, 'status') == 'firing' then
      redis.call('DEL', k)
    else
      redis.call('HSET', k, 'status', 'firing')
      redis.call('HDEL', k, 'resolvedAt', 'resolvedEvent')
      redis.call('EXPIRE', k, ttl)
    end
  end
end
return 1
"""



def fp_key(source: str, fingerprint: str) -> str:
    return f"cm:fp:{{{source}}}:{fingerprint}"


class AlertStore(Protocol):
    async def dedupe(self, source: str, claims: Sequence[Claim], *, max_active_s: int, token: str) -> list[str]: ...
    async def undo_dedupe(self, source: str, fingerprints: Sequence[str], *, max_active_s: int, token: str) -> None: ...
    async def alert_states(self, source: str) -> list[dict[str, str]]: ...
    async def source_stats(self, source: str) -> dict[str, str]: ...


class RedisAlertStore(RedisBase):
    @wrap
    async def dedupe(
        self, source: str, claims: Sequence[Claim], *, max_active_s: int, token: str
    ) -> list[str]:
        """One atomic decision for a whole webhook: firing, duplicate, resolved or ignored."""
        if not claims:
            return []
        keys = [fp_key(source, c.fingerprint) for c in claims] + [f"cm:srcstat:{{{source}}}"]
        args: list[str | int | float] = [time.time(), max_active_s, RESOLVED_RETENTION_S, token]
        for c in claims:
            args += [c.status, c.event_id, c.alertname]
        return [str(x) for x in await self._script(_DEDUPE)(keys=keys, args=args)]

    @wrap
    async def undo_dedupe(
        self, source: str, fingerprints: Sequence[str], *, max_active_s: int, token: str
    ) -> None:
        """Forget claims made by request `token` whose events never reached the broker."""
        if fingerprints:
            keys = [fp_key(source, fp) for fp in fingerprints]
            await self._script(_UNDO)(keys=keys, args=[max_active_s, token])

    @wrap
    async def alert_states(self, source: str) -> list[dict[str, str]]:
        out: list[dict[str, str]] = []
        async for key in self._r.scan_iter(match=f"cm:fp:{{{source}}}:*", count=500):
            state: dict[str, str] = await self._r.hgetall(key)  # type: ignore[assignment]
            if state:
                state.pop("token", None)
                out.append({"fingerprint": key.rsplit(":", 1)[1], **state})
        return out

    @wrap
    async def source_stats(self, source: str) -> dict[str, str]:
        stats: dict[str, str] = await self._r.hgetall(f"cm:srcstat:{{{source}}}")  # type: ignore[assignment]
        return stats
