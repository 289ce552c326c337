"""Alert lifecycle per (source, fingerprint), decided atomically for a whole webhook.

    cm:fp:{<ns>/<source>}:<fp>      hash: status, since, lastSeen, count, emitted, event, ...
    cm:srcstat:{<ns>/<source>}      events processed, last event time

One Lua call per webhook decides every alert (firing, duplicate, resolved, ignored);
the hash tag keeps a source's keys in one slot so this works on Redis Cluster.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from .redisbase import RedisBase, wrap

RESOLVED_RETENTION_S = 24 * 3600
_PRIVATE = ("token", "prevToken", "prevEvent", "prevEmitted", "op", "expires")


class Decision(StrEnum):
    FIRING = "firing"
    REPEAT = "repeat"
    DUPLICATE = "duplicate"
    RESOLVED = "resolved"
    IGNORED = "ignored"

    @property
    def emits(self) -> bool:
        return self in (Decision.FIRING, Decision.REPEAT, Decision.RESOLVED)


@dataclass(frozen=True)
class Claim:
    """One alert of a webhook, as offered to the dedupe decision."""

    fingerprint: str
    status: str
    event_id: str
    alertname: str


_DEDUPE = """
local now, ttl, hist, token = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
local rep, always = tonumber(ARGV[5]), ARGV[6] == '1'
local out, emitted = {}, 0
for i = 1, #KEYS - 1 do
  local k = KEYS[i]
  local base = 6 + (i - 1) * 3
  local status, ev, name = ARGV[base + 1], ARGV[base + 2], ARGV[base + 3]
  local cur = redis.call('HGET', k, 'status')
  if status == 'firing' then
    if cur == 'firing' then
      redis.call('HINCRBY', k, 'count', 1)
      redis.call('HSET', k, 'lastSeen', now)
      local last = tonumber(redis.call('HGET', k, 'emitted') or '0') or 0
      if always or (rep > 0 and now - last >= rep) then
        local f = redis.call('HMGET', k, 'emitted', 'event', 'token')
        redis.call('HSET', k, 'prevEmitted', f[1] or '0', 'prevEvent', f[2] or '', 'prevToken', f[3] or '',
          'emitted', now, 'event', ev, 'token', token, 'op', 'repeat')
        redis.call('HINCRBY', k, 'emissions', 1)
        out[i] = 'repeat'
        emitted = emitted + 1
      else
        out[i] = 'duplicate'
      end
    else
      redis.call('DEL', k)
      redis.call('HSET', k, 'status', 'firing', 'since', now, 'lastSeen', now, 'count', 1,
        'emitted', now, 'emissions', 1, 'expires', now + ttl, 'event', ev, 'alertname', name,
        'token', token, 'op', 'firing')
      redis.call('EXPIRE', k, ttl)
      out[i] = 'firing'
      emitted = emitted + 1
    end
  else
    if cur == 'firing' then
      redis.call('HSET', k, 'status', 'resolved', 'resolvedAt', now, 'lastSeen', now,
        'resolvedEvent', ev, 'prevToken', redis.call('HGET', k, 'token') or '', 'token', token,
        'op', 'resolved')
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
local undone = 0
for i = 1, #KEYS - 1 do
  local k = KEYS[i]
  local f = redis.call('HMGET', k, 'token', 'op', 'expires', 'prevEmitted', 'prevEvent', 'prevToken')
  if f[1] == ARGV[1] and f[2] ~= 'undone' then
    undone = undone + 1
    if f[2] == 'firing' then
      redis.call('DEL', k)
    elseif f[2] == 'repeat' then
      redis.call('HSET', k, 'emitted', f[4], 'event', f[5], 'token', f[6], 'op', 'undone')
      redis.call('HINCRBY', k, 'emissions', -1)
    elseif f[2] == 'resolved' then
      redis.call('HSET', k, 'status', 'firing', 'token', f[6], 'op', 'undone')
      redis.call('HDEL', k, 'resolvedAt', 'resolvedEvent')
      redis.call('EXPIREAT', k, math.ceil(tonumber(f[3]) or 0))
    end
  end
end
if undone > 0 then
  redis.call('HINCRBY', KEYS[#KEYS], 'eventsProcessed', -undone)
end
return 1
"""


def fp_key(source: str, fingerprint: str) -> str:
    return f"cm:fp:{{{source}}}:{fingerprint}"


def stat_key(source: str) -> str:
    return f"cm:srcstat:{{{source}}}"


class AlertStore(Protocol):
    async def dedupe(
        self, source: str, claims: Sequence[Claim], *, max_active_s: int, token: str,
        repeat_after_s: int = 0, always: bool = False,
    ) -> list[Decision]: ...
    async def undo_dedupe(self, source: str, fingerprints: Sequence[str], *, token: str) -> None: ...
    async def alert_states(self, source: str) -> list[dict[str, str]]: ...
    async def source_stats(self, source: str) -> dict[str, str]: ...


class RedisAlertStore(RedisBase):
    @wrap
    async def dedupe(
        self, source: str, claims: Sequence[Claim], *, max_active_s: int, token: str,
        repeat_after_s: int = 0, always: bool = False,
    ) -> list[Decision]:
        """One atomic decision for a whole webhook, per claim one of `Decision`.

        `repeat_after_s` re-emits a still-firing alert that long after its last emission;
        `always` re-emits every firing notification (dedupe disabled).
        """
        if not claims:
            return []
        keys = [fp_key(source, c.fingerprint) for c in claims] + [stat_key(source)]
        args: list[str | int | float] = [time.time(), max_active_s, RESOLVED_RETENTION_S, token,
                                         repeat_after_s, int(always)]
        for c in claims:
            args += [c.status, c.event_id, c.alertname]
        return [Decision(str(x)) for x in await self._script(_DEDUPE)(keys=keys, args=args)]

    @wrap
    async def undo_dedupe(self, source: str, fingerprints: Sequence[str], *, token: str) -> None:
        """Take back the claims request `token` made whose events never reached the broker.

        A new firing is forgotten, a repeat or a resolve restores the state before it, and
        the source's eventsProcessed is decremented: nothing claims events that were lost.
        """
        if fingerprints:
            keys = [fp_key(source, fp) for fp in fingerprints] + [stat_key(source)]
            await self._script(_UNDO)(keys=keys, args=[token])

    @wrap
    async def alert_states(self, source: str) -> list[dict[str, str]]:
        out: list[dict[str, str]] = []
        async for key in self._r.scan_iter(match=f"cm:fp:{{{source}}}:*", count=500):
            state: dict[str, str] = await self._r.hgetall(key)  # type: ignore[assignment]
            if state:
                for private in _PRIVATE:
                    state.pop(private, None)
                out.append({"fingerprint": key.rsplit(":", 1)[1], **state})
        return out

    @wrap
    async def source_stats(self, source: str) -> dict[str, str]:
        stats: dict[str, str] = await self._r.hgetall(stat_key(source))  # type: ignore[assignment]
        return stats
