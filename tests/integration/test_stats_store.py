"""Run and sink counters on a real Redis and a real three-node Redis Cluster: a redelivered run.finished counts nothing."""

from __future__ import annotations

import asyncio

from cutman.adapters.store import RedisStore


async def _counters(url: str) -> None:
    s = RedisStore(url)
    try:
        assert await s.count_run("default/wf", "r1", "Succeeded")
        assert not await s.count_run("default/wf", "r1", "Succeeded"), "a redelivery is not a new run"
        assert await s.count_run("default/wf", "r2", "Failed")
        assert await s.workflow_stats("default/wf") == {"runsTotal": 2, "runsSucceeded": 1, "runsFailed": 1}
        assert await s.workflow_stats("default/other") == {}
        await s.count_sink("default/console", when="2026-11-28T10:00:00Z")
        await s.count_sink("default/console", when="2026-11-28T10:01:00Z", error="webhook answered 500")
        stats = await s.sink_stats("default/console")
        assert stats == {"messagesSent": "1", "lastSentTime": "2026-11-28T10:00:00Z",
                         "lastError": "2026-11-28T10:01:00Z webhook answered 500"}
    finally:
        await s.close()


def test_run_and_sink_counters(store_url: str) -> None:
    asyncio.run(_counters(store_url))
