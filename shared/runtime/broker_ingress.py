"""The dev broker's ingress: the ASGI app behind `POST /<namespace>/<broker>`.

It answers 202 only once the event is durably in the broker's ingress Redis Stream
(Knative's contract, ARCHITECTURE 6); `GET /health` answers 200 when Redis does. What
happens to an accepted event afterwards is `broker_workers.py`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from cutman import log
from cutman.errors import BadRequest, CutmanError, NotFound, PayloadTooLarge
from cutman.runtime.broker_settings import BrokerSettings
from cutman.runtime.broker_store import Field, Store, Stream, stream_key
from cutman.runtime.delivery import arrived, dump_event, parse_http_event

logger = log.get("cutman.broker")

ASGIMessage = dict[str, Any]
Receive = Callable[[], Awaitable[ASGIMessage]]
Send = Callable[[ASGIMessage], Awaitable[None]]


class Ingress:
    """Accepts CloudEvents for the configured brokers into their ingress streams."""

    def __init__(self, settings: BrokerSettings, store: Store) -> None:
        self.settings = settings
        self.store = store

    async def app(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        try:
            status, body = await self._route(scope, receive)
        except CutmanError as exc:
            status, body = exc.status, exc.body()
        except Exception:
            logger.exception("ingress failed")
            status, body = 500, {"error": "internal", "message": "the broker failed; see its log"}
        await _respond(send, status, body)

    async def _route(
        self, scope: dict[str, Any], receive: Receive
    ) -> tuple[int, dict[str, str] | None]:
        path = scope["path"].strip("/")
        method = scope["method"]
        if path == "health":
            await self.store.ping()
            return 200, {"status": "ok"}
        if path not in self.settings.brokers:
            raise NotFound(
                f"no broker at /{path}: this broker serves "
                + ", ".join(f"/{b}" for b in self.settings.brokers)
            )
        if method != "POST":
            return 405, {"error": "method_not_allowed", "message": "POST CloudEvents here"}
        body = await _read_body(receive, self.settings.max_body)
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        event = arrived(parse_http_event(headers, body))
        await self.store.append(stream_key(path, Stream.INGRESS), {Field.EVENT: dump_event(event)})
        if logger.isEnabledFor(logging.DEBUG):
            log.debug(logger, "event accepted", broker=path, event=event.get_id(), type=event.get_type())
        return 202, None


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def _read_body(receive: Receive, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise BadRequest("client disconnected before the body was complete")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"event larger than {limit} bytes")
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)


async def _respond(send: Send, status: int, body: Mapping[str, str] | None) -> None:
    payload = json.dumps(body).encode() if body is not None else b""
    headers = [(b"content-length", str(len(payload)).encode())]
    if body is not None:
        headers.append((b"content-type", b"application/json"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
