"""Compiled config, webhook routes and (local mode) Triggers, written by the reconciler.

    cm:cfg:<kind>:<ns>/<name>       compiled config (JSON)
    cm:routes                       hash: webhook path -> <ns>/<source>
    cm:triggers                     hash: <ns>/<trigger> -> Trigger manifest (local mode)
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



class ConfigStore(Protocol):
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
    async def get_config(self, kind: str, key: str) -> dict[str, Any] | None:
        raw = await self._r.get(f"cm:cfg:{kind}:{key}")
        return json.loads(raw) if raw else None

    @wrap
    async def put_config(self, kind: str, key: str, doc: dict[str, Any]) -> None:
        await self._r.set(f"cm:cfg:{kind}:{key}", json.dumps(doc))

    @wrap
    async def delete_config(self, kind: str, key: str) -> None:
        await self._r.delete(f"cm:cfg:{kind}:{key}")

    @wrap
    async def list_configs(self, kind: str, namespace: str | None = None) -> list[dict[str, Any]]:
        pattern = f"cm:cfg:{kind}:{namespace + '/' if namespace else ''}*"
        keys = sorted([k async for k in self._r.scan_iter(match=pattern, count=500)])
        if not keys:
            return []
        return [json.loads(v) for v in await self._r.mget(keys) if v]

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
