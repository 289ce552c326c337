"""`promql`: instant and range queries against a Prometheus HTTP API.

The endpoint comes from the tool's `endpoint` (or `PROMETHEUS_URL` in the runtime
environment), never from the model. The answer is the `data` of the API response, as
compact JSON, so the model sees series and values and nothing else.
"""

from __future__ import annotations

from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field

from ..llm import dumps
from .base import Tool, ToolContext, ToolError

DURATION = r"^[0-9]+(ms|s|m|h|d|w|y)$|^[0-9]+(\.[0-9]+)?$"


class PromqlParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    query: str = Field(min_length=1, max_length=4000, description="a PromQL expression")
    start: str | None = Field(default=None, max_length=40, description="range start (RFC 3339 or unix time)")
    end: str | None = Field(default=None, max_length=40, description="range end (RFC 3339 or unix time)")
    step: str | None = Field(default=None, pattern=DURATION, description="range step, e.g. 30s")
    time: str | None = Field(default=None, max_length=40, description="instant query time")


class Promql(Tool):
    name = "promql"
    description = "Query Prometheus: instant (query, optional time) or range (query, start, end, step)."

    def __init__(self, endpoint: str | None) -> None:
        self.endpoint = endpoint

    def params_model(self) -> type[BaseModel]:
        return PromqlParams

    async def run(self, params: Any, ctx: ToolContext) -> str:
        p: PromqlParams = params
        endpoint = self.endpoint or ctx.env.get("PROMETHEUS_URL")
        if not endpoint:
            raise ToolError("no Prometheus endpoint is configured for this tool")
        is_range = p.start is not None or p.end is not None or p.step is not None
        if is_range and not (p.start and p.end and p.step):
            raise ToolError("a range query needs start, end and step")
        path = "/api/v1/query_range" if is_range else "/api/v1/query"
        query: dict[str, str] = {"query": p.query}
        if is_range:
            query.update(start=p.start or "", end=p.end or "", step=p.step or "")
        elif p.time:
            query["time"] = p.time
        try:
            async with httpx.AsyncClient(timeout=min(ctx.timeout_s, 30.0)) as client:
                resp = await client.get(endpoint.rstrip("/") + path, params=query)
        except httpx.HTTPError as exc:
            raise ToolError(f"Prometheus unreachable: {type(exc).__name__}") from None
        try:
            body = resp.json()
        except ValueError:
            raise ToolError(f"Prometheus answered {resp.status_code} without JSON") from None
        if resp.status_code != 200 or body.get("status") != "success":
            raise ToolError(f"Prometheus error ({resp.status_code}): {body.get('error', 'unknown')}")
        return dumps(body.get("data"))
