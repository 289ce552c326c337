"""ingest's `/ui`: the web page. Server-rendered HTML, one small script, no build step.

    /ui                     runs, newest first, live
    /ui/runs/<id>           one run's timeline, live, with approve/deny buttons
    /ui/alerts              alerts firing and resolved
    /ui/resources           Sources, Workflows, Sinks with Ready and reasons
    /ui/fragments/...       the parts the script swaps in when the stream reports a change
    /ui/login               token form (sets the session cookie, see apiauth)
    /ui/static/app.js|css   the assets, read once from ui_assets/

The page's data comes from the same queries as `/api/v1`, called in process; its live
updates come from `/api/v1/stream`; its buttons post to `/api/v1/.../approve|deny`.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import parse_qsl

from cutman import log as logs
from cutman.adapters.store import Store
from cutman.asgi import Receive, Scope, Send, headers_of, read_body, respond, respond_error
from cutman.errors import CutmanError, NotFound, Unauthorized

from .apiauth import COOKIE, ApiAuth

PREFIX = "/ui"
ASSETS = Path(__file__).resolve().parent / "ui_assets"
TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
RUN_PATH = re.compile(r"/(fragments/)?runs/([A-Za-z0-9][A-Za-z0-9._-]{0,200})")
HTML = "text/html; charset=utf-8"
CSP = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'"
logger = logs.get("cutman.ingest.ui")


class UiEndpoint:
    def __init__(self, *, store: Store, auth: ApiAuth) -> None:
        self.store, self.auth = store, auth
        self.assets = {f"/static/{p.name}": p.read_bytes() for p in ASSETS.iterdir() if p.suffix in TYPES}

    async def serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        from . import uiviews

        path = scope["path"][len(PREFIX):] or "/"
        try:
            if path in self.assets:
                await respond(send, 200, self.assets[path], {"content-type": TYPES[Path(path).suffix],
                                                             "cache-control": "max-age=300"})
                return
            if path == "/login":
                await self.login(scope, receive, send)
                return
            try:
                self.auth.check(headers_of(scope), method="GET")
            except Unauthorized as err:
                await self._html(send, uiviews.login_page(err.message), 401)
                return
            await self._html(send, await self.render(path))
        except CutmanError as err:
            await respond_error(send, err)

    async def render(self, path: str) -> str:
        from cutman.api import queries

        from . import uiviews

        mask = await queries.secret_values(self.store)
        if path in ("/", "/fragments/runs"):
            runs = queries.masked((await queries.list_runs(self.store, limit=50)).items, mask)
            return uiviews.runs_fragment(runs) if path.startswith("/fragments") else uiviews.runs_page(runs)
        m = RUN_PATH.fullmatch(path)
        if m is not None:
            run = await queries.get_run(self.store, m.group(2))
            if run is None:
                raise NotFound(f"run {m.group(2)} does not exist (expired or never started)")
            run = queries.masked(run, mask)
            return uiviews.run_fragment(run) if m.group(1) else uiviews.run_page(run)
        if path == "/alerts":
            return uiviews.alerts_page(queries.masked(await queries.list_alerts(self.store), mask))
        if path == "/resources":
            groups = {kind.capitalize(): queries.masked(await queries.list_resources(self.store, kind), mask)
                      for kind in ("sources", "workflows", "sinks")}
            return uiviews.resources_page(groups)
        raise NotFound(f"no page {PREFIX}{path}")

    async def login(self, scope: Scope, receive: Receive, send: Send) -> None:
        from . import uiviews

        if scope["method"] == "GET":
            await self._html(send, uiviews.login_page())
            return
        form = dict(parse_qsl((await read_body(receive, limit=8192)).decode("latin-1")))
        if self.auth.token is None:
            message = "no API token is configured" if self.auth.required else "no login needed on loopback"
            await self._html(send, uiviews.login_page(message), 400 if self.auth.required else 200)
            return
        if not self.auth.valid_token(form.get("token", "")):
            logs.warning(logger, "ui login refused")
            await self._html(send, uiviews.login_page("wrong token"), 401)
            return
        cookie = f"{COOKIE}={self.auth.session()}; Path=/; HttpOnly; SameSite=Strict"
        await respond(send, 303, b"", {"location": "/ui", "set-cookie": cookie})

    async def _html(self, send: Send, body: str, status: int = 200) -> None:
        await respond(send, status, body.encode(), {"content-type": HTML, "cache-control": "no-store",
                                                     "content-security-policy": CSP,
                                                     "x-content-type-options": "nosniff"})
