"""The Redis connection every store shares, and the one place redis-py errors are translated.

Connection trouble becomes `Unavailable` (503, retried); any other Redis error a
`CutmanError`. Handlers never see redis exceptions.

`REDIS_URL` picks the client: `redis://` / `rediss://` a single Redis (or a managed
primary), `redis+cluster://` / `rediss+cluster://` redis-py's `RedisCluster` (any node
of the cluster; it discovers the rest). The password comes from `REDIS_PASSWORD` (kept
out of the URL, so it never reaches a log line that prints it) or the URL itself.
Every multi-key command, Lua script and transaction of the stores keeps its keys under
one hash tag, so all of them run unchanged on a cluster.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar, cast

import redis
import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.commands.core import AsyncScript
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from ..errors import CutmanError, Unavailable

DEFAULT_RETENTION_S = 7 * 24 * 3600
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


CLUSTER_SCHEMES = {"redis+cluster": "redis", "rediss+cluster": "rediss"}


@dataclass(frozen=True)
class RedisTarget:
    """Where Redis is: the URL as redis-py takes it, the password, and whether it is a Cluster."""

    url: str
    password: str | None = None
    cluster: bool = False

    @classmethod
    def parse(cls, url: str, password: str | None = None) -> RedisTarget:
        scheme, sep, rest = url.partition("://")
        if sep and scheme in CLUSTER_SCHEMES:
            return cls(f"{CLUSTER_SCHEMES[scheme]}://{rest}", password or None, True)
        return cls(url, password or None, False)


def stale_connection_retry() -> dict[str, Any]:
    """redis-py connection options: a command that meets a dead pooled connection (Redis
    restarted, a proxy dropped it) is sent once more on a fresh one. Only connection
    errors, not timeouts: a timed-out command may have run, and running it twice is not
    safe for every command."""
    return {"retry": Retry(NoBackoff(), 1), "retry_on_error": [RedisConnectionError]}


def async_client(target: RedisTarget) -> aioredis.Redis:
    """The client the stores use. A cluster client is typed as the standalone one: it
    implements the same command methods, and the cluster contract tests run every store
    operation on a real three-node Redis Cluster."""
    common: dict[str, Any] = {"decode_responses": True, "socket_connect_timeout": 2, "socket_timeout": 10}
    if not target.cluster:
        common.update(stale_connection_retry())
    if target.password:
        common["password"] = target.password
    if target.cluster:
        return cast(aioredis.Redis, RedisCluster.from_url(target.url, max_connections=MAX_CONNECTIONS, **common))
    # A blocking pool: past MAX_CONNECTIONS concurrent commands wait for a free
    # connection (up to POOL_WAIT_S) instead of failing at once, as redis-py's default
    # pool does past 100; a burst of webhooks then queues rather than answering 503.
    pool = aioredis.BlockingConnectionPool.from_url(
        target.url, health_check_interval=30, max_connections=MAX_CONNECTIONS, timeout=POOL_WAIT_S, **common,
    )
    return aioredis.Redis.from_pool(pool)


def sync_ping(target: RedisTarget, timeout: float = 1.0) -> None:
    """One PING with a fresh connection (readiness); raises redis/OS errors."""
    opts: dict[str, Any] = {"socket_timeout": timeout, "socket_connect_timeout": timeout}
    if target.password:
        opts["password"] = target.password
    client: redis.Redis | redis.RedisCluster
    if target.cluster:
        client = redis.RedisCluster.from_url(target.url, **opts)
    else:
        client = redis.Redis.from_url(target.url, **opts)
    try:
        client.ping()
    finally:
        client.close()


class RedisBase:
    def __init__(self, url: str, password: str | None = None, *, retention_s: float = DEFAULT_RETENTION_S) -> None:
        self.retention_s = int(retention_s)
        self.target = RedisTarget.parse(url, password)
        self._r: aioredis.Redis = async_client(self.target)
        self._scripts: dict[str, AsyncScript] = {}

    async def _get_each(self, keys: list[str]) -> list[str | None]:
        """GET of independent keys (each run has its own hash tag): one MGET on a single
        Redis; on a Cluster keys of different slots cannot share a command, so redis-py's
        `mget_nonatomic` sends one MGET per slot. A read of unrelated keys needs no atomicity."""
        if not keys:
            return []
        if self.target.cluster:
            return cast(list[str | None], await cast(RedisCluster, self._r).mget_nonatomic(keys))
        return cast(list[str | None], await self._r.mget(keys))

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
