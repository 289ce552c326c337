"""The local Redis has a password and private files; local Secrets are sealed inside it.

Real components: redis-server started by cutman's own start_redis (as `cutman dev` and
the tests do), redis-py, and the `cryptography` package's Fernet. No doubles.
"""

from __future__ import annotations

import asyncio
import stat
from pathlib import Path

import pytest
import redis
from cutman.adapters.secret_store import SEALED, new_secret_key
from cutman.adapters.store import RedisStore
from cutman.errors import CutmanError
from cutman.runtime.redis_server import start_redis


def test_local_redis_needs_its_password_and_keeps_files_private(tmp_path: Path) -> None:
    server = start_redis(tmp_path / "r", persist=True)
    try:
        assert server.password and f":{server.password}@" in server.url
        with redis.Redis(port=server.port) as anonymous, pytest.raises(redis.AuthenticationError):
            anonymous.set("k", "v")
        with redis.Redis.from_url(server.url) as client:
            client.set("k", "v")
        files = [p for p in (tmp_path / "r").rglob("*") if p.is_file()]
        assert any(p.name.endswith(".aof") for p in files) and any(p.name == "redis.conf" for p in files)
        assert stat.S_IMODE((tmp_path / "r").stat().st_mode) == 0o700
        assert {p.name: stat.S_IMODE(p.stat().st_mode) for p in files} == {p.name: 0o600 for p in files}
    finally:
        server.stop()
    again = start_redis(tmp_path / "r", port=server.port, persist=True)
    try:
        assert again.url == server.url, "a restart on the same folder keeps the password"
        with redis.Redis.from_url(again.url) as client:
            assert client.get("k") == b"v"
    finally:
        again.stop()


def test_secrets_are_sealed_in_redis(redis_url: str) -> None:
    key = new_secret_key()

    async def go() -> None:
        sealed, plain, wrong = (RedisStore(redis_url, secret_key=key), RedisStore(redis_url, secret_key=""),
                                RedisStore(redis_url, secret_key=new_secret_key()))
        try:
            await sealed.put_secret("ns/db", {"password": "hunter2-sealed"})
            assert await sealed.get_secret("ns/db") == {"password": "hunter2-sealed"}
            assert await sealed.secret_values() == ["hunter2-sealed"]
            for other in (plain, wrong):
                with pytest.raises(CutmanError):
                    await other.get_secret("ns/db")
        finally:
            for s in (sealed, plain, wrong):
                await s.close()

    asyncio.run(go())
    with redis.Redis.from_url(redis_url) as client:
        stored = client.hget("cm:secret:ns/db", "password")
    assert stored is not None and stored.startswith(SEALED.encode()) and b"hunter2" not in stored
