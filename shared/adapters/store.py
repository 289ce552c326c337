"""The `Store` port (ARCHITECTURE 5) and its Redis implementation, composed by concept.

Each concept lives in its own module: alert lifecycle (alert_store), runs (run_store),
compiled config and routes (config_store), secrets in local mode (secret_store), run and
sink counters (stats_store), sink deliveries in flight and per-sink state (sink_store),
capped streams of run updates, source events and dead letters (event_log). All share one
connection and one error translation
(redisbase).
"""

from __future__ import annotations

import os
from typing import Protocol

from .alert_store import AlertStore, Claim, RedisAlertStore, fp_key
from .config_store import ConfigStore, RedisConfigStore
from .event_log import EventLog, RedisEventLog
from .recovery_store import RecoveryStore, RedisRecoveryStore
from .redisbase import DEFAULT_RETENTION_S
from .run_store import RUN_RETENTION_S, RedisRunStore, RunStore, lease_key, run_key, sink_lease_key
from .secret_store import SECRET_KEY_CFG, RedisSecretStore, Sealer, SecretStore
from .sink_store import RedisSinkStore, SinkStore
from .stats_store import RedisStatsStore, StatsStore

__all__ = [
    "RUN_RETENTION_S", "Claim", "RedisStore", "Store", "fp_key", "lease_key", "run_key", "sink_lease_key",
]


class Store(AlertStore, RunStore, RecoveryStore, ConfigStore, SecretStore, StatsStore, EventLog, SinkStore, Protocol):
    async def ping(self) -> bool: ...
    async def close(self) -> None: ...


class RedisStore(RedisAlertStore, RedisRunStore, RedisRecoveryStore, RedisConfigStore, RedisSecretStore, RedisStatsStore,
                 RedisEventLog, RedisSinkStore):
    """`Store` on Redis (standalone, or Cluster thanks to the hash tags).

    `secret_key` seals local-mode Secrets (secret_store); by default it is read from
    the CUTMAN_SECRET_KEY environment variable, so every process of one `cutman dev`
    (and the tests, which share its environment) read the same Secrets.
    """

    def __init__(self, url: str, password: str | None = None, *, retention_s: float = DEFAULT_RETENTION_S,
                 secret_key: str | None = None) -> None:
        super().__init__(url, password, retention_s=retention_s)
        key = secret_key if secret_key is not None else os.environ.get(SECRET_KEY_CFG, "")
        self.sealer = Sealer(key) if key else None
