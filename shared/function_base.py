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
from . import metrics
from .adapters.redisbase import DEFAULT_RETENTION_S, RedisTarget, sync_ping
from .adapters.secret_store import SECRET_KEY_CFG
from .adapters.store import RedisStore
from .core.secret_policy import SecretRefused, check_secrets


@dataclass(frozen=True)
class Settings:
    redis_url: str
    broker_url: str
    body_limit: int
    redis_password: str | None = None
    retention_s: float = DEFAULT_RETENTION_S

    @classmethod
    def from_cfg(cls, cfg: Mapping[str, str]) -> Settings:
        return cls(
            redis_url=cfg.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
            broker_url=cfg.get("K_SINK", ""),
            body_limit=int(cfg.get("CUTMAN_BODY_LIMIT", str(1024 * 1024))),
            redis_password=cfg.get("REDIS_PASSWORD") or None,
            retention_s=float(cfg.get("CUTMAN_RUN_RETENTION_SECONDS", str(DEFAULT_RETENTION_S))),
        )


class FunctionBase:
    component = "function"
    needs_approval_key = False
    """Functions that sign or check approval links refuse to start without a good key."""

    def __init__(self) -> None:
        self.settings: Settings | None = None
        self._store: RedisStore | None = None

    @property
    def store(self) -> RedisStore:
        assert self._store is not None, "start() was not called"
        return self._store

    def start(self, cfg: Mapping[str, str]) -> None:
        logs.setup(self.component)
        try:
            check_secrets(cfg, approval_key=self.needs_approval_key)
        except SecretRefused as refused:
            # func-python's server carries on without lifespan when start() raises, which
            # would serve with a forgeable key: log why, then end the process.
            logs.error(logs.get(f"cutman.{self.component}"), str(refused))
            raise SystemExit(3) from None
        metrics.serve(cfg)
        self.settings = Settings.from_cfg(cfg)
        self._store = RedisStore(self.settings.redis_url, self.settings.redis_password,
                                 retention_s=self.settings.retention_s, secret_key=cfg.get(SECRET_KEY_CFG, ""))

    def stop(self) -> None:
        self._store = None

    def ready(self) -> tuple[bool, str]:
        """Readiness is Redis answering: without it no handler can do anything useful."""
        if self.settings is None:
            return False, "not started"
        try:
            sync_ping(RedisTarget.parse(self.settings.redis_url, self.settings.redis_password))
        except (redis.RedisError, OSError) as exc:
            return False, f"redis unreachable: {type(exc).__name__}"
        return True, "OK"
