"""A lean HTTP/1.1 client for the event hot path: small POSTs over keep-alive connections.

Why our own instead of aiohttp or httpx: an event's trip to the broker is one small POST
answered by a status line, and ingest makes one per alert (the Knative Broker's ingress
takes one event per request). Measured on this machine, that POST cost ingest 0.36 ms of
CPU with aiohttp and 1.6 ms with httpx, most of its whole cost per alert; this client,
which does only what that trip needs, costs a fraction of it (bench/, issue 12). For
anything else (APIs, sinks, redirects, proxies) use httpx.

What it does: one pool of keep-alive connections per origin (http or https), bounded in
size; a request written in one write; the answer read with its body delimited by
Content-Length, chunked encoding or the connection's close; a connection reused only
when the answer allows it (HTTP/1.1 without `Connection: close`), not idle longer than
`keepalive_s` (below the servers' own idle timeouts), and never after an error or a
cancelled request, whose state is unknown. Heads are bounded by `max_head` and bodies by
`max_body`. What it does not: redirects, proxies, compression, cookies, pipelining.

Errors: `HTTPError` for every transport failure (refused, reset, timed out, malformed or
oversized answer); `Disconnected`, a subclass, when a reused idle connection turned out
closed before any answer byte arrived: the request was not processed and is safe to send
again on a new connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

DEFAULT_KEEPALIVE_S = 3.0
MAX_HEAD = 64 * 1024
MAX_BODY = 4 * 1024 * 1024
ONE_WRITE = 64 * 1024
"""Bodies below this go out with the head in one write (one syscall); larger ones are not copied."""


class HTTPError(Exception):
    """The request failed below HTTP: no usable answer was received."""


class Disconnected(HTTPError):
    """A reused connection was closed by the server before it answered: safe to resend."""


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str]
    """Lower-cased names; repeated headers joined with ", "."""
    body: bytes


@dataclass
class _Conn:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    used: float = field(default_factory=time.monotonic)
    reused: bool = False

    def stale(self, now: float, keepalive_s: float) -> bool:
        return now - self.used > keepalive_s or self.reader.at_eof() or self.writer.is_closing()

    def close(self) -> None:
        self.writer.close()


class Pool:
    """Keep-alive connections to the origin of `url`; `request` targets its path by default."""

    def __init__(
        self, url: str, *, size: int = 32, keepalive_s: float = DEFAULT_KEEPALIVE_S,
        max_head: int = MAX_HEAD, max_body: int = MAX_BODY,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{url!r} is not an http(s) URL")
        if size < 1:
            raise ValueError("pool size must be at least 1")
        self.host = parts.hostname
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.tls = ssl.create_default_context() if parts.scheme == "https" else None
        self.target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self.authority = parts.netloc.rsplit("@", 1)[-1]
        self.keepalive_s = keepalive_s
        self.max_head = max_head
        self.max_body = max_body
        self._idle: list[_Conn] = []
        self._room = asyncio.Semaphore(size)
        self._closed = False

    async def request(
        self, method: str, headers: Iterable[tuple[str, str]], body: bytes = b"", *,
        target: str | None = None, timeout: float = 10.0,
    ) -> Response:
        """Send one request and read its whole answer; raises HTTPError (see the module)."""
        if self._closed:
            raise HTTPError("the pool is closed")
        head = self._head(method, target or self.target, headers, len(body))
        async with self._room:
            conn = self._take()
            reusable = False
            try:
                async with asyncio.timeout(timeout):
                    if conn is None:
                        conn = await self._open()
                    if len(body) < ONE_WRITE:
                        conn.writer.write(head + body)
                    else:
                        conn.writer.writelines((head, body))
                        await conn.writer.drain()
                    response, reusable = await self._read(conn, method)
                return response
            except TimeoutError:
                raise HTTPError(f"no answer from {self.authority} within {timeout:g} s") from None
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:
                if conn is not None and conn.reused and _closed_unanswered(exc):
                    raise Disconnected(f"{self.authority} closed a kept-alive connection") from None
                raise HTTPError(f"{self.authority}: {type(exc).__name__} {exc}") from None
            finally:
                if conn is not None:
                    if reusable and not self._closed:
                        conn.used = time.monotonic()
                        conn.reused = True
                        self._idle.append(conn)
                    else:
                        conn.close()

    def _take(self) -> _Conn | None:
        now = time.monotonic()
        while self._idle:
            conn = self._idle.pop()
            if not conn.stale(now, self.keepalive_s):
                return conn
            conn.close()
        return None

    async def _open(self) -> _Conn:
        reader, writer = await asyncio.open_connection(
            self.host, self.port, ssl=self.tls, limit=self.max_head,
            server_hostname=self.host if self.tls else None,
        )
        return _Conn(reader, writer)

    def _head(self, method: str, target: str, headers: Iterable[tuple[str, str]], length: int) -> bytes:
        lines = [f"{method} {target} HTTP/1.1", f"host: {self.authority}", f"content-length: {length}"]
        for name, value in headers:
            if "\r" in name or "\n" in name or ":" in name or "\r" in value or "\n" in value:
                raise ValueError(f"header {name!r} has a line break or colon where none may be")
            lines.append(f"{name}: {value}")
        lines.append("\r\n")
        return "\r\n".join(lines).encode("latin-1")

    async def _read(self, conn: _Conn, method: str) -> tuple[Response, bool]:
        while True:
            raw = await conn.reader.readuntil(b"\r\n\r\n")
            status, version, headers = _parse_head(raw)
            if status >= 200 or status == 101:
                break
        keep = version == "HTTP/1.1" and "close" not in headers.get("connection", "").lower()
        if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
            return Response(status, headers, b""), keep
        if "chunked" in headers.get("transfer-encoding", "").lower():
            return Response(status, headers, await self._chunked(conn.reader)), keep
        if "content-length" in headers:
            length = int(headers["content-length"])
            if length < 0 or length > self.max_body:
                raise ValueError(f"answer body of {length} bytes is over the {self.max_body} limit")
            return Response(status, headers, await conn.reader.readexactly(length)), keep
        body = await conn.reader.read(self.max_body + 1)
        while len(body) <= self.max_body and not conn.reader.at_eof():
            more = await conn.reader.read(self.max_body + 1 - len(body))
            if not more:
                break
            body += more
        if len(body) > self.max_body:
            raise ValueError(f"answer body over the {self.max_body} limit")
        return Response(status, headers, body), False

    async def _chunked(self, reader: asyncio.StreamReader) -> bytes:
        parts: list[bytes] = []
        total = 0
        while True:
            line = await reader.readuntil(b"\r\n")
            size = int(line.split(b";", 1)[0].strip(), 16)
            if size == 0:
                while await reader.readuntil(b"\r\n") != b"\r\n":
                    pass
                return b"".join(parts)
            total += size
            if total > self.max_body:
                raise ValueError(f"answer body over the {self.max_body} limit")
            parts.append((await reader.readexactly(size + 2))[:-2])

    async def close(self) -> None:
        self._closed = True
        idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()
        for conn in idle:
            with contextlib.suppress(OSError):
                await conn.writer.wait_closed()


def _closed_unanswered(exc: Exception) -> bool:
    """The connection ended (closed or reset) before the first byte of an answer."""
    if isinstance(exc, asyncio.IncompleteReadError):
        return not exc.partial
    return isinstance(exc, (ConnectionResetError, BrokenPipeError))


def _parse_head(raw: bytes) -> tuple[int, str, dict[str, str]]:
    lines = raw.decode("latin-1").split("\r\n")
    version, _, rest = lines[0].partition(" ")
    code = rest.split(" ", 1)[0]
    if not version.startswith("HTTP/1.") or len(code) != 3 or not code.isdigit():
        raise ValueError(f"not an HTTP/1.x status line: {lines[0][:80]!r}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise ValueError(f"malformed header line {line[:80]!r}")
        key = name.strip().lower()
        value = value.strip()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    return int(code), version, headers
