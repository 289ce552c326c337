"""The dev broker: a local stand-in for a Knative Broker (MTChannelBasedBroker).

`cutman dev` needs the functions to meet the same data plane as in a cluster, or
what works locally breaks there. So this keeps Knative's contract (ARCHITECTURE 6):
ingress `POST /<namespace>/<broker>` answers 202 only once the event is durably in a
Redis Stream; Triggers (written by the reconciler to the hash `cm:triggers`) are read
fresh for every event; each match becomes a durable delivery; delivery follows
`delivery.py`; replies re-enter the ingress; failures end in the dead-letter sink and
in a dead-letter stream. Redis access is `broker_store.py`.

This module runs the pieces together: the ASGI ingress (`broker_ingress.py`, served by
uvicorn with httptools: a broker request cost a third of the CPU it did on hypercorn,
and the dev broker shares one machine with every function), the
fan-out and dispatch workers (`broker_workers.py`), and the settings and flags
(`broker_settings.py`; BrokerSettings and parse_args are re-exported here).

Nothing is lost to a crash: entries are acked only when their work is done, every
state change is one MULTI/EXEC, and on start each worker re-reads its own pending
entries (stable consumer name) and reclaims stale ones (XAUTOCLAIM). A crash can
duplicate a delivery, never drop one: delivery is at-least-once, as in Knative.

Keys (the `{namespace/name}` hash tag keeps one broker's keys on one cluster slot):
    cm:triggers                          hash  "<ns>/<trigger>" -> Trigger manifest JSON
    cm:broker:{ns/name}:ingress          stream, group "fanout": accepted events
    cm:broker:{ns/name}:deliveries       stream, group "dispatch": one entry per match
    cm:broker:{ns/name}:dead             stream: dead-lettered deliveries (capped)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import Any, cast

import aiohttp
import redis.asyncio as aioredis
import uvicorn
from cutman import eventloop, log, metrics
from cutman.adapters.redisbase import stale_connection_retry
from cutman.runtime.broker_ingress import Ingress
from cutman.runtime.broker_settings import BrokerSettings, parse_args
from cutman.runtime.broker_store import BLOCK_MS, Store
from cutman.runtime.broker_workers import Workers
from cutman.runtime.delivery import Sender

__all__ = ["BrokerSettings", "main", "parse_args", "serve"]


async def serve(
    settings: BrokerSettings, *, shutdown_trigger: Callable[[], Awaitable[Any]] | None = None
) -> None:
    """Run the dev broker until `shutdown_trigger` returns (default: SIGINT/SIGTERM).

    Redis need not be up yet: ingress answers 503 and the workers wait for it.
    """
    client = aioredis.Redis.from_url(
        settings.redis_url,
        decode_responses=True,
        socket_connect_timeout=2.0,
        socket_timeout=BLOCK_MS / 1000 + 5.0,
        **stale_connection_retry(),
    )
    # Keep-alive connections for every delivery in flight: with fewer, each delivery past
    # the pool's keep-alive size paid a new TCP connection (and the subscriber an accept).
    # Idle connections are dropped after 3 s, before the subscribers' servers (hypercorn:
    # 5 s) close them under a delivery that reuses one.
    connector = aiohttp.TCPConnector(limit=settings.max_inflight, keepalive_timeout=3.0)
    async with aiohttp.ClientSession(connector=connector, trust_env=False, auto_decompress=False) as http:
        store = Store(client)
        ingress = Ingress(settings, store)
        workers = Workers(settings, store, Sender(http))
        server = _Server(uvicorn.Config(
            cast(Any, ingress.app), host=settings.host, port=settings.port, loop="none", http="httptools",
            interface="asgi3", lifespan="off", access_log=False, log_config=None, proxy_headers=False,
            server_header=False, timeout_keep_alive=KEEPALIVE_S,
        ))
        await workers.start()
        stopper = asyncio.create_task(_stop_on(server, shutdown_trigger))
        try:
            await server.serve()
        finally:
            stopper.cancel()
            await workers.stop()
            await client.aclose()


KEEPALIVE_S = 5
"""How long the ingress keeps an idle connection (as hypercorn did): above its clients' 3 s."""


class _Server(uvicorn.Server):
    """uvicorn, minus its signal capture: it re-raises a caught SIGTERM after serving,
    which would end the process before the workers stop; `_stop_on` handles signals."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def _stop_on(server: uvicorn.Server, trigger: Callable[[], Awaitable[Any]] | None) -> None:
    """Ask the server to exit when `trigger` returns, or on SIGINT/SIGTERM by default."""
    if trigger is None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        trigger = stop.wait
    await trigger()
    server.should_exit = True


def main(argv: Sequence[str] | None = None) -> int:
    settings = parse_args(argv)
    debug = os.environ.get("CUTMAN_LOG_LEVEL", "").lower() == "debug"
    log.setup("broker", logging.DEBUG if debug else logging.INFO)
    metrics.serve(os.environ)
    eventloop.install()
    asyncio.run(serve(settings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
