"""Small ASGI helpers the functions share: bounded bodies, JSON errors, CloudEvent replies.

Kept apart from the handlers so each `handle()` reads as decode, decide, act, reply.
"""

from __future__ import annotations

import json
import math
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from cloudevents.core.v1.event import CloudEvent

from .errors import CutmanError, MethodNotAllowed, PayloadTooLarge
from .models.cloudevent import to_binary

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

DEFAULT_BODY_LIMIT = 1024 * 1024


def headers_of(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}


async def read_body(receive: Receive, *, limit: int = DEFAULT_BODY_LIMIT) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"body is larger than the limit of {limit} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def respond(
    send: Send, status: int, body: bytes, headers: dict[str, str] | None = None
) -> None:
    hdrs = [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    hdrs.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": hdrs})
    await send({"type": "http.response.body", "body": body})


async def respond_json(
    send: Send, status: int, doc: Any, headers: dict[str, str] | None = None
) -> None:
    await respond(
        send, status, json.dumps(doc).encode(), {"content-type": "application/json", **(headers or {})}
    )


async def respond_error(send: Send, err: CutmanError) -> None:
    extra = {"retry-after": "5"} if err.status == 503 else {}
    if err.retry_after is not None:
        extra["retry-after"] = str(max(1, math.ceil(err.retry_after)))
    if isinstance(err, MethodNotAllowed):
        extra["allow"] = ", ".join(err.allow)
    await respond_json(send, err.status, err.body(), extra)


async def respond_event(send: Send, event: CloudEvent, status: int = 200) -> None:
    msg = to_binary(event)
    await respond(send, status, msg.body, dict(msg.headers))


def raw_send(send: Any) -> Send:
    """func-python's CloudEvent middleware wraps `send`; `.http` is the plain ASGI send."""
    inner = getattr(send, "http", None)
    return inner if callable(inner) else send  # type: ignore[no-any-return]
