"""`handle()` for the step functions: decode the CloudEvent, let the host decide, reply.

Errors map to statuses the broker understands: 409 and 5xx are retried, 400/404/422
are not (a 404 for a missing run is retried by Knative, then dead-lettered).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from cloudevents.core.v1.event import CloudEvent

from . import log as logs
from .asgi import Receive, Scope, raw_send, respond_error, respond_event, respond_json
from .errors import BadRequest, CutmanError
from .function_base import FunctionBase
from .models.cloudevent import ext
from .models.events import Ext
from .stepconfig import DEFAULT_LEASE_S, ApprovalSettings

if TYPE_CHECKING:
    from .stephost import Executor

logger = logs.get("cutman.function")


class StepFunction(FunctionBase):
    needs_approval_key = True

    def __init__(self, executor: Executor) -> None:
        super().__init__()
        self.executor = executor
        self.approvals = ApprovalSettings()
        self.lease_s = DEFAULT_LEASE_S

    def start(self, cfg: Mapping[str, str]) -> None:
        super().start(cfg)
        self.executor.configure(cfg)
        self.approvals = ApprovalSettings.from_cfg(cfg)
        self.lease_s = float(cfg.get("CUTMAN_LEASE_SECONDS", str(DEFAULT_LEASE_S)))
        self.writer = cfg.get("CUTMAN_STEP_WRITER", "").strip().lower() in ("1", "true", "yes")

    async def handle(self, scope: Scope, receive: Receive, send: Any) -> None:
        out = raw_send(send)
        event: CloudEvent | None = scope.get("event")
        if event is None:
            await respond_json(out, 400, {"error": "bad_request", "message": "expected a CloudEvent"})
            return
        try:
            if self.writer:
                await self._only_gated_steps(event)
            # the engine and the run models: imported on the first event, after readiness
            from .stephost import StepHost

            host = StepHost(self.store, self.executor, approvals=self.approvals, lease_s=self.lease_s)
            reply = await host.handle(path=scope["path"], event=event)
        except CutmanError as err:
            logs.warning(logger, "delivery refused", status=err.status, reason=err.message, event=event.get_id())
            await respond_error(out, err)
            return
        except Exception:
            logger.exception("step handler failed", extra={"fields": {"event": event.get_id()}})
            await respond_json(out, 500, {"error": "internal", "message": "step handler failed; will be retried"})
            return
        await respond_event(out, reply)

    async def _only_gated_steps(self, event: CloudEvent) -> None:
        """A writer Service (overlays/step-writer, write RBAC) runs approval-gated steps
        only; anything else is refused, not retried (cutman.core.writer_routing)."""
        run_id, step = ext(event, Ext.RUN), ext(event, Ext.STEP)
        run = await self.store.get_run(run_id) if run_id else None
        spec = run.spec.step(step) if run is not None and step else None
        if spec is None or not spec.approval_required:
            raise BadRequest(f"this writer service runs approval-gated steps only, not {step or 'a run start'}"
                             f" of run {run_id or '?'}")
