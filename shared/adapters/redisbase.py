"""The Redis connection every store shares, and the one place redis-py errors are translated.

Connection trouble becomes `Unavailable` (503, retried); any other Redis error a
`CutmanError`. Handlers never see redis exceptions.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Coroutine
from typing import Any, ParamSpec, TypeVar

import redis.asyncio as aioredis
from redis.commands.core import AsyncScript
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from ..errors import CutmanError, Unavailable

MAX_CONNECTIONS = 100
POOL_WAIT_S = 10
P = ParamSpec("P")
T = TypeVar("T")


def wrap(fn: Callable[P, Coroutine[Any, Any, T]]) -> Callable[P, Coroutine[Any, Any, T]]:
    @functools.wraps(fn)
    async def inner(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return await fn(*args, **kwargs)
        except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
            raise Unavailable(f"redis unavailable: {exc}") from None
        except RedisError as exc:
            raise CutmanError(f"redis error: {exc}") from None

    return inner


class RedisBase:
    def __init__(self, url: str) -> None:
        # A blocking pool: past MAX_CONNECTIONS concurrent commands wait for a free
        # connection (up to POOL_WAIT_S) instead of failing at once, as redis-py's default
        # pool does past 100; a burst of webhooks then queues rather than answering 503.
        pool = aioredis.BlockingConnectionPool.from_url(
            url, decode_responses=True, socket_connect_timeout=2, socket_timeout=10,
            health_check_interval=30, max_connections=MAX_CONNECTIONS, timeout=POOL_WAIT_S,
        )
        self._r: aioredis.Redis = aioredis.Redis.from_pool(pool)
        self._scripts: dict[str, AsyncScript] = {}

    def _script(self, source: str) -> AsyncScript:
        """A Lua script, registered once (EVALSHA, falling back to EVAL)."""
        script = self._scripts.get(source)
        if script is None:
            script = self._scripts[source] = self._r.register_script(source)
        return script

    async def close(self) -> None:
        await self._r.aclose()

    async def ping(self) -> bool:
        try:
            return bool(await self._r.ping())
        except (RedisError, OSError):
            return False
