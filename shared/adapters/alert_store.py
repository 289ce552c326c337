"""Alert lifecycle per (source, fingerprint), decided atomically for a whole webhook.

    cm:fp:{<ns>/<source>}:<fp>      hash: status, since, lastSeen, count, emitted, event,
                                    pending (claim time until the broker took the event)
    cm:srcstat:{<ns>/<source>}      eventsProcessed, lastEventTime
    cm:srcev:{<ns>/<source>}        stream: the events emitted (written by confirm, see event_log)

One Lua call per webhook decides every alert; the hash tag keeps a source's keys in one
slot so this works on Redis Cluster.

No alert is lost when Redis or the broker fails halfway: a claim stays *pending* until
`confirm` records that the broker accepted its event. A pending claim whose request
failed (undone, or never confirmed within `lease_s`) is emitted again by the next
notification **with the same event id**, so the run it starts is the one a redelivery
would find (runs are keyed by event id). A notification that meets a claim another
request has in flight gets `inflight`, and ingest answers 503 so the sender retries.

The same machine in plain Python is cutman.core.dedupe_machine; a property test keeps
the two in agreement (tests/integration/test_dedupe_model.py).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from .event_log import SOURCE_EVENTS_MAXLEN, source_events_key
from .redisbase import RedisBase, wrap

RESOLVED_RETENTION_S = 24 * 3600
DEFAULT_LEASE_S = 15
_PRIVATE = ("token", "pending")


class Decision(StrEnum):
    FIRING = "firing"
    REPEAT = "repeat"
    DUPLICATE = "duplicate"
    RESOLVED = "resolved"
    IGNORED = "ignored"
    INFLIGHT = "inflight"

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


@dataclass(frozen=True)
class Verdict:
    """The decision for one claim, and the id its event must carry (a re-emission keeps the first)."""

    decision: Decision
    event_id: str


_DEDUPE = """
local now, ttl, hist, token = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
local rep, always, lease = tonumber(ARGV[5]), ARGV[6] == '1', tonumber(ARGV[7])
local claims = cjson.decode(ARGV[8])
local out = {}
for i = 1, #KEYS do
  local k = KEYS[i]
  local status, ev, name = claims[i][1], claims[i][2], claims[i][3]
  local f = redis.call('HMGET', k, 'status', 'pending', 'emitted', 'event', 'resolvedEvent', 'token')
  local cur, pending, mine = f[1], tonumber(f[2]), f[6] == token
  if status == 'firing' then
    if cur == 'firing' then
      redis.call('HINCRBY', k, 'count', 1)
      redis.call('HSET', k, 'lastSeen', now)
      if pending and mine then
        out[i] = {'duplicate', f[4]}
      elseif pending and now - pending < lease then
        out[i] = {'inflight', f[4]}
      elseif pending then
        redis.call('HSET', k, 'pending', now, 'token', token)
        out[i] = {'firing', f[4]}
      elseif always or (rep > 0 and now - (tonumber(f[3]) or 0) >= rep) then
        redis.call('HSET', k, 'emitted', now, 'event', ev, 'token', token, 'pending', now)
        redis.call('HINCRBY', k, 'emissions', 1)
        out[i] = {'repeat', ev}
      else
        out[i] = {'duplicate', f[4]}
      end
    else
      redis.call('DEL', k)
      redis.call('HSET', k, 'status', 'firing', 'since', now, 'lastSeen', now, 'count', 1,
        'emitted', now, 'emissions', 1, 'event', ev, 'alertname', name, 'token', token, 'pending', now)
      redis.call('EXPIRE', k, ttl)
      out[i] = {'firing', ev}
    end
  else
    if cur == 'firing' then
      redis.call('HSET', k, 'status', 'resolved', 'resolvedAt', now, 'lastSeen', now,
        'resolvedEvent', ev, 'token', token, 'pending', now)
      redis.call('EXPIRE', k, hist)
      out[i] = {'resolved', ev}
    elseif cur == 'resolved' and pending and mine then
      out[i] = {'ignored', ''}
    elseif cur == 'resolved' and pending and now - pending < lease then
      out[i] = {'inflight', f[5]}
    elseif cur == 'resolved' and pending then
      redis.call('HSET', k, 'pending', now, 'token', token)
      out[i] = {'resolved', f[5]}
    else
      out[i] = {'ignored', ''}
    end
  end
end
return cjson.encode(out)
"""

_SETTLE = """
local n, confirm, nfp = 0, ARGV[2] == '1', #KEYS - 2
for i = 1, nfp do
  local k = KEYS[i]
  if redis.call('HGET', k, 'token') == ARGV[1] and redis.call('HEXISTS', k, 'pending') == 1 then
    if confirm then
      redis.call('HDEL', k, 'pending')
      n = n + 1
    else
      redis.call('HSET', k, 'pending', 0)
    end
  end
