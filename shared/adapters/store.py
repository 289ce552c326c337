"""The `Store` port and its Redis implementation (ARCHITECTURE 5).

Keys:
    cm:cfg:<kind>:<ns>/<name>       compiled config written by the reconciler (JSON)
    cm:routes                       hash: webhook path -> <ns>/<source>
    cm:triggers                     hash: <ns>/<trigger> -> Trigger manifest (local mode)
    cm:fp:{<ns>/<source>}:<fp>      alert lifecycle (hash), decided by one Lua call per webhook
    cm:srcstat:{<ns>/<source>}      events processed, last event time
    cm:run:{<id>}                   the run (JSON), with :lease:<step> and :sinks beside it
    cm:runs, cm:runs:<ns>/<wf>      sorted sets of run ids by start time

Every redis-py error is translated here: connection trouble becomes `Unavailable`
(503, retried), anything else a `CutmanError`. Handlers never see redis exceptions.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, ParamSpec, Protocol, TypeVar

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from ..errors import CutmanError, Unavailable
from ..models.run import Run

P = ParamSpec("P")
T = TypeVar("T")

RUN_RETENTION_S = 7 * 24 * 3600
RESOLVED_RETENTION_S = 24 * 3600


def _wrap(fn: Callable[P, Coroutine[Any, Any, T]]) -> Callable[P, Coroutine[Any, Any, T]]:
    @functools.wraps(fn)
    async def inner(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return await fn(*args, **kwargs)
        except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
            raise Unavailable(f"redis unavailable: {exc}") from None
        except RedisError as exc:
            raise CutmanError(f"redis error: {exc}") from None

    return inner


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

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

_ROUTE = """
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if cur and cur ~= ARGV[2] then return cur end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return ARGV[2]
"""


def fp_key(source: str, fingerprint: str) -> str:
    return f"cm:fp:{{{source}}}:{fingerprint}"


def run_key(run_id: str) -> str:
    return f"cm:run:{{{run_id}}}"


class Store(Protocol):
    async def ping(self) -> bool: ...
    async def close(self) -> None: ...
    async def get_config(self, kind: str, key: str) -> dict[str, Any] | None: ...
    async def put_config(self, kind: str, key: str, doc: dict[str, Any]) -> None: ...
    async def delete_config(self, kind: str, key: str) -> None: ...
    async def list_configs(self, kind: str, namespace: str | None = None) -> list[dict[str, Any]]: ...
    async def route(self, path: str) -> str | None: ...
    async def set_route(self, path: str, source: str) -> str: ...
    async def drop_routes(self, source: str, keep: str | None = None) -> None: ...
    async def dedupe(self, source: str, claims: Sequence[Claim], *, max_active_s: int, token: str) -> list[str]: ...
    async def undo_dedupe(self, source: str, fingerprints: Sequence[str], *, max_active_s: int, token: str) -> None: ...
    async def alert_states(self, source: str) -> list[dict[str, str]]: ...
    async def source_stats(self, source: str) -> dict[str, str]: ...
    async def create_run(self, run: Run) -> bool: ...
    async def get_run(self, run_id: str) -> Run | None: ...
    async def save_run(self, run: Run) -> None: ...
    async def list_runs(self, *, workflow: str | None = None, limit: int = 50) -> list[Run]: ...
    async def acquire(self, name: str, token: str, ttl_s: float) -> bool: ...
    async def release(self, name: str, token: str) -> None: ...
    async def record_sink(self, run_id: str, sink: str, record: dict[str, Any]) -> None: ...
    async def sink_records(self, run_id: str) -> dict[str, dict[str, Any]]: ...
    async def triggers(self) -> dict[str, dict[str, Any]]: ...
    async def put_triggers(self, upsert: dict[str, dict[str, Any]], delete: Sequence[str]) -> None: ...


class RedisStore:
    """`Store` on Redis (standalone, or Cluster thanks to the hash tags)."""

    def __init__(self, url: str) -> None:
        self._r: aioredis.Redis = aioredis.Redis.from_url(
            url, decode_responses=True, socket_connect_timeout=2, socket_timeout=10,
            health_check_interval=30,
        )
        self._dedupe = self._r.register_script(_DEDUPE)
        self._undo = self._r.register_script(_UNDO)
        self._release = self._r.register_script(_RELEASE)
        self._route = self._r.register_script(_ROUTE)

    async def close(self) -> None:
        await self._r.aclose()

    async def ping(self) -> bool:
        try:
            return bool(await self._r.ping())
        except (RedisError, OSError):
            return False

    # --- compiled config ------------------------------------------------------

    @_wrap
    async def get_config(self, kind: str, key: str) -> dict[str, Any] | None:
        raw = await self._r.get(f"cm:cfg:{kind}:{key}")
        return json.loads(raw) if raw else None

    @_wrap
    async def put_config(self, kind: str, key: str, doc: dict[str, Any]) -> None:
        await self._r.set(f"cm:cfg:{kind}:{key}", json.dumps(doc))

    @_wrap
    async def delete_config(self, kind: str, key: str) -> None:
        await self._r.delete(f"cm:cfg:{kind}:{key}")

    @_wrap
    async def list_configs(self, kind: str, namespace: str | None = None) -> list[dict[str, Any]]:
        pattern = f"cm:cfg:{kind}:{namespace + '/' if namespace else ''}*"
        keys = sorted([k async for k in self._r.scan_iter(match=pattern, count=500)])
        if not keys:
            return []
        return [json.loads(v) for v in await self._r.mget(keys) if v]

    @_wrap
    async def route(self, path: str) -> str | None:
        value = await self._r.hget("cm:routes", path)
        return str(value) if value is not None else None

    @_wrap
    async def set_route(self, path: str, source: str) -> str:
        """Claim `path` for `source`; returns the owner (another source if taken)."""
        return str(await self._route(keys=["cm:routes"], args=[path, source]))

    @_wrap
    async def drop_routes(self, source: str, keep: str | None = None) -> None:
        routes = await self._r.hgetall("cm:routes")
        stale = [p for p, owner in routes.items() if owner == source and p != keep]
        if stale:
            await self._r.hdel("cm:routes", *stale)

    # --- alert lifecycle --------------------------------------------------------

    @_wrap
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
        return [str(x) for x in await self._dedupe(keys=keys, args=args)]

    @_wrap
    async def undo_dedupe(
        self, source: str, fingerprints: Sequence[str], *, max_active_s: int, token: str
    ) -> None:
        """Forget claims made by request `token` whose events never reached the broker."""
        if fingerprints:
            keys = [fp_key(source, fp) for fp in fingerprints]
            await self._undo(keys=keys, args=[max_active_s, token])

    @_wrap
    async def alert_states(self, source: str) -> list[dict[str, str]]:
        out: list[dict[str, str]] = []
        async for key in self._r.scan_iter(match=f"cm:fp:{{{source}}}:*", count=500):
            state: dict[str, str] = await self._r.hgetall(key)  # type: ignore[assignment]
            if state:
                state.pop("token", None)
                out.append({"fingerprint": key.rsplit(":", 1)[1], **state})
        return out

    @_wrap
    async def source_stats(self, source: str) -> dict[str, str]:
        stats: dict[str, str] = await self._r.hgetall(f"cm:srcstat:{{{source}}}")  # type: ignore[assignment]
        return stats

    # --- runs ---------------------------------------------------------------------

    @_wrap
    async def create_run(self, run: Run) -> bool:
        created = await self._r.set(run_key(run.id), run.to_json(), nx=True, ex=RUN_RETENTION_S)
        if created:
            score = time.time()
            async with self._r.pipeline(transaction=False) as p:
                p.zadd("cm:runs", {run.id: score})
                p.zadd(f"cm:runs:{run.workflow}", {run.id: score})
                await p.execute()
        return bool(created)

    @_wrap
    async def get_run(self, run_id: str) -> Run | None:
        raw = await self._r.get(run_key(run_id))
        return Run.from_json(raw) if raw else None

    @_wrap
    async def save_run(self, run: Run) -> None:
        await self._r.set(run_key(run.id), run.to_json(), ex=RUN_RETENTION_S)

    @_wrap
    async def list_runs(self, *, workflow: str | None = None, limit: int = 50) -> list[Run]:
        index = f"cm:runs:{workflow}" if workflow else "cm:runs"
        ids: list[str] = await self._r.zrevrange(index, 0, limit - 1)  # type: ignore[assignment]
        if not ids:
            return []
        raws = await self._r.mget([run_key(i) for i in ids])
        return [Run.from_json(r) for r in raws if r]

    @_wrap
    async def acquire(self, name: str, token: str, ttl_s: float) -> bool:
        return bool(await self._r.set(name, token, nx=True, px=max(1, int(ttl_s * 1000))))

    @_wrap
    async def release(self, name: str, token: str) -> None:
        await self._release(keys=[name], args=[token])

    @_wrap
    async def record_sink(self, run_id: str, sink: str, record: dict[str, Any]) -> None:
        key = f"{run_key(run_id)}:sinks"
        async with self._r.pipeline(transaction=True) as p:
            p.hset(key, sink, json.dumps(record))
            p.expire(key, RUN_RETENTION_S)
            await p.execute()

    @_wrap
    async def sink_records(self, run_id: str) -> dict[str, dict[str, Any]]:
        raw: dict[str, str] = await self._r.hgetall(f"{run_key(run_id)}:sinks")  # type: ignore[assignment]
        return {k: json.loads(v) for k, v in raw.items()}

    # --- triggers (local mode backend) -------------------------------------------

    @_wrap
    async def triggers(self) -> dict[str, dict[str, Any]]:
        raw: dict[str, str] = await self._r.hgetall("cm:triggers")  # type: ignore[assignment]
        return {k: json.loads(v) for k, v in raw.items()}

    @_wrap
    async def put_triggers(self, upsert: dict[str, dict[str, Any]], delete: Sequence[str]) -> None:
        async with self._r.pipeline(transaction=True) as p:
            if upsert:
                p.hset("cm:triggers", mapping={k: json.dumps(v) for k, v in upsert.items()})
            if delete:
                p.hdel("cm:triggers", *delete)
            await p.execute()


def lease_key(run_id: str, step: str) -> str:
    return f"{run_key(run_id)}:lease:{step}"


def sink_lease_key(run_id: str, sink: str) -> str:
    return f"{run_key(run_id)}:sinklease:{sink}"
