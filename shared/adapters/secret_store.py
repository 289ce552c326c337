"""Secrets in local mode: what `cutman apply` of a core v1 Secret stores for `cutman dev`.

In a cluster, Secrets stay in Kubernetes and are read by the reconciler (and, for
step environments, mounted or read at run time); this store exists so the same
manifests work on one machine. Values are kept only here, never in run state or logs.

    cm:secret:<ns>/<name>           hash: key -> sealed value

With a key (`CUTMAN_SECRET_KEY`, which `cutman dev` keeps in its state folder, 0600)
values are sealed with Fernet (AES-128-CBC + HMAC-SHA256, the `cryptography` package)
before they reach Redis, so a copy of the Redis data or its AOF does not reveal them.
Without a key they are stored as given (a `cm1:` prefix tells sealed values apart).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from ..errors import CutmanError
from .redisbase import RedisBase, wrap

if TYPE_CHECKING:
    from cryptography.fernet import Fernet

SEALED = "cm1:"
SECRET_KEY_CFG = "CUTMAN_SECRET_KEY"


def new_secret_key() -> str:
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode()


class Sealer:
    """Fernet over one key. `cryptography` is imported here, not with the module: only a
    process given a key (local mode) pays its import, not every function's cold start."""

    def __init__(self, key: str) -> None:
        from cryptography.fernet import Fernet

        try:
            self._fernet: Fernet = Fernet(key.encode())
        except ValueError:
            raise ValueError(f"{SECRET_KEY_CFG} must be 32 url-safe base64-encoded bytes") from None

    def seal(self, value: str) -> str:
        return SEALED + self._fernet.encrypt(value.encode("utf-8", "surrogatepass")).decode()

    def open(self, value: str) -> str:
        from cryptography.fernet import InvalidToken

        try:
            return self._fernet.decrypt(value[len(SEALED):].encode()).decode("utf-8", "surrogatepass")
        except InvalidToken:
            raise CutmanError(f"a stored secret cannot be opened with this {SECRET_KEY_CFG}") from None


class SecretStore(Protocol):
    async def put_secret(self, key: str, data: dict[str, str]) -> None: ...
    async def delete_secret(self, key: str) -> None: ...
    async def get_secret(self, key: str) -> dict[str, str] | None: ...
    async def secret_values(self) -> list[str]: ...


class RedisSecretStore(RedisBase):
    sealer: Sealer | None = None

    def _open(self, value: str) -> str:
        if not value.startswith(SEALED):
            return value
        if self.sealer is None:
            raise CutmanError(f"stored secrets are sealed: set {SECRET_KEY_CFG} to read them")
        return self.sealer.open(value)

    @wrap
    async def put_secret(self, key: str, data: dict[str, str]) -> None:
        sealed = {k: self.sealer.seal(v) for k, v in data.items()} if self.sealer else data
        async with self._r.pipeline(transaction=True) as p:
            p.delete(f"cm:secret:{key}")
            if sealed:
                p.hset(f"cm:secret:{key}", mapping=sealed)  # type: ignore[arg-type]
            await p.execute()

    @wrap
    async def delete_secret(self, key: str) -> None:
        await self._r.delete(f"cm:secret:{key}")

    @wrap
    async def get_secret(self, key: str) -> dict[str, str] | None:
        data: dict[str, str] = await self._r.hgetall(f"cm:secret:{key}")  # type: ignore[assignment]
        return {k: self._open(v) for k, v in data.items()} or None

    @wrap
    async def secret_values(self) -> list[str]:
        """Every stored secret value: what the API masks in its answers, as a last line."""
        values: list[str] = []
        async for key in self._r.scan_iter(match="cm:secret:*", count=500):
            values += [self._open(str(v)) for v in await self._r.hvals(key)]
        return values