end
local stat, log = KEYS[nfp + 1], KEYS[nfp + 2]
if n > 0 then
  redis.call('HINCRBY', stat, 'eventsProcessed', n)
  redis.call('HSET', stat, 'lastEventTime', ARGV[3])
end
local width = tonumber(ARGV[5]) * 2
if width > 0 then
  for j = 6, #ARGV, width do
    redis.call('XADD', log, 'MAXLEN', '~', ARGV[4], '*', unpack(ARGV, j, j + width - 1))
  end
end
return n
"""


def fp_key(source: str, fingerprint: str) -> str:
    return f"cm:fp:{{{source}}}:{fingerprint}"


def stat_key(source: str) -> str:
    return f"cm:srcstat:{{{source}}}"


class AlertStore(Protocol):
    async def dedupe(
        self, source: str, claims: Sequence[Claim], *, max_active_s: int, token: str,
        repeat_after_s: int = 0, always: bool = False, lease_s: float = DEFAULT_LEASE_S,
        now: float | None = None,
    ) -> list[Verdict]: ...
    async def confirm_dedupe(
        self, source: str, fingerprints: Sequence[str], *, token: str, events: Sequence[Mapping[str, str]] = (),
    ) -> int: ...
    async def undo_dedupe(self, source: str, fingerprints: Sequence[str], *, token: str) -> None: ...
    async def count_events(self, source: str, n: int) -> None: ...
    async def alert_states(self, source: str) -> list[dict[str, str]]: ...
    async def source_stats(self, source: str) -> dict[str, str]: ...


class RedisAlertStore(RedisBase):
    @wrap
    async def dedupe(
        self, source: str, claims: Sequence[Claim], *, max_active_s: int, token: str,
        repeat_after_s: int = 0, always: bool = False, lease_s: float = DEFAULT_LEASE_S,
        now: float | None = None,
    ) -> list[Verdict]:
        """One atomic decision for a whole webhook, one `Verdict` per claim.

        `repeat_after_s` re-emits a still-firing alert that long after its last emission;
        `always` re-emits every firing notification (dedupe disabled); `lease_s` is how long
        another request's unconfirmed claim is left to it before being emitted again; `now`
        (epoch seconds, default the clock) lets the model test drive time.
        """
        if not claims:
            return []
        keys = [fp_key(source, c.fingerprint) for c in claims]
        at = time.time() if now is None else now
        # The claims go as one JSON argument and the verdicts come back as one JSON string:
        # for a 50-alert webhook, packing and parsing 150 arguments and 50 nested replies
        # cost redis-py more than the script's work.
        batch = json.dumps([[c.status, c.event_id, c.alertname] for c in claims], separators=(",", ":"))
        args: list[str | int | float] = [at, max_active_s, RESOLVED_RETENTION_S, token, repeat_after_s,
                                         int(always), lease_s, batch]
        raw = await self._script(_DEDUPE)(keys=keys, args=args)
        return [Verdict(Decision(d), e) for d, e in json.loads(raw)]

    async def _settle(
        self, source: str, fingerprints: Sequence[str], *, token: str, confirm: bool,
        events: Sequence[Mapping[str, str]] = (),
    ) -> int:
        if not fingerprints:
            return 0
        keys = [fp_key(source, fp) for fp in fingerprints] + [stat_key(source), source_events_key(source)]
        fields = list(events[0]) if events else []
        args: list[str | int | float] = [token, int(confirm), time.time(), SOURCE_EVENTS_MAXLEN, len(fields)]
        for e in events:
            if list(e) != fields:
                raise ValueError("every source event record must have the same fields, in the same order")
            for name in fields:
                args += [name, e[name]]
        return int(await self._script(_SETTLE)(keys=keys, args=args))

    @wrap
    async def confirm_dedupe(
        self, source: str, fingerprints: Sequence[str], *, token: str, events: Sequence[Mapping[str, str]] = (),
    ) -> int:
        """The broker accepted the events of request `token`: its claims are settled and counted
        (how many were still its own), and `events` (what the API lists as the Source's
        events, `cm:srcev`: ids and names, never bodies) are recorded in the same call."""
        return await self._settle(source, fingerprints, token=token, confirm=True, events=events)

    @wrap
    async def undo_dedupe(self, source: str, fingerprints: Sequence[str], *, token: str) -> None:
        """The broker refused the events of request `token`: the next notification re-emits them."""
        await self._settle(source, fingerprints, token=token, confirm=False)

    @wrap
    async def count_events(self, source: str, n: int) -> None:
        """Source status for events that need no dedupe (api, schedule, kubernetes Sources)."""
        async with self._r.pipeline(transaction=True) as p:
            p.hincrby(stat_key(source), "eventsProcessed", n)
            p.hset(stat_key(source), "lastEventTime", str(time.time()))
            await p.execute()

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
