"""`curl`: HTTP GET to hosts the workflow allows, nothing else.

No other method, no redirects followed (a redirect could leave the allowed hosts), only
http and https, and the body is read up to the tool output limit.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import httpx
from pydantic import BaseModel, ConfigDict, Field

from .base import Tool, ToolContext, ToolError


class CurlParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(min_length=1, max_length=2048, description="http(s) URL on an allowed host")


def check_url(url: str, allowed: list[str]) -> str:
    """The URL if its scheme and host are allowed; ToolError naming why not."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise ToolError("not a valid URL") from None
    if parts.scheme not in ("http", "https"):
        raise ToolError("only http and https URLs are allowed")
    host = (parts.hostname or "").lower()
    if parts.username or parts.password:
        raise ToolError("URLs with credentials are not allowed")
    candidates = {host, f"{host}:{port}"} if port else {host}
    if not candidates & {a.lower() for a in allowed}:
        raise ToolError(f"host {host!r} is not in this tool's allowedHosts")
    return url


class Curl(Tool):
    name = "curl"
    description = "HTTP GET a URL on an allowed host and read the response body."

    def __init__(self, allowed_hosts: list[str]) -> None:
        self.allowed_hosts = allowed_hosts

    def params_model(self) -> type[BaseModel]:
        return CurlParams

    async def run(self, params: Any, ctx: ToolContext) -> str:
        url = check_url(params.url, self.allowed_hosts)
        try:
            async with (
                httpx.AsyncClient(timeout=min(ctx.timeout_s, 30.0), follow_redirects=False) as client,
                client.stream("GET", url) as resp,
            ):
                body = bytearray()
                async for chunk in resp.aiter_bytes():
                    body += chunk
                    if len(body) > ctx.output_limit:
                        break
        except httpx.HTTPError as exc:
            raise ToolError(f"GET failed: {type(exc).__name__}") from None
        text = bytes(body[: ctx.output_limit]).decode("utf-8", errors="replace")
        return f"HTTP {resp.status_code}\n{text}"
