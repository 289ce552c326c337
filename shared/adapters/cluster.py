"""The `Cluster` port: where the reconciler's planned objects live, and CR status goes.

`LocalCluster` keeps Triggers in Redis for the dev broker (`cm:triggers`);
`cutman.adapters.kube.KubeCluster` implements the same port on the Kubernetes API
(server-side apply with field manager `cutman`). Every planned object lives in the
installation namespace (`namespace`); both find the objects planned for one CR
namespace by the labels `app.kubernetes.io/managed-by: cutman` and
`cutman.dev/namespace: <ns>`, and both are fed by the same pure planner, so `cutman dev`
and a cluster build identical Triggers. Object keys are `Kind/name`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from ..core.labels import LABEL_MANAGED, LABEL_NAMESPACE, MANAGED_BY
from ..core.namespaces import DEFAULT_NAMESPACE
from ..models.kinds import Kind
from .store import Store

TRIGGER = "Trigger"


def object_key(obj: Mapping[str, Any]) -> str:
    return f"{obj['kind']}/{obj['metadata']['name']}"


def is_owned(obj: Mapping[str, Any], scope: str | None = None) -> bool:
    """cutman planned it (for CR namespace `scope`, when given)."""
    labels = (obj.get("metadata") or {}).get("labels") or {}
    if scope is not None and labels.get(LABEL_NAMESPACE) != scope:
        return False
    return bool(labels.get(LABEL_MANAGED) == MANAGED_BY)


class Cluster(Protocol):
    namespace: str
    """The installation namespace, where every planned object lives."""
    mirrors_secrets: bool
    """Whether Secrets a Workflow refers to must be copied into Redis for the steps
    (true in a cluster, where they live in the API; local Secrets already are there)."""

    async def owned(self, scope: str) -> dict[str, dict[str, Any]]:
        """The objects cutman planned for CR namespace `scope`, by `Kind/name`."""
        ...

    async def apply_objects(self, scope: str, objects: Sequence[dict[str, Any]]) -> list[str]:
        """Make the objects planned for CR namespace `scope` exactly `objects` (all in the
        installation namespace); return deleted keys."""
        ...

    async def patch_status(self, kind: Kind, namespace: str, name: str, status: dict[str, Any]) -> None:
        """Merge `status` into the CR's status (missing CRs are ignored)."""
        ...

    async def list_resources(self, kind: Kind, namespace: str | None) -> list[dict[str, Any]] | None:
        """The CRs of a kind as the API has them (in one namespace, or all), for a resync;
        None where the compiled config in Redis is the only record (local mode)."""
        ...

    async def read_secret(self, namespace: str, name: str) -> dict[str, str] | None:
        """A Secret's decoded data, or None when it does not exist."""
        ...


class LocalCluster:
    """Local mode: Triggers in Redis for the dev broker; status kept in the compiled config.

    Only Triggers have a local form: other planned kinds (PingSource, ApiServerSource) are
    left to the cluster, and skipped here."""

    mirrors_secrets = False

    def __init__(self, store: Store, namespace: str = DEFAULT_NAMESPACE) -> None:
        self.store = store
        self.namespace = namespace

    async def owned(self, scope: str) -> dict[str, dict[str, Any]]:
        out = {}
        for trig in (await self.store.triggers()).values():
            if (trig.get("metadata") or {}).get("namespace") == self.namespace and is_owned(trig, scope):
                out[object_key(trig)] = trig
        return out

    async def apply_objects(self, scope: str, objects: Sequence[dict[str, Any]]) -> list[str]:
        objects = [o for o in objects if o["kind"] == TRIGGER]
        current = await self.owned(scope)
        desired = {object_key(o): o for o in objects}
        stale = sorted(set(current) - set(desired))
        ns = self.namespace
        changed = {f"{ns}/{o['metadata']['name']}": o for k, o in desired.items() if current.get(k) != o}
        names = [f"{ns}/{k.split('/', 1)[1]}" for k in stale]
        await self.store.put_triggers(changed, names)
        return stale

    async def patch_status(self, kind: Kind, namespace: str, name: str, status: dict[str, Any]) -> None:
        key = f"{namespace}/{name}"
        doc = await self.store.get_config(kind.value.lower(), key)
        if doc is None:
            return
        merged = {**(doc.get("status") or {}), **status}
        if merged != doc.get("status"):
            await self.store.put_config(kind.value.lower(), key, {**doc, "status": merged})

    async def list_resources(self, kind: Kind, namespace: str | None) -> list[dict[str, Any]] | None:
        return None

    async def read_secret(self, namespace: str, name: str) -> dict[str, str] | None:
        return await self.store.get_secret(f"{namespace}/{name}")
