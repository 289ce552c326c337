"""`Backend` over an installation's HTTP API (`/api/v1`, docs/api.md), for `--server`.

Read-only like the API: `runs delete` and the generated Triggers need the local stack
(in a cluster, `kubectl get triggers -l cutman.dev/workflow=NAME` shows them).
"""

from __future__ import annotations

from typing import Any

import httpx

from ..errors import BadRequest, CutmanError, NotFound, Unauthorized, Unavailable
from ..models.resources import Kind

PAGE = 500


class HTTPBackend:
    def __init__(self, server: str, *, token: str | None, timeout_s: float = 30.0) -> None:
        headers = {"authorization": f"Bearer {token}"} if token else {}
        self.server = server.rstrip("/")
        self._http = httpx.AsyncClient(base_url=self.server + "/api/v1", headers=headers, timeout=timeout_s)

    async def _get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        query = {k: v for k, v in (params or {}).items() if v is not None}
        try:
            resp = await self._http.get(path, params=query)
        except httpx.HTTPError as exc:
            raise Unavailable(f"{self.server} unreachable: {type(exc).__name__}: {exc}") from None
        if resp.status_code == 404:
            return None
        if resp.status_code >= 300:
            raise _error(resp, self.server)
        return resp.json()

    async def _list(self, path: str, params: dict[str, Any], limit: int | None = None) -> list[dict[str, Any]]:
        """Every page (or the first `limit` items) of a list route."""
        items: list[dict[str, Any]] = []
        cont = None
        while True:
            page = await self._get(path, {**params, "continue": cont,
                                          "limit": min(PAGE, limit) if limit else None})
            if page is None:
                raise NotFound(f"{self.server}/api/v1{path} not found (is this a cutman API?)")
            items += page.get("items") or []
            cont = page.get("continue")
            if not cont or (limit is not None and len(items) >= limit):
                return items[:limit] if limit is not None else items

    async def resources(self, kind: Kind, namespace: str | None) -> list[dict[str, Any]]:
        return await self._list(f"/{kind.plural}", {"namespace": namespace})

    async def resource(self, kind: Kind, namespace: str, name: str) -> dict[str, Any] | None:
        doc: dict[str, Any] | None = await self._get(f"/{kind.plural}/{namespace}/{name}")
        return doc

    async def runs(self, *, namespace: str | None, workflow: str | None, limit: int) -> list[dict[str, Any]]:
        return await self._list("/runs", {"namespace": namespace, "workflow": workflow}, limit)

    async def run(self, run_id: str) -> dict[str, Any] | None:
        doc: dict[str, Any] | None = await self._get(f"/runs/{run_id}")
        return doc

    async def alerts(self, *, namespace: str | None) -> list[dict[str, Any]]:
        doc = await self._get("/alerts", {"namespace": namespace})
        return list((doc or {}).get("items") or [])

    async def triggers(self, namespace: str) -> list[dict[str, Any]] | None:
        return None

    async def delete_run(self, run_id: str) -> None:
        raise BadRequest(f"runs delete works on the local cutman dev only; the API of {self.server} is read-only")

    def warnings(self) -> list[str]:
        return []

    async def close(self) -> None:
        await self._http.aclose()


def _error(resp: httpx.Response, server: str) -> CutmanError:
    """The CutmanError for an error answer; its body may be anything (a proxy's HTML page,
    a JSON list), so the message falls back to the text."""
    try:
        doc = resp.json()
    except ValueError:
        doc = None
    message = str((doc.get("message") if isinstance(doc, dict) else None) or resp.text[:300])
    if resp.status_code == 401:
        return Unauthorized(f"{server} refused the token (401): {message}")
    if resp.status_code in (400, 422):
        return BadRequest(f"{server}: {message}")
    if resp.status_code >= 500:
        return Unavailable(f"{server} answered {resp.status_code}: {message}")
    return CutmanError(f"{server} answered {resp.status_code}: {message}")
