"""sink: delivers runs to Sinks (every `spec.type`, see cutman.sinks) from `run.finished`
and `run.awaitingapproval`; replies with the event a workflow sink chains, if any."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from cloudevents.core.v1.event import CloudEvent
from cutman import log as logs
from cutman.asgi import Receive, Scope, raw_send, respond_error, respond_event, respond_json
from cutman.core import ids
from cutman.errors import CutmanError
from cutman.function_base import FunctionBase
from cutman.models.cloudevent import data_dict, ext, make_event
from cutman.models.events import EventType, Ext

if TYPE_CHECKING:
    import httpx

logger = logs.get("cutman.sink")
ANNOUNCED = (EventType.RUN_FINISHED, EventType.RUN_AWAITING_APPROVAL)


class SinkFunction(FunctionBase):
    component = "sink"

    def start(self, cfg: Mapping[str, str]) -> None:
        super().start(cfg)
        # httpx logs every request URL at INFO, query string (webhook tokens) included
        logging.getLogger("httpx").setLevel(logging.WARNING)
        self._http: httpx.AsyncClient | None = None
        self.sink_settings = {k: v for k, v in cfg.items() if k.startswith("CUTMAN_")}

    @property
    def http(self) -> httpx.AsyncClient:
        """The client the plugins post with, made on first use: httpx and the sink plugins
        are imported with the first event, after readiness, not at start."""
        if self._http is None:
            import httpx

            self._http = httpx.AsyncClient()
        return self._http

    async def handle(self, scope: Scope, receive: Receive, send: Any) -> None:
        from cutman.sinks.delivery import Deliverer

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
                result = await Deliverer(self.store, self.http, self.sink_settings).deliver_path(
                    path=scope["path"], run_id=run_id, approval=approval)
            except CutmanError as err:
                logs.warning(logger, "sink delivery not done", status=err.status, reason=err.message)
                await respond_error(out, err)
                return
            except Exception:
                logger.exception("sink handler failed")
                await respond_json(out, 500, {"error": "internal", "message": "sink failed; will be retried"})
                return
            record = result.record
            logs.info(logger, "sink delivery", phase=record.get("phase"), detail=record.get("detail"))
            await respond_event(out, result.events[0] if result.events else delivered_event(
                event, scope["path"], record))


def delivered_event(event: CloudEvent, path: str, record: dict[str, Any]) -> CloudEvent:
    """The reply that lets the reconciler publish the Sink's status right away; the
    record (no credentials, URLs redacted) is its data."""
    sink = "/".join(path.strip("/").split("/")[1:3])
    run = ext(event, Ext.RUN) or ""
    return make_event(
        id=ids.reply_event_id(run=run, what=f"sink:{sink}:{record.get('sink')}:{record.get('phase')}:"
                                             f"{record.get('attempts')}"),
        type=EventType.SINK_DELIVERED, source=f"/cutman/sinks/{sink}", data=record,
        extensions={Ext.WORKFLOW: ext(event, Ext.WORKFLOW) or "", Ext.RUN: run, Ext.SINK: sink,
                    Ext.PHASE: str(record.get("phase", ""))})


def new() -> SinkFunction:
    return SinkFunction()
