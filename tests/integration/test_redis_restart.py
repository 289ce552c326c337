"""A Redis restart costs no request: the pooled connection is stale, and redis-py sends
the command once more on a fresh one (cutman.adapters.redisbase.stale_connection_retry).

Real redis-server (a private one on a free port), killed with SIGKILL and started again
on the same port with the same data folder, as `cutman dev`'s supervisor does.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from cutman.adapters.store import RedisStore
from cutman.runtime.redis_server import start_redis


def test_first_command_after_a_redis_restart_succeeds(tmp_path: Path) -> None:
    server = start_redis(tmp_path / "redis")

    async def go() -> tuple[bool, bool, str | None]:
        store = RedisStore(server.url)
        try:
            await store.put_config("workflow", "default/wf", {"spec": {"steps": []}})
            before = await store.ping()
            server.proc.kill()
            server.proc.wait()
            server.restart()
            cfg = await store.get_config("workflow", "default/wf")
            return before, await store.ping(), None if cfg is None else str(cfg)
        finally:
            await store.close()

    try:
        before, after, cfg = asyncio.run(go())
    finally:
        server.stop()
    assert before and after
    assert cfg is not None, "the AOF brought the data back and the stale connection was retried"
