"""uvloop as the event loop of the functions and the dev broker.

Every hot path here is socket I/O on an event loop: the HTTP server, Redis commands and
the broker posts. uvloop (libuv) does that I/O for a fraction of the CPU of asyncio's
selector loop: the no-op func-python function answers about 25% more requests per
second on it (3,930 -> 4,920 on this 2-core machine), and ingest gains more, having more
sockets per request.

func-python runs a function with `asyncio.run`, which takes its loop from the event
loop policy, so a function sets the policy in its `new()`, before func-python starts the
loop; the dev broker does the same before its own `asyncio.run`. Without uvloop (not
installable on some platform) everything runs on asyncio's own loop, only slower.
"""

from __future__ import annotations

import asyncio


def install() -> bool:
    """Make uvloop the loop of every later `asyncio.run`; False when it is not installed."""
    try:
        import uvloop
    except ImportError:
        return False
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return True
