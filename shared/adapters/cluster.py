"""The `Cluster` port: where the reconciler's planned objects (Triggers) live.

`LocalCluster` keeps them in Redis for the dev broker (`cm:triggers`); the Kubernetes
backend (server-side apply with field manager `cutman`) implements the same port. Both
find the objects they own by the `app.kubernetes.io/managed-by: cutman` label.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from ..core.planning import LABEL_MANAGED, MANAGED_BY
from .store import Store


class Cluster(Protocol):
    async def owned_triggers(self, namespace: str) -> dict[str, dict[str, Any]]: ...
    async def apply_triggers(self, namespace: str, triggers: Sequence[dict[str, Any]]) -> list[str]:
        """Make the namespace's owned Triggers exactly `triggers`; return deleted names."""
        ...


class LocalCluster:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def owned_triggers(self, namespace: str) -> dict[str, dict[str, Any]]:
        out = {}
        for trig in (await self.store.triggers()).values():
            meta = trig.get("metadata", {})
            if meta.get("namespace") == namespace and meta.get("labels", {}).get(LABEL_MANAGED) == MANAGED_BY:
                out[meta["name"]] = trig
        return out

    async def apply_triggers(self, namespace: str, triggers: Sequence[dict[str, Any]]) -> list[str]:
        current = await self.owned_triggers(namespace)
        desired = {t["metadata"]["name"]: t for t in triggers}
        stale = sorted(set(current) - set(desired))
        changed = {f"{namespace}/{n}": t for n, t in desired.items() if current.get(n) != t}
        await self.store.put_triggers(changed, [f"{namespace}/{n}" for n in stale])
        return stale
