"""Reconciling one changed CR: compile it into Redis, then re-plan its namespace.

Every change re-plans the whole namespace with the pure planner and makes the owned
Triggers exactly the plan, so a missed or reordered event is repaired by the next one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cutman.adapters.cluster import Cluster
from cutman.adapters.store import Store
from cutman.core.planning import plan_triggers
from cutman.errors import BadRequest, Invalid
from cutman.models.manifests import parse_resource
from cutman.models.resources import Kind, Sink, Source, Workflow
from cutman.models.secret import is_secret, secret_data

from .checks import check_resource
from .sources import compile_config


@dataclass
class Reconciler:
    store: Store
    cluster: Cluster

    async def apply(self, body: dict[str, Any]) -> dict[str, Any]:
        if is_secret(body):
            return await self._secret(body)
        res = parse_resource(body, where="event")
        check_resource(res)
        doc = await compile_config(res, secrets=self.store.get_secret)
        kind, meta = Kind(res.kind), res.metadata
        key = f"{meta.namespace}/{meta.name}"
        if isinstance(res, Source) and res.spec.config.path:
            owner = await self.store.set_route(res.spec.config.path, key)
            if owner != key:
                raise Invalid(f"path {res.spec.config.path} is already served by Source {owner}",
                              field="spec.config.path")
            await self.store.drop_routes(key, keep=res.spec.config.path)
        await self.store.put_config(kind.value.lower(), key, doc)
        return await self._replan(meta.namespace, f"{kind.value} {key} configured")

    async def _secret(self, body: dict[str, Any], *, delete: bool = False) -> dict[str, Any]:
        """Local mode keeps Secrets so the same manifests work without a cluster."""
        meta = body.get("metadata") or {}
        if not meta.get("name"):
            raise BadRequest("a Secret needs metadata.name")
        key = f"{meta.get('namespace', 'default')}/{meta['name']}"
        if delete:
            await self.store.delete_secret(key)
            return {"result": f"Secret {key} deleted"}
        await self.store.put_secret(key, secret_data(body, where=f"Secret {key}"))
        return {"result": f"Secret {key} configured"}

    async def delete(self, body: dict[str, Any]) -> dict[str, Any]:
        if is_secret(body):
            return await self._secret(body, delete=True)
        kind, meta = body.get("kind"), body.get("metadata") or {}
        if kind not in {k.value for k in Kind} or not meta.get("name"):
            raise BadRequest("a delete needs kind and metadata.name")
        ns = meta.get("namespace", "default")
        key = f"{ns}/{meta['name']}"
        if kind == Kind.SOURCE:
            await self.store.drop_routes(key)
        await self.store.delete_config(str(kind).lower(), key)
        return await self._replan(ns, f"{kind} {key} deleted")

    async def _replan(self, namespace: str, what: str) -> dict[str, Any]:
        load = self.store.list_configs
        plan = plan_triggers(
            workflows=[Workflow.model_validate(d) for d in await load("workflow", namespace)],
            sources=[Source.model_validate(d) for d in await load("source", namespace)],
            sinks=[Sink.model_validate(d) for d in await load("sink", namespace)],
        )
        deleted = await self.cluster.apply_triggers(namespace, plan.triggers)
        return {
            "result": what,
            "triggers": sorted(plan.names()),
            "deletedTriggers": deleted,
            "problems": {k: list(v) for k, v in plan.problems.items()},
        }
