"""reconciler: ApiServerSource events for Source, Workflow and Sink in; Triggers and
compiled config out."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cloudevents.core.v1.event import CloudEvent
from cutman import log as logs
from cutman.adapters.cluster import LocalCluster
from cutman.asgi import Receive, Scope, raw_send, respond_error, respond_json
from cutman.errors import BadRequest, CutmanError
from cutman.function_base import FunctionBase
from cutman.models.cloudevent import data_dict
from cutman.models.events import EventType

from .reconcile import Reconciler

logger = logs.get("cutman.reconciler")


class ReconcilerFunction(FunctionBase):
    component = "reconciler"

    def start(self, cfg: Mapping[str, str]) -> None:
        super().start(cfg)
        self.reconciler = Reconciler(self.store, LocalCluster(self.store))

    async def handle(self, scope: Scope, receive: Receive, send: Any) -> None:
        out = raw_send(send)
        event: CloudEvent | None = scope.get("event")
        try:
            if event is None:
                raise BadRequest("expected an ApiServerSource CloudEvent")
            with logs.bind(event=event.get_id(), type=event.get_type()):
                body = data_dict(event)
                if event.get_type() == EventType.APISERVER_DELETE:
                    result = await self.reconciler.delete(body)
                elif event.get_type() in (EventType.APISERVER_ADD, EventType.APISERVER_UPDATE):
                    result = await self.reconciler.apply(body)
                else:
                    raise BadRequest(f"unexpected event type {event.get_type()}")
                logs.info(logger, "reconciled", **result)
        except CutmanError as err:
            logs.warning(logger, "reconcile refused", status=err.status, reason=err.message)
            await respond_error(out, err)
            return
        except Exception:
            logger.exception("reconcile failed")
            await respond_json(out, 500, {"error": "internal", "message": "reconcile failed; will be retried"})
            return
        await respond_json(out, 200, result)


def new() -> ReconcilerFunction:
    return ReconcilerFunction()
