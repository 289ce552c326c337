"""ingest: the front door. Webhooks in, deduplicated events out.

`handle` is a small router: GET /metrics answers the Prometheus metrics (cutman.metrics),
/api/v1 the read API and /ui the web page (docs/api.md; their own auth), /approvals/ the
signed approval links, /sources/<ns>/<name> takes the events of api, schedule and
kubernetes Sources, any other path is a webhook Source's path (404 when no Source serves
it). Other endpoints plug in as another entry of `routes`.

A webhook is answered 2xx only after the broker accepted every event it produced; if
Redis or the broker is unreachable the answer is 503 with Retry-After and the claims
made for it stay pending (see cutman.adapters.alert_store), so Alertmanager's retry
emits them again, with the same event ids, instead of them being lost or muted.
CUTMAN_CLAIM_LEASE (seconds, default 15) bounds how long a claim is left to a request
that may still be talking to the broker; keep it above CUTMAN_BROKER_DEADLINE (seconds,
default 10), the most one webhook's events may take to reach the broker before the
webhook answers 503. CUTMAN_BROKER_CONCURRENCY (default 32) bounds the posts in flight
to the broker for the whole process; past what the broker drains in
CUTMAN_BROKER_BACKLOG_SECONDS (default 1) at its measured rate, a webhook's events wait
their turn before any is posted (see cutman.adapters.broker_client). A webhook of more than CUTMAN_MAX_ALERTS alerts
(default 1000) is refused with 413 before any work is done for it.

The parsed Source (spec model, compiled matchers, dedupe policy) is kept per Source and
reused while its spec is unchanged, instead of being validated again for every webhook.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

from cutman import eventloop, metrics
from cutman import log as logs
from cutman.adapters.alert_store import DEFAULT_LEASE_S, Decision
from cutman.adapters.broker_client import (
    DEFAULT_BACKLOG_S,
    DEFAULT_CONCURRENCY,
    DEFAULT_DEADLINE_S,
    HTTPBroker,
)
from cutman.asgi import (
    Receive,
    Scope,
    Send,
    headers_of,
    respond,
    respond_json,
)
from cutman.core.secret_policy import SecretRefused
from cutman.errors import CutmanError, NotFound, Unavailable, UnsupportedMedia
from cutman.function_base import FunctionBase
from cutman.models.cloudevent import make_event
from cutman.models.events import EventType
from cutman.models.kinds import SourceType

from . import alertmanager as am
from . import (
    api,
    approvals,
    authn,
    compiled,
    configloss,
    housekeeping,
    routecache,
    sourceevents,
    ui,
)
from .apiauth import ApiAuth
from .body import Body

if TYPE_CHECKING:
    from cutman.models.resources import SourceSpec

logger = logs.get("cutman.ingest")
HOUSEKEEPING_CHECK_S = 50
HOUSEKEEPING_ASK_S = 5.0
Route = Callable[[Scope, Receive, Send], Awaitable[None]]
SUMMARY_KEY = {Decision.FIRING: "firing", Decision.REPEAT: "repeated", Decision.DUPLICATE: "duplicates",
               Decision.RESOLVED: "resolved", Decision.IGNORED: "ignored"}


class Ingest(FunctionBase):
    component = "ingest"
    needs_approval_key = True

    def start(self, cfg: Mapping[str, str]) -> None:
        super().start(cfg)
        assert self.settings is not None
        self.broker = HTTPBroker(
            self.settings.broker_url,
            concurrency=int(cfg.get("CUTMAN_BROKER_CONCURRENCY", str(DEFAULT_CONCURRENCY))),
            deadline=float(cfg.get("CUTMAN_BROKER_DEADLINE", str(DEFAULT_DEADLINE_S))),
            backlog_s=float(cfg.get("CUTMAN_BROKER_BACKLOG_SECONDS", str(DEFAULT_BACKLOG_S))),
        )
        self.lease_s = float(cfg.get("CUTMAN_CLAIM_LEASE", str(DEFAULT_LEASE_S)))
        self.max_alerts = int(cfg.get("CUTMAN_MAX_ALERTS", str(am.DEFAULT_MAX_ALERTS)))
        self.sources = compiled.SourceCache()
        self.route_cache = routecache.RouteCache()
        self._asked_until = 0.0
        sweeper = housekeeping.Housekeeping(store=self.store, broker=self.broker,
                                            lease_s=float(cfg.get("CUTMAN_LEASE_SECONDS", "30")))
        self.routes: dict[str, Route] = {"/metrics": self.serve_metrics, housekeeping.PATH: sweeper.serve,
                                         housekeeping.DEAD_PATH: sweeper.serve}
        self.approvals = approvals.ApprovalEndpoint.from_cfg(cfg, store=self.store, broker=self.broker)
        self.config_guard = configloss.ConfigGuard(store=self.store, broker=self.broker)
        try:
            auth = ApiAuth.from_cfg(cfg)
        except SecretRefused as refused:
            logs.error(logger, str(refused))
            raise SystemExit(3) from None
        self.api = api.ApiEndpoint(store=self.store, broker=self.broker, auth=auth)
        self.ui = ui.UiEndpoint(store=self.store, auth=auth)

    def stop(self) -> None:
        broker: HTTPBroker | None = getattr(self, "broker", None)
        if broker is not None:
            broker.close_soon()
        super().stop()

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope["path"]
        if path.startswith(approvals.PREFIX):
            await self.approvals.serve(scope, receive, send)
            return
        if path == api.PREFIX or path.startswith(api.PREFIX + "/"):
            await self.api.serve(scope, receive, send)
            return
        if path == ui.PREFIX or path.startswith(ui.PREFIX + "/"):
            await self.ui.serve(scope, receive, send)
            return
        route = self.routes.get(scope["path"])
        if route is not None:
            await route(scope, receive, send)
            return
        started = time.monotonic()
        status = await self.serve_webhook(scope, receive, send)
        metrics.REQUEST_DURATION.observe(time.monotonic() - started)
        metrics.WEBHOOKS.labels(str(status)).inc()

    async def serve_metrics(self, scope: Scope, receive: Receive, send: Send) -> None:
        await respond(send, 200, metrics.render(), {"content-type": metrics.CONTENT_TYPE})

    async def serve_webhook(self, scope: Scope, receive: Receive, send: Send) -> int:
        assert self.settings is not None
        request = uuid.uuid4().hex[:12]
        body = Body(receive, limit=self.settings.body_limit)
        with logs.bind(request=request, path=scope["path"]):
            try:
                if scope["path"].startswith(sourceevents.PREFIX):
                    summary = await self.source_event(scope, body)
                else:
                    summary = await self.webhook(scope, body, token=request)
            except CutmanError as err:
                logs.warning(logger, "webhook refused", status=err.status, reason=err.message)
                metrics.REJECTIONS.labels(err.reason).inc()
                await self._refuse(send, body, err)
                return err.status
            except Exception:
                logger.exception("webhook failed")
                metrics.REJECTIONS.labels("internal").inc()
                await self._refuse(send, body, CutmanError("ingest failed"))
                return 500
            logs.info(logger, "webhook accepted", **summary)
            await respond_json(send, 200, summary)
            return 200

    async def _refuse(self, send: Send, body: Body, err: CutmanError) -> None:
        complete = await body.drain()
        extra = {} if complete else {"connection": "close"}
        if err.status == 503:
            extra["retry-after"] = "5"
        await respond_json(send, err.status, err.body(), extra)

    async def webhook(self, scope: Scope, body: Body, *, token: str) -> dict[str, Any]:
        path = scope["path"]
        source, cfg = await self._served(path)
        if scope["method"] != "POST":
            raise NotFound(f"{path} takes POST only")
        headers = headers_of(scope)
        ctype = headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype != "application/json" and not ctype.endswith("+json"):
            raise UnsupportedMedia(f"content-type must be application/json, got {ctype or 'none'}")
        raw = await body.read()
        authn.check((cfg.get("ingest") or {}).get("auth"), headers=headers, body=raw)
        parsed = self.sources.get(source, cfg["spec"])
        if parsed.spec.type is not SourceType.WEBHOOK:
            return await self.emit_source_event(source, parsed.spec, headers, raw)
        return await self.alerts(source, parsed, raw, token=token)

    async def _served(self, path: str) -> tuple[str, dict[str, Any]]:
        """The Source serving `path` and its compiled config, read fresh (the route may come
        from the RouteCache); NotFound or the config-loss answer when none serves it."""
        source = self.route_cache.get(path)
        if source is not None:
            cfg = await self.store.get_config("source", source)
            if cfg is not None and routecache.claims(cfg, path):
                return source, cfg
            self.route_cache.forget(path)
        source = await self.store.route(path)
        if source is None:
            raise await self.config_guard.missing(f"no Source serves {path}")
        cfg = await self.store.get_config("source", source)
        if cfg is None:
            raise await self.config_guard.missing(f"source {source} is not configured")
        self.route_cache.put(path, source)
        return source, cfg

    async def source_event(self, scope: Scope, body: Body) -> dict[str, Any]:
        """POST /sources/<ns>/<name>: an api, schedule or kubernetes Source's event."""
        key = sourceevents.source_key(scope["path"])
        cfg = await self.store.get_config("source", key)
        if cfg is None:
            raise await self.config_guard.missing(f"no api, schedule or kubernetes Source {key}")
        spec = self.sources.get(key, cfg["spec"]).spec
        if spec.type is SourceType.WEBHOOK:
            raise NotFound(f"no api, schedule or kubernetes Source {key}")
        if scope["method"] != "POST":
            raise NotFound(f"{scope['path']} takes POST only")
        headers = headers_of(scope)
        raw = await body.read()
        authn.check((cfg.get("ingest") or {}).get("auth"), headers=headers, body=raw)
        return await self.emit_source_event(key, spec, headers, raw)

    async def emit_source_event(
        self, key: str, spec: SourceSpec, headers: Mapping[str, str], raw: bytes
    ) -> dict[str, Any]:
        original = sourceevents.decode(spec.type, key, headers, raw)
        await self.broker.send([sourceevents.event_for(original, key)])
        await self._starting()
        await self.store.count_events(key, 1)
        await self.store.record_source_events(key, [{"type": "source.event", "eventId": original.event_id}])
        metrics.EVENTS.labels(key, "source.event").inc()
        return {"source": key, "event": original.event_id}

    async def alerts(self, source: str, parsed: compiled.ParsedSource, body: bytes, *, token: str) -> dict[str, Any]:
        """Decode, match, claim (one Redis call), hand to the broker, then confirm or undo."""
        payload = am.decode(body, max_alerts=self.max_alerts)
        policy = parsed.policy
        planned, filtered = am.plan(payload, filters=parsed.spec.config.filters, matchers=parsed.matchers,
                                    policy=policy)
        verdicts = await self.store.dedupe(
            source, [p.claim for p in planned], max_active_s=policy.max_active_s, token=token,
            repeat_after_s=policy.repeat_after_s, always=not policy.enabled, lease_s=self.lease_s,
        )
        chosen = [(p, v) for p, v in zip(planned, verdicts) if v.decision.emits]
        fps = [p.claim.fingerprint for p, _ in chosen]
        try:
            await self.broker.send([am.event_for(p, source, event_id=v.event_id) for p, v in chosen])
        except CutmanError:
            await self.store.undo_dedupe(source, fps, token=token)
            raise
        await self.store.confirm_dedupe(source, fps, token=token, events=[
            {"type": "alert." + p.claim.status, "eventId": v.event_id, "decision": v.decision.value,
             "fingerprint": p.claim.fingerprint, "alertname": p.claim.alertname,
             "severity": p.severity} for p, v in chosen])
        if chosen:
            await self._starting()
        counts = {d: sum(v.decision is d for v in verdicts) for d in Decision}
        self._count(source, counts, filtered)
        if counts[Decision.INFLIGHT]:
            raise Unavailable(f"{counts[Decision.INFLIGHT]} alert(s) of this notification are being handed "
                              "to the broker by another request; retry shortly")
        return {"source": source, "alerts": len(payload.alerts), "filtered": filtered,
                **{SUMMARY_KEY[d]: n for d, n in counts.items() if d in SUMMARY_KEY}}

    async def _starting(self) -> None:
        """Runs were started: at most once a minute, ask the reconciler to schedule the
        housekeeping sweep while they exist (cutman.core.housekeeping). Best effort: it is
        no part of the webhook's answer, and the next start or sweep asks again. Each
        process asks Redis at most every HOUSEKEEPING_ASK_S, not on every webhook."""
        now = time.monotonic()
        if now < self._asked_until:
            return
        self._asked_until = now + HOUSEKEEPING_ASK_S
        try:
            if await self.store.ask_once("housekeeping", HOUSEKEEPING_CHECK_S):
                await self.broker.send([make_event(type=EventType.HOUSEKEEPING_CHECK.value, source="/cutman/ingest",
                                                   data={"reason": "starting"})])
        except CutmanError as exc:
            logs.warning(logger, "housekeeping check not sent", reason=exc.message)

    def _count(self, source: str, counts: dict[Decision, int], filtered: int) -> None:
        for decision, n in [*((d.value, n) for d, n in counts.items()), ("filtered", filtered)]:
            if n:
                metrics.ALERTS.labels(source, decision).inc(n)
        if counts[Decision.DUPLICATE]:
            metrics.DUPLICATES.labels(source).inc(counts[Decision.DUPLICATE])
        fired = counts[Decision.FIRING] + counts[Decision.REPEAT]
        if fired:
            metrics.EVENTS.labels(source, "alert.firing").inc(fired)
        if counts[Decision.RESOLVED]:
            metrics.EVENTS.labels(source, "alert.resolved").inc(counts[Decision.RESOLVED])


def new() -> Ingest:
    eventloop.install()
    return Ingest()
