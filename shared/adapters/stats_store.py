"""Counters the reconciler publishes in CR status: runs per Workflow, deliveries per Sink.

    cm:wfstat:{<ns>/<wf>}                runsTotal, runsSucceeded, runsFailed
    cm:wfstat:{<ns>/<wf>}:counted:<run>  marks a run as counted (retention TTL)
    cm:sinkstat:{<ns>/<sink>}            messagesSent, lastSentTime, lastError

`run.finished` arrives at least once; the marker, set in the same Lua call as the
increments, makes a redelivery count nothing. A sink delivery is recorded once per
(run, sink) before it is counted, so sink counters need no marker.
"""

from __future__ import annotations

from typing import Protocol

from .redisbase import RedisBase, wrap

_COUNT_RUN = """
if redis.call('SET', KEYS[2], '1', 'NX', 'EX', ARGV[2]) then
  redis.call('HINCRBY', KEYS[1], 'runsTotal', 1)
  redis.call('HINCRBY', KEYS[1], 'runs' .. ARGV[1], 1)
  return 1
end
return 0
"""


class StatsStore(Protocol):
    async def count_run(self, workflow: str, run_id: str, phase: str) -> bool: ...
    async def workflow_stats(self, workflow: str) -> dict[str, int]: ...
    async def count_sink(self, sink: str, *, when: str, error: str | None = None) -> None: ...
    async def sink_stats(self, sink: str) -> dict[str, str]: ...


class RedisStatsStore(RedisBase):
    @wrap
    async def count_run(self, workflow: str, run_id: str, phase: str) -> bool:
        """Count a finished run once; False when it was already counted."""
        keys = [f"cm:wfstat:{{{workflow}}}", f"cm:wfstat:{{{workflow}}}:counted:{run_id}"]
        return bool(await self._script(_COUNT_RUN)(keys=keys, args=[phase, self.retention_s]))

    @wrap
    async def workflow_stats(self, workflow: str) -> dict[str, int]:
        raw: dict[str, str] = await self._r.hgetall(f"cm:wfstat:{{{workflow}}}")  # type: ignore[assignment]
        return {k: int(v) for k, v in raw.items()}

    @wrap
    async def count_sink(self, sink: str, *, when: str, error: str | None = None) -> None:
        key = f"cm:sinkstat:{{{sink}}}"
        if error is None:
            async with self._r.pipeline(transaction=True) as p:
                p.hincrby(key, "messagesSent", 1)
                p.hset(key, "lastSentTime", when)
                await p.execute()
        else:
            await self._r.hset(key, "lastError", f"{when} {error}"[:500])

    @wrap
    async def sink_stats(self, sink: str) -> dict[str, str]:
        raw: dict[str, str] = await self._r.hgetall(f"cm:sinkstat:{{{sink}}}")  # type: ignore[assignment]
        return raw
