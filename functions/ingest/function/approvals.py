"""ingest's `/approvals/<token>`: the link a human follows from Slack to approve or deny.

The token is signed and expiring (cutman.core.approval, key CUTMAN_APPROVAL_KEY). GET
only shows what the link will do, with a button, because chat tools fetch links to
preview them; POST records the decision and posts the step.requested that resumes the
run. Without a configured key the endpoint does not exist (404).
"""

from __future__ import annotations

import html
import time
from collections.abc import Mapping

from cutman import log as logs
from cutman.adapters.broker_client import Broker
from cutman.adapters.store import Store
from cutman.asgi import Receive, Scope, Send, read_body, respond, respond_error, respond_json
from cutman.errors import CutmanError, Invalid, NotFound
from cutman.stepconfig import APPROVAL_PATH

PREFIX = APPROVAL_PATH
logger = logs.get("cutman.ingest.approvals")


class ApprovalEndpoint:
    def __init__(self, *, store: Store, broker: Broker, key: bytes | None) -> None:
        self.store, self.broker, self.key = store, broker, key

    @classmethod
    def from_cfg(cls, cfg: Mapping[str, str], *, store: Store, broker: Broker) -> ApprovalEndpoint:
        key = cfg.get("CUTMAN_APPROVAL_KEY", "")
        return cls(store=store, broker=broker, key=key.encode() if key else None)

    async def serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self._serve(scope, receive, send)
        except CutmanError as err:
            logs.warning(logger, "approval refused", status=err.status, reason=err.message)
            await respond_error(send, err)

    async def _serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        from cutman.approvals import apply_decision, resume
        from cutman.core.approval import verify_token
        from cutman.models.run import Decision

        if self.key is None:
            raise NotFound("approval links are not enabled (CUTMAN_APPROVAL_KEY is not set)")
        grant = verify_token(key=self.key, token=scope["path"][len(PREFIX):], now=time.time())
        verb = "approve" if grant.decision is Decision.APPROVED else "deny"
        if scope["method"] == "GET":
            page = (f"<!doctype html><title>cutman: {verb}</title><form method=post>"
                    f"<p>{verb.capitalize()} step <b>{html.escape(grant.step)}</b> of run "
                    f"<b>{html.escape(grant.run)}</b>?</p><button>{verb.capitalize()}</button></form>")
            await respond(send, 200, page.encode(), {"content-type": "text/html; charset=utf-8"})
            return
        if scope["method"] != "POST":
            raise NotFound(f"{scope['path']} takes GET or POST")
        await read_body(receive, limit=64 * 1024)
        applied = await apply_decision(self.store, run_id=grant.run, step=grant.step,
                                       decision=grant.decision, by="approval link")
        pending = await resume(self.store, self.broker, applied)
        if applied.refused:
            raise Invalid(f"{applied.refused}; the step fails")
        logs.info(logger, "approval recorded", run=grant.run, step=grant.step, decision=grant.decision.value,
                  pending=pending)
        out = {"run": grant.run, "step": grant.step, "decision": grant.decision.value, "resumed": not pending}
        if pending:
            out["pending"] = f"the resume event is recorded and the housekeeping sweep sends it ({pending})"
        await respond_json(send, 200, out)
