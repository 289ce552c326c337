"""The request body, read once and bounded, and drained before an early answer.

An ASGI server may drop a keep-alive connection when the app answers without reading
the request body (hypercorn does, intermittently), and the sender then sees a reset
instead of our 4xx. Every answer therefore drains what is left of the body first, up to
the limit; past it, the answer asks to close the connection.
"""

from __future__ import annotations

from cutman.asgi import Receive, read_body


class Body:
    def __init__(self, receive: Receive, *, limit: int) -> None:
        self._receive = receive
        self._limit = limit
        self._done = False

    async def read(self) -> bytes:
        self._done = True
        return await read_body(self._receive, limit=self._limit)

    async def drain(self) -> bool:
        """Read and drop the rest of the body; False when it was too large to finish."""
        if self._done:
            return True
        self._done = True
        size = 0
        while True:
            message = await self._receive()
            if message.get("type") == "http.disconnect":
                return True
            size += len(message.get("body", b""))
            if size > self._limit:
                return False
            if not message.get("more_body", False):
                return True
