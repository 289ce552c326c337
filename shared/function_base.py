"""The thin shell every step-like function shares: settings from cfg, Redis, readiness.

Knative func templates call `start(cfg)` with the environment as a dict; settings come
from that dict, never from os.environ, so tests and `cutman dev` configure a function
exactly as a cluster does.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import redis

from . import log as logs
from .adapters.store import RedisStore


@dataclass(frozen=True)
class Settings:
    redis_url: str
    broker_url: str
    body_limit: int

    @classmethod
    def from_cfg(cls, cfg: Mapping[str, str]) -> Settings:
        return cls(
            redis_url=cfg.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
            broker_url=cfg.get("K_SINK", ""),
            body_limit=int(cfg.get("CUTMAN_BODY_LIMIT", str(1024 * 1024))),
        )


class FunctionBase:
    component = "function"

    def __init__(self) -> None:
        self.settings: Settings | None = None
        self._store: RedisStore | None = None

    @property
    def store(self) -> RedisStore:
        assert self._store is not None, "start() was not called"
        return self._store

    def start(self, cfg: Mapping[str, str]) -> None:
        logs.setup(self.component)
        self.settings = Settings.from_cfg(cfg)
        self._store = RedisStore(self.settings.redis_url)

    def stop(self) -> None:
        self._store = None

    def ready(self) -> tuple[bool, str]:
        """Readiness is Redis answering: without it no handler can do anything useful."""
        if self.settings is None:
            return False, "not started"
        try:
            client = redis.Redis.from_url(self.settings.redis_url, socket_timeout=1, socket_connect_timeout=1)
            try:
                client.ping()
            finally:
                client.close()
        except (redis.RedisError, OSError) as exc:
            return False, f"redis unreachable: {type(exc).__name__}"
        return True, "OK"
