"""sink: delivers finished runs to Sinks (stdout, webhook, ...) from `run.finished`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx
from cloudevents.core.v1.event import CloudEvent
from cutman import log as logs
from cutman.asgi import Receive, Scope, raw_send, respond_error, respond_json
from cutman.errors import CutmanError
from cutman.function_base import FunctionBase
from cutman.models.cloudevent import data_dict, ext
from cutman.models.events import EventType, Ext

from .deliver import Delivery

logger = logs.get("cutman.sink")
ANNOUNCED = (EventType.RUN_FINISHED, EventType.RUN_AWAITING_APPROVAL)


class SinkFunction(FunctionBase):
    component = "sink"

    def start(self, cfg: Mapping[str, str]) -> None:
        super().start(cfg)
        self.http = httpx.AsyncClient()

    async def handle(self, scope: Scope, receive: Receive, send: Any) -> None:
        out = raw_send(send)
        event: CloudEvent | None = scope.get("event")
        if event is None or event.get_type() not in ANNOUNCED:
            await respond_json(out, 400, {"error": "bad_request",
                                          "message": "expected a run.finished or run.awaitingapproval CloudEvent"})
            return
        run_id = ext(event, Ext.RUN)
        with logs.bind(run=run_id, event=event.get_id(), sink=scope["path"]):
            try:
                approval = data_dict(event) if event.get_type() == EventType.RUN_AWAITING_APPROVAL else None
                record = await Delivery(self.store, self.http).deliver(
                    path=scope["path"], run_id=run_id, approval=approval)
            except CutmanError as err:
                logs.warning(logger, "sink delivery failed", status=err.status, reason=err.message)
                await respond_error(out, err)
                return
            except Exception:
                logger.exception("sink handler failed")
                await respond_json(out, 500, {"error": "internal", "message": "sink failed; will be retried"})
                return
            logs.info(logger, "sink delivery", phase=record.get("phase"), detail=record.get("detail"))
            await respond_json(out, 200, record)


def new() -> SinkFunction:
    return SinkFunction()
