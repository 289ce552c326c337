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
from cutman.models.cloudevent import ext
from cutman.models.events import EventType, Ext

from .deliver import Delivery

logger = logs.get("cutman.sink")


class SinkFunction(FunctionBase):
    component = "sink"

    def start(self, cfg: Mapping[str, str]) -> None:
        super().start(cfg)
        self.http = httpx.AsyncClient()

    async def handle(self, scope: Scope, receive: Receive, send: Any) -> None:
        out = raw_send(send)
        event: CloudEvent | None = scope.get("event")
        if event is None or event.get_type() != EventType.RUN_FINISHED:
            await respond_json(out, 400, {"error": "bad_request", "message": "expected a run.finished CloudEvent"})
            return
        run_id = ext(event, Ext.RUN)
        with logs.bind(run=run_id, event=event.get_id(), sink=scope["path"]):
            try:
                record = await Delivery(self.store, self.http).deliver(path=scope["path"], run_id=run_id)
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
