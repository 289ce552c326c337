"""ingest's `/api/v1`: the read API over the stores, plus approve/deny (docs/api.md).

Routing is a table of (method, pattern) -> handler; every handler is a call into
`cutman.api.queries` and a JSON answer. Auth comes first (apiauth), masking last: every
answer passes through `queries.masked` with the secret store's values, cached for a few
seconds so a busy page does not scan Redis on every request.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from cutman import log as logs
from cutman.adapters.broker_client import Broker
from cutman.adapters.store import Store
from cutman.asgi import Receive, Scope, Send, headers_of, read_body, respond, respond_error
from cutman.core import jsonlimits
from cutman.errors import BadRequest, CutmanError, Invalid, MethodNotAllowed, NotFound

from .apiauth import ApiAuth
from .runstream import Hub, serve_stream

PREFIX = "/api/v1"
MASK_CACHE_S = 5.0
logger = logs.get("cutman.ingest.api")
Query = dict[str, str]
Handler = Callable[..., Awaitable[Any]]
NAME = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
RUN = r"[A-Za-z0-9][A-Za-z0-9._-]{0,200}"
STEP = r"[A-Za-z][A-Za-z0-9_-]{0,62}"


def query_of(scope: Scope) -> Query:
    raw = scope.get("query_string", b"").decode("latin-1")
    return dict(parse_qsl(raw, keep_blank_values=False))


def selector_of(raw: str | None) -> dict[str, str] | None:
    if not raw:
        return None
    out = {}
    for part in raw.split(","):
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise BadRequest(f"labelSelector must be k=v[,k=v], got {raw!r}", field="labelSelector")
        out[key.strip()] = value.strip()
    return out


@dataclass
class Masker:
    store: Store
    values: list[str] | None = None
    at: float = 0.0

    async def get(self) -> list[str]:
        from cutman.api import queries

        if self.values is None or time.monotonic() - self.at > MASK_CACHE_S:
            self.values, self.at = await queries.secret_values(self.store), time.monotonic()
        return self.values


class ApiEndpoint:
    def __init__(self, *, store: Store, broker: Broker, auth: ApiAuth) -> None:
        self.store, self.broker, self.auth = store, broker, auth
        self.hub = Hub(store)
        self.masker = Masker(store)
        kinds = "(?P<kind>sources|workflows|sinks)"
        self.routes: list[tuple[str, re.Pattern[str], Handler]] = [
            ("GET", re.compile(r"/?"), self.index),
            ("GET", re.compile(f"/{kinds}"), self.resources),
            ("GET", re.compile(f"/sources/(?P<ns>{NAME})/(?P<name>{NAME})/events"), self.one_source_events),
            ("GET", re.compile(f"/{kinds}/(?P<ns>{NAME})/(?P<name>{NAME})"), self.resource),
            ("GET", re.compile("/runs"), self.runs),
            ("GET", re.compile(f"/runs/(?P<run>{RUN})"), self.run),
            ("GET", re.compile("/alerts"), self.alerts),
            ("GET", re.compile("/events"), self.events),
            ("GET", re.compile("/deadletters"), self.deadletters),
            ("POST", re.compile(f"/runs/(?P<run>{RUN})/steps/(?P<step>{STEP})/(?P<verb>approve|deny)"), self.decide),
        ]

    async def serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self._serve(scope, receive, send)
        except CutmanError as err:
            if err.status >= 500:
                logs.warning(logger, "api request failed", status=err.status, reason=err.message)
            await respond_error(send, err)

    async def _serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.auth.check(headers_of(scope), method=scope["method"])
        path = scope["path"][len(PREFIX):]
        query = query_of(scope)
        if path == "/stream" and scope["method"] == "GET":
            await serve_stream(self.hub, scope, receive, send, query=query, mask=await self.masker.get())
            return
        allowed = []
        for method, pattern, handler in self.routes:
            m = pattern.fullmatch(path)
            if m is None:
                continue
            allowed.append(method)
            if method == scope["method"] or (method == "GET" and scope["method"] == "HEAD"):
                body = await read_body(receive, limit=64 * 1024) if method == "POST" else b""
                doc = await handler(query=query, body=body, **m.groupdict())
                await self._answer(send, 200, doc)
                return
        if allowed:
            methods = tuple(sorted(set(allowed) | ({"HEAD"} if "GET" in allowed else set())))
            raise MethodNotAllowed(f"{scope['path']} takes {' or '.join(sorted(set(allowed)))}", allow=methods)
        raise NotFound(f"no API route {scope['path']} (see GET {PREFIX})")

    async def _answer(self, send: Send, status: int, doc: Any) -> None:
        from cutman.api import queries

        safe = queries.masked(doc, await self.masker.get())
        await respond(send, status, json.dumps(safe, default=str).encode(),
                      {"content-type": "application/json", "cache-control": "no-store"})

    # --- handlers ------------------------------------------------------------------

    async def index(self, *, query: Query, body: bytes) -> dict[str, Any]:
        return {"version": "v1", "routes": [
            "GET /api/v1/sources", "GET /api/v1/sources/<ns>/<name>", "GET /api/v1/sources/<ns>/<name>/events",
            "GET /api/v1/workflows", "GET /api/v1/workflows/<ns>/<name>", "GET /api/v1/sinks",
            "GET /api/v1/sinks/<ns>/<name>", "GET /api/v1/runs", "GET /api/v1/runs/<id>", "GET /api/v1/alerts",
            "GET /api/v1/events", "GET /api/v1/deadletters", "GET /api/v1/stream",
            "POST /api/v1/runs/<id>/steps/<step>/approve", "POST /api/v1/runs/<id>/steps/<step>/deny"]}

    async def resources(self, *, query: Query, body: bytes, kind: str) -> dict[str, Any]:
        from cutman.api import queries

        items = await queries.list_resources(self.store, kind, namespace=query.get("namespace"),
                                             labels=selector_of(query.get("labelSelector")))
        return {"kind": kind[:-1].capitalize() + "List", "items": items, "continue": None}

    async def resource(self, *, query: Query, body: bytes, kind: str, ns: str, name: str) -> dict[str, Any]:
        from cutman.api import queries

        doc = await queries.get_resource(self.store, kind, ns, name)
        if doc is None:
            raise NotFound(f"{kind[:-1]} {ns}/{name} does not exist")
        return doc

    async def runs(self, *, query: Query, body: bytes) -> dict[str, Any]:
        from cutman.api import queries

        page = await queries.list_runs(
            self.store, namespace=query.get("namespace"), workflow=query.get("workflow"),
            phase=query.get("phase"), fingerprint=query.get("fingerprint"), source=query.get("source"),
            limit=queries.limit_of(query.get("limit")), cont=query.get("continue"))
        return page.doc("RunList")

    async def run(self, *, query: Query, body: bytes, run: str) -> dict[str, Any]:
        from cutman.api import queries

        doc = await queries.get_run(self.store, run)
        if doc is None:
            raise NotFound(f"run {run} does not exist (expired or never started)")
        return doc

    async def alerts(self, *, query: Query, body: bytes) -> dict[str, Any]:
        from cutman.api import queries

        items = await queries.list_alerts(self.store, namespace=query.get("namespace"), source=query.get("source"),
                                          status=query.get("status"), fingerprint=query.get("fingerprint"))
        return {"kind": "AlertList", "items": items, "continue": None}

    async def events(self, *, query: Query, body: bytes) -> dict[str, Any]:
        from cutman.api import queries

        page = await queries.source_events(self.store, namespace=query.get("namespace"), source=query.get("source"),
                                           limit=queries.limit_of(query.get("limit")), cont=query.get("continue"))
        return page.doc("SourceEventList")

    async def one_source_events(self, *, query: Query, body: bytes, ns: str, name: str) -> dict[str, Any]:
        from cutman.api import queries

        if await self.store.get_config("source", f"{ns}/{name}") is None:
            raise NotFound(f"source {ns}/{name} does not exist")
        page = await queries.source_events(self.store, source=f"{ns}/{name}",
                                           limit=queries.limit_of(query.get("limit")), cont=query.get("continue"))
        return page.doc("SourceEventList")

    async def deadletters(self, *, query: Query, body: bytes) -> dict[str, Any]:
        from cutman.api import queries

        page = await queries.dead_letters(self.store, limit=queries.limit_of(query.get("limit")),
                                          cont=query.get("continue"))
        return page.doc("DeadLetterList")

    async def decide(self, *, query: Query, body: bytes, run: str, step: str, verb: str) -> dict[str, Any]:
        from cutman.approvals import apply_decision, resume
        from cutman.models.run import Decision

        by = _decided_by(body)
        decision = Decision.APPROVED if verb == "approve" else Decision.DENIED
        applied = await apply_decision(self.store, run_id=run, step=step, decision=decision, by=by)
        pending = await resume(self.store, self.broker, applied)
        if applied.refused:
            raise Invalid(f"{applied.refused}; the step fails")
        logs.info(logger, "approval recorded", run=run, step=step, decision=decision.value, by=by, pending=pending)
        out: dict[str, Any] = {"run": run, "step": step, "decision": decision.value, "by": by, "resumed": not pending}
        if pending:
            out["pending"] = f"the resume event is recorded and the housekeeping sweep sends it ({pending})"
        return out


def _decided_by(body: bytes) -> str:
    if not body.strip():
        return "api"
    try:
        doc = jsonlimits.loads(body)
    except BadRequest:
        raise BadRequest("body must be JSON: {\"by\": \"<name>\"}") from None
    by = doc.get("by", "api") if isinstance(doc, Mapping) else None
    if not isinstance(by, str) or not 0 < len(by) <= 100:
        raise BadRequest("by must be a name of 1-100 characters", field="by")
    return by
