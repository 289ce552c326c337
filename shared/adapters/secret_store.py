"""Secrets in local mode: what `cutman apply` of a core v1 Secret stores for `cutman dev`.

In a cluster, Secrets stay in Kubernetes and are read by the reconciler (and, for
step environments, mounted or read at run time); this store exists so the same
manifests work on one machine. Values are kept only here, never in run state or logs.

    cm:secret:<ns>/<name>           hash: key -> value
"""

from __future__ import annotations

from typing import Protocol

from .redisbase import RedisBase, wrap


class SecretStore(Protocol):
    async def put_secret(self, key: str, data: dict[str, str]) -> None: ...
    async def delete_secret(self, key: str) -> None: ...
    async def get_secret(self, key: str) -> dict[str, str] | None: ...
    async def secret_values(self) -> list[str]: ...


class RedisSecretStore(RedisBase):
    @wrap
    async def put_secret(self, key: str, data: dict[str, str]) -> None:
        async with self._r.pipeline(transaction=True) as p:
            p.delete(f"cm:secret:{key}")
            if data:
                p.hset(f"cm:secret:{key}", mapping=data)  # type: ignore[arg-type]
            await p.execute()

    @wrap
    async def delete_secret(self, key: str) -> None:
        await self._r.delete(f"cm:secret:{key}")

    @wrap
    async def get_secret(self, key: str) -> dict[str, str] | None:
        data: dict[str, str] = await self._r.hgetall(f"cm:secret:{key}")  # type: ignore[assignment]
        return data or None

    @wrap
    async def secret_values(self) -> list[str]:
        """Every stored secret value: what the API masks in its answers, as a last line."""
        values: list[str] = []
        async for key in self._r.scan_iter(match="cm:secret:*", count=500):
            values += [str(v) for v in await self._r.hvals(key)]
        return values
