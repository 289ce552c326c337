"""reconciler: ApiServerSource events for Source, Workflow and Sink in; Triggers, compiled
config and CR status out. `run.finished` events keep each Workflow's last run current.

`CUTMAN_CLUSTER` picks the backend: `local` (default; Triggers in Redis for the dev broker)
or `kubernetes` (server-side apply through the API; a full resync of `CUTMAN_NAMESPACES`,
or of every namespace when that is unset, runs when the process starts, so a cold start
repairs whatever events were missed). Planned objects go to the installation namespace
`CUTMAN_NAMESPACE` (default `cutman`); CRs outside `CUTMAN_NAMESPACES` (when set) are
ignored.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from cloudevents.core.v1.event import CloudEvent
from cutman import clock, metrics
from cutman import log as logs
from cutman.adapters.cluster import Cluster, LocalCluster
from cutman.adapters.local_record import LocalRecord
from cutman.asgi import Receive, Scope, raw_send, respond_error, respond_json
from cutman.core.namespaces import installation_namespace, watched_namespaces
from cutman.core.writer_routing import writers_enabled
from cutman.errors import BadRequest, CutmanError
from cutman.function_base import FunctionBase
from cutman.models.cloudevent import data_dict, ext
from cutman.models.events import EventType, Ext

from .housekeeping import schedule_housekeeping

if TYPE_CHECKING:
    from .reconcile import Reconciler

logger = logs.get("cutman.reconciler")


class Backend(StrEnum):
    LOCAL = "local"
    KUBERNETES = "kubernetes"


def make_cluster(cfg: Mapping[str, str], store: Any) -> Cluster:
    backend = cfg.get("CUTMAN_CLUSTER", Backend.LOCAL.value)
    namespace = installation_namespace(cfg)
    if backend == Backend.LOCAL:
        return LocalCluster(store, namespace)
    if backend == Backend.KUBERNETES:
        from cutman.adapters.kube import KubeCluster, api_client

        return KubeCluster(api_client(cfg), namespace)
    raise ValueError(f"CUTMAN_CLUSTER must be local or kubernetes, not {backend!r}")


class ReconcilerFunction(FunctionBase):
    component = "reconciler"

    def start(self, cfg: Mapping[str, str]) -> None:
        super().start(cfg)
        self.cluster = make_cluster(cfg, self.store)
        self.namespaces = watched_namespaces(cfg)
        self.step_writers = writers_enabled(cfg)
        self._reconciler: Reconciler | None = None
        self.kubernetes = cfg.get("CUTMAN_CLUSTER") == Backend.KUBERNETES
        self.installation = installation_namespace(cfg)
        self.record = None if self.kubernetes else LocalRecord.from_cfg(cfg)
        self.resynced: asyncio.Task[None] | None = asyncio.get_running_loop().create_task(self._resync())

    @property
    def reconciler(self) -> Reconciler:
        """Made on first use: its module brings the resource models, the checks (templates,
        tools, sink plugins) and the planning, which readiness does not need."""
        if self._reconciler is None:
            from .reconcile import Reconciler

            self._reconciler = Reconciler(self.store, self.cluster, self.namespaces, step_writers=self.step_writers)
        return self._reconciler

    async def _resync(self) -> None:
        """At start: a cluster always resyncs (a cold start repairs missed events); local
        mode replays its record only when the compiled config is missing."""
        try:
            if self.kubernetes or not await self.store.config_synced():
                result = await self.resync()
                logs.info(logger, "resynced", **result)
            if self.kubernetes:
                await schedule_housekeeping(self.store, self.cluster, self.installation)
        except CutmanError as err:
            logs.warning(logger, "resync failed; events will repair", reason=err.message)

    async def resync(self) -> dict[str, Any]:
        """Rebuild the compiled config from the CRs (the API, or local mode's record), then
        mark it complete so ingest answers 404 again for unknown paths."""
        if self.kubernetes:
            done = await self.reconciler.resync(self.namespaces)
            result: dict[str, Any] = {"result": "resynced", "namespaces": sorted(done)}
        else:
            replayed, refused = 0, []
            for body in self.record.bodies() if self.record else []:
                try:
                    await self.reconciler.apply(body)
                    replayed += 1
                except CutmanError as err:
                    refused.append(f"{body.get('kind')} {(body.get('metadata') or {}).get('name')}: {err.message}")
            result = {"result": "resynced", "replayed": replayed, "refused": refused}
        await self.store.mark_config_synced(clock.now())
        return result

    async def handle(self, scope: Scope, receive: Receive, send: Any) -> None:
        out = raw_send(send)
        event: CloudEvent | None = scope.get("event")
        try:
            if event is None:
                raise BadRequest("expected an ApiServerSource CloudEvent")
            with logs.bind(event=event.get_id(), type=event.get_type()):
                result = await self.dispatch(event)
                logs.info(logger, "reconciled", **result)
        except CutmanError as err:
            logs.warning(logger, "reconcile refused", status=err.status, reason=err.message)
            _count(event, "refused" if err.status < 500 else "retried")
            await respond_error(out, err)
            return
        except Exception:
            _count(event, "error")
            logger.exception("reconcile failed")
            await respond_json(out, 500, {"error": "internal", "message": "reconcile failed; will be retried"})
            return
        _count(event, "ok")
        await respond_json(out, 200, result)


    async def dispatch(self, event: CloudEvent) -> dict[str, Any]:
        kind = event.get_type()
        if kind == EventType.RUN_FINISHED:
            result = await self.reconciler.run_finished(
                workflow=ext(event, Ext.WORKFLOW) or "", run=ext(event, Ext.RUN) or "",
                phase=ext(event, Ext.PHASE) or "",
            )
            if self.kubernetes:
                await schedule_housekeeping(self.store, self.cluster, self.installation)
            return result
        if kind == EventType.SINK_DELIVERED:
            return await self.reconciler.sink_delivered(sink=ext(event, Ext.SINK) or "")
        if kind == EventType.CONFIG_RESYNC:
            return await self.resync()
        if kind in (EventType.RUN_AWAITING_APPROVAL, EventType.HOUSEKEEPING_CHECK):
            starting = kind == EventType.HOUSEKEEPING_CHECK and data_dict(event).get("reason") == "starting"
            return await schedule_housekeeping(self.store, self.cluster, self.installation, starting=starting)
        body = data_dict(event)
        if kind == EventType.APISERVER_DELETE:
            result = await self.reconciler.delete(body)
            if self.record:
                self.record.forget(body)
            return result
        if kind in (EventType.APISERVER_ADD, EventType.APISERVER_UPDATE):
            result = await self.reconciler.apply(body)
            if self.record:
                self.record.remember(body)
            return result
        raise BadRequest(f"unexpected event type {kind}")


def _count(event: CloudEvent | None, result: str) -> None:
    if event is None:
        kind = "none"
    elif event.get_type() == EventType.RUN_FINISHED:
        kind = "run"
    else:
        kind = ext(event, Ext.KIND) or "unknown"
    metrics.RECONCILES.labels(kind if kind in KINDS else "unknown", result).inc()


KINDS = ("Source", "Workflow", "Sink", "Secret", "run", "none")


def new() -> ReconcilerFunction:
    return ReconcilerFunction()
