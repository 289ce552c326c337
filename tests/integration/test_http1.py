"""The lean HTTP/1.1 client against real servers on loopback.

Two kinds of server: hypercorn (the server func-python and the functions run on), for
keep-alive reuse and real answers; and scripted raw-socket servers (asyncio), to answer
with the framings and failures a real server can produce: chunked bodies, bodies ended
by closing, `Connection: close`, a kept-alive connection closed while idle, garbage, an
oversized head and a server that never answers.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
from cutman.adapters import http1
from hypercorn.asyncio import serve
from hypercorn.config import Config

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def hypercorn_url() -> Iterator[str]:
    """A hypercorn app that echoes the method, path, a header and the body, and counts
    the TCP connections it was asked on."""
    port = free_port()
    stop = threading.Event()
    peers: set[Any] = set()

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        peers.add(scope["client"])
        body = b""
        more = True
        while more:
            msg = await receive()
            body += msg.get("body", b"")
            more = msg.get("more_body", False)
        headers = dict(scope["headers"])
        answer = b"|".join([scope["method"].encode(), scope["path"].encode(), headers.get(b"ce-id", b"-"), body,
                            str(len(peers)).encode()])
        await send({"type": "http.response.start", "status": 202,
                    "headers": [(b"content-length", str(len(answer)).encode()), (b"x-test", b"a"), (b"x-test", b"b")]})
        await send({"type": "http.response.body", "body": answer})

    def run() -> None:
        config = Config()
        config.bind = [f"127.0.0.1:{port}"]
        config.accesslog = None

        async def until_stopped() -> None:
            while not stop.is_set():
                await asyncio.sleep(0.05)

        asyncio.run(serve(app, config, shutdown_trigger=until_stopped))  # type: ignore[arg-type]

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            threading.Event().wait(0.02)
    yield f"http://127.0.0.1:{port}/ns/default"
    stop.set()
    thread.join(timeout=5)


def raw_server(handler: Handler) -> Callable[[Callable[[str], Awaitable[Any]]], Any]:
    """Runs `scenario(url)` against an asyncio server whose connections `handler` answers."""
    def run(scenario: Callable[[str], Awaitable[Any]]) -> Any:
        async def closing(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                await handler(reader, writer)
            except (OSError, asyncio.IncompleteReadError):
                pass
            finally:
                writer.transport.abort()

        async def main() -> Any:
            server = await asyncio.start_server(closing, "127.0.0.1", 0)
            port = server.sockets[0].getsockname()[1]
            async with server:
                result = await scenario(f"http://127.0.0.1:{port}/p")
            await asyncio.sleep(0.01)  # the closes the scenario began complete before the loop ends
            return result
        return asyncio.run(main())
    return run


async def read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")), 0)
    return head + await reader.readexactly(length)


def test_posts_reuse_one_kept_alive_connection_and_read_the_answer(hypercorn_url: str) -> None:
    async def scenario() -> list[http1.Response]:
        pool = http1.Pool(hypercorn_url, size=4)
        try:
            return [await pool.request("POST", [("ce-id", f"e{i}")], f"body{i}".encode()) for i in range(5)]
        finally:
            await pool.close()

    answers = asyncio.run(scenario())
    assert [a.status for a in answers] == [202] * 5
    assert [a.body.split(b"|")[:4] for a in answers] == [[b"POST", b"/ns/default", f"e{i}".encode(), f"body{i}".encode()]
                                                          for i in range(5)]
    connections = {a.body.split(b"|")[4] for a in answers}
    assert len({a.body.split(b"|")[4] for a in answers[1:]}) == 1 and connections <= {b"1", b"2"}, connections
    assert answers[0].headers["x-test"] == "a, b"


def test_concurrent_posts_stay_within_the_pool_size(hypercorn_url: str) -> None:
    async def scenario() -> list[int]:
        pool = http1.Pool(hypercorn_url, size=3)
        try:
            answers = await asyncio.gather(*(pool.request("POST", [], b"x" * 10) for _ in range(30)))
            assert len(pool._idle) <= 3
            return [a.status for a in answers]
        finally:
            await pool.close()

    assert asyncio.run(scenario()) == [202] * 30


def test_a_large_body_is_sent_whole(hypercorn_url: str) -> None:
    body = bytes(range(256)) * 2048  # 512 KiB, past the single-write size

    async def scenario() -> http1.Response:
        pool = http1.Pool(hypercorn_url, size=1)
        try:
            return await pool.request("POST", [], body)
        finally:
            await pool.close()

    assert asyncio.run(scenario()).body.split(b"|", 3)[3].rsplit(b"|", 1)[0] == body


def test_chunked_and_close_delimited_bodies_are_read_whole() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = await read_request(reader)
        if b"chunked" in request:
            writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                         b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nTrailer: x\r\n\r\n")
            await writer.drain()
            request = await read_request(reader)  # the connection stays usable
        writer.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end")
        await writer.drain()
        writer.close()

    async def scenario(url: str) -> list[bytes]:
        pool = http1.Pool(url, size=1)
        first = await pool.request("POST", [("x-mode", "chunked")], b"")
        second = await pool.request("POST", [], b"")
        assert pool._idle == []  # `Connection: close` is not kept
        return [first.body, second.body]

    assert raw_server(handler)(scenario) == [b"hello world", b"until the end"]


def test_an_idle_connection_the_server_closed_is_disconnected_then_a_new_one_works() -> None:
    seen: list[int] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(1)
        await read_request(reader)
        writer.write(b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        try:
            await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=5)
        except (asyncio.IncompleteReadError, TimeoutError):
            pass
        writer.transport.abort()  # as a server closing its idle end just as it is reused

    async def scenario(url: str) -> tuple[int, str, int]:
        pool = http1.Pool(url, size=1)
        first = await pool.request("POST", [], b"a")
        with pytest.raises(http1.Disconnected) as lost:
            await pool.request("POST", [], b"b")
        third = await pool.request("POST", [], b"c")
        await pool.close()
        return first.status, type(lost.value).__name__, third.status

    assert raw_server(handler)(scenario) == (202, "Disconnected", 202)
    assert len(seen) == 2


@pytest.mark.parametrize("answer, reason", [
    (b"garbage\r\n\r\n", "not an HTTP/1.x status line"),
    (b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n", "malformed header line"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 99999999\r\n\r\n", "over the"),
    (b"HTTP/1.1 200 OK\r\n" + b"x-pad: " + b"y" * 70000 + b"\r\n\r\n", "LimitOverrunError"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", "IncompleteReadError"),
])
def test_a_bad_answer_is_an_http_error_naming_what_was_wrong(answer: bytes, reason: str) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(answer)
        await writer.drain()
        writer.close()

    async def scenario(url: str) -> str:
        pool = http1.Pool(url, size=1)
        with pytest.raises(http1.HTTPError) as failed:
            await pool.request("POST", [], b"x")
        assert not isinstance(failed.value, http1.Disconnected)
        assert pool._idle == []
        return str(failed.value)

    assert reason in raw_server(handler)(scenario)


def test_a_server_that_never_answers_times_out_and_its_connection_is_dropped() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        await asyncio.sleep(5)

    async def scenario(url: str) -> str:
        pool = http1.Pool(url, size=1)
        with pytest.raises(http1.HTTPError) as failed:
            await pool.request("POST", [], b"x", timeout=0.2)
        assert pool._idle == []
        return str(failed.value)

    assert "within 0.2 s" in raw_server(handler)(scenario)


def test_a_refused_connection_is_an_http_error() -> None:
    async def scenario() -> str:
        pool = http1.Pool(f"http://127.0.0.1:{free_port()}/", size=1)
        with pytest.raises(http1.HTTPError) as failed:
            await pool.request("POST", [], b"")
        return str(failed.value)

    assert "ConnectionRefusedError" in asyncio.run(scenario())


def test_header_injection_and_non_http_urls_are_refused() -> None:
    async def scenario() -> str:
        pool = http1.Pool("http://127.0.0.1:9/", size=1)
        with pytest.raises(ValueError) as bad:
            await pool.request("POST", [("ce-subject", "a\r\nx-evil: 1")], b"")
        return str(bad.value)

    assert "line break" in asyncio.run(scenario())
    with pytest.raises(ValueError, match="not an http"):
        http1.Pool("ftp://example.com/", size=1)
