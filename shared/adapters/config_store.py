"""Compiled config, webhook routes and (local mode) Triggers, written by the reconciler.

    cm:cfg:<kind>                   hash: <ns>/<name> -> compiled config (JSON)
    cm:cfg:synced                   when the reconciler last rebuilt all of it (sentinel)
    cm:cfg:resync                   set while a resync has been asked for (throttle, TTL)
    cm:ask:<name>                   set while request <name> was sent (throttle, TTL)
    cm:routes                       hash: webhook path -> <ns>/<source>
    cm:triggers                     hash: <ns>/<trigger> -> Trigger manifest (local mode)

One hash per kind: a read is one HGET, a namespace's listing one HGETALL of one key, so
nothing here is a multi-key command and all of it runs unchanged on Redis Cluster.

The sentinel tells an empty store ("nothing is configured") from a lost one ("Redis
restarted without its data"): the reconciler sets it at the end of every full resync;
while it is missing, ingest answers 503 (retried) instead of 404 (not retried) and asks
for a resync.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Protocol

from .redisbase import RedisBase, wrap

_ROUTE = """
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if cur and cur ~= ARGV[2] then return cur end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return ARGV[2]
"""



SYNCED = "cm:cfg:synced"
RESYNC_ASKED = "cm:cfg:resync"


def config_key(kind: str) -> str:
    return f"cm:cfg:{kind}"


class ConfigStore(Protocol):
    async def config_synced(self) -> bool: ...
    async def mark_config_synced(self, when: str) -> None: ...
    async def ask_resync(self, ttl_s: int) -> bool: ...
    async def ask_once(self, name: str, ttl_s: int) -> bool: ...
    async def get_config(self, kind: str, key: str) -> dict[str, Any] | None: ...
    async def put_config(self, kind: str, key: str, doc: dict[str, Any]) -> None: ...
    async def delete_config(self, kind: str, key: str) -> None: ...
    async def list_configs(self, kind: str, namespace: str | None = None) -> list[dict[str, Any]]: ...
    async def route(self, path: str) -> str | None: ...
    async def set_route(self, path: str, source: str) -> str: ...
    async def drop_routes(self, source: str, keep: str | None = None) -> list[str]: ...
    async def triggers(self) -> dict[str, dict[str, Any]]: ...
    async def put_triggers(self, upsert: dict[str, dict[str, Any]], delete: Sequence[str]) -> None: ...


class RedisConfigStore(RedisBase):
    @wrap
    async def config_synced(self) -> bool:
        return bool(await self._r.exists(SYNCED))

    @wrap
    async def mark_config_synced(self, when: str) -> None:
        async with self._r.pipeline(transaction=False) as p:
            p.set(SYNCED, when)
            p.delete(RESYNC_ASKED)
            await p.execute()

    @wrap
    async def ask_resync(self, ttl_s: int) -> bool:
        """True for the one caller per `ttl_s` that should send the resync request."""
        return bool(await self._r.set(RESYNC_ASKED, "1", nx=True, ex=ttl_s))

    @wrap
    async def ask_once(self, name: str, ttl_s: int) -> bool:
        """True for the one caller per `ttl_s` that should send request `name` (cm:ask:<name>)."""
        return bool(await self._r.set(f"cm:ask:{name}", "1", nx=True, ex=ttl_s))

    @wrap
    async def get_config(self, kind: str, key: str) -> dict[str, Any] | None:
        raw = await self._r.hget(config_key(kind), key)
        return json.loads(raw) if raw else None

    @wrap
    async def put_config(self, kind: str, key: str, doc: dict[str, Any]) -> None:
        await self._r.hset(config_key(kind), key, json.dumps(doc))

    @wrap
    async def delete_config(self, kind: str, key: str) -> None:
        await self._r.hdel(config_key(kind), key)

    @wrap
    async def list_configs(self, kind: str, namespace: str | None = None) -> list[dict[str, Any]]:
        raw: dict[str, str] = await self._r.hgetall(config_key(kind))  # type: ignore[assignment]
        prefix = f"{namespace}/" if namespace else ""
        return [json.loads(raw[k]) for k in sorted(raw) if k.startswith(prefix)]

    @wrap
    async def route(self, path: str) -> str | None:
        value = await self._r.hget("cm:routes", path)
        return str(value) if value is not None else None

    @wrap
    async def set_route(self, path: str, source: str) -> str:
        """Claim `path` for `source`; returns the owner (another source if taken)."""
        return str(await self._script(_ROUTE)(keys=["cm:routes"], args=[path, source]))

    @wrap
    async def drop_routes(self, source: str, keep: str | None = None) -> list[str]:
        """Free every path `source` serves except `keep`; returns the freed paths."""
        routes = await self._r.hgetall("cm:routes")
        stale = sorted(str(p) for p, owner in routes.items() if owner == source and p != keep)
        if stale:
            await self._r.hdel("cm:routes", *stale)
        return stale

    @wrap
    async def triggers(self) -> dict[str, dict[str, Any]]:
        raw: dict[str, str] = await self._r.hgetall("cm:triggers")  # type: ignore[assignment]
        return {k: json.loads(v) for k, v in raw.items()}

    @wrap
    async def put_triggers(self, upsert: dict[str, dict[str, Any]], delete: Sequence[str]) -> None:
        async with self._r.pipeline(transaction=True) as p:
            if upsert:
                p.hset("cm:triggers", mapping={k: json.dumps(v) for k, v in upsert.items()})
            if delete:
                p.hdel("cm:triggers", *delete)
            await p.execute()
