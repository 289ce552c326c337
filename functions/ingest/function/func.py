"""ingest: the front door. Alertmanager webhooks in, deduplicated alert events out.

A webhook is answered 2xx only after the broker accepted every event it produced; if
the broker is unreachable the dedupe claims are undone and the answer is 503, so
Alertmanager's retry delivers the alerts again instead of them being lost.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from cutman import log as logs
from cutman.adapters.broker_client import HTTPBroker
from cutman.asgi import Receive, Scope, Send, headers_of, read_body, respond_error, respond_json
from cutman.errors import CutmanError, NotFound, UnsupportedMedia
from cutman.function_base import FunctionBase
from cutman.models.resources import SourceSpec

from . import alertmanager as am

logger = logs.get("cutman.ingest")
DEFAULT_MAX_ACTIVE_S = 24 * 3600


class Ingest(FunctionBase):
    component = "ingest"

    def start(self, cfg: Mapping[str, str]) -> None:
        super().start(cfg)
        assert self.settings is not None
        self.broker = HTTPBroker(self.settings.broker_url)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = uuid.uuid4().hex[:12]
        with logs.bind(request=request, path=scope["path"]):
            try:
                summary = await self.webhook(scope, receive, token=request)
            except CutmanError as err:
                logs.warning(logger, "webhook refused", status=err.status, reason=err.message)
                await respond_error(send, err)
                return
            except Exception:
                logger.exception("webhook failed")
                await respond_json(send, 500, {"error": "internal", "message": "ingest failed"})
                return
            logs.info(logger, "webhook accepted", **summary)
            await respond_json(send, 200, summary)

    async def webhook(self, scope: Scope, receive: Receive, *, token: str) -> dict[str, Any]:
        assert self.settings is not None
        path = scope["path"]
        source = await self.store.route(path)
        if source is None:
            raise NotFound(f"no Source serves {path}")
        if scope["method"] != "POST":
            raise NotFound(f"{path} takes POST only")
        ctype = headers_of(scope).get("content-type", "").split(";")[0].strip().lower()
        if ctype != "application/json" and not ctype.endswith("+json"):
            raise UnsupportedMedia(f"content-type must be application/json, got {ctype or 'none'}")
        body = await read_body(receive, limit=self.settings.body_limit)
        cfg = await self.store.get_config("source", source)
        if cfg is None:
            raise NotFound(f"source {source} is not configured")
        spec = SourceSpec.model_validate(cfg["spec"])
        payload = am.decode(body)
        planned, filtered = am.plan(payload, spec)
        decisions = await self.store.dedupe(
            source, [p.claim for p in planned], max_active_s=DEFAULT_MAX_ACTIVE_S, token=token
        )
        chosen = [p for p, d in zip(planned, decisions) if d in ("firing", "resolved")]
        try:
            await self.broker.send([am.event_for(p, source) for p in chosen])
        except CutmanError:
            await self.store.undo_dedupe(
                source, [p.claim.fingerprint for p in chosen], max_active_s=DEFAULT_MAX_ACTIVE_S, token=token
            )
            raise
        return {
            "source": source,
            "alerts": len(payload.alerts),
            "firing": decisions.count("firing"),
            "resolved": decisions.count("resolved"),
            "duplicates": decisions.count("duplicate"),
            "ignored": decisions.count("ignored"),
            "filtered": filtered,
        }


def new() -> Ingest:
    return Ingest()
