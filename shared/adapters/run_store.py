"""Runs in Redis: the run document, its step leases and its sink deliveries.

    cm:run:{<id>}                   the run (JSON), retention TTL
    cm:run:{<id>}:lease:<step>      who is running a step (token, TTL)
    cm:run:{<id>}:sinks             hash: sink -> delivery record
    cm:runs, cm:runs:<ns>/<wf>      sorted sets of run ids by start time
    cm:approvals                    sorted set of "<run> <step>" by approval expiry (epoch)
    cm:active                       sorted set of runs under way by deadline (epoch), for the sweep
    cm:runs:updates                 stream: every create/save/sink record (cutman.adapters.event_log)

The update stream entry rides in the same pipeline as the write it reports, so live
views (the API's Server-Sent Events) cost the step functions no extra round trip.
"""

from __future__ import annotations

import json
import logging
import time
from typing import TYPE_CHECKING, Any, Protocol, cast

from .. import log as logs
from ..clock import parse
from ..errors import Invalid
from .event_log import RUN_UPDATES, RUN_UPDATES_MAXLEN, update_fields
from .redisbase import DEFAULT_RETENTION_S, RedisBase, wrap

if TYPE_CHECKING:
    # The run model (pydantic) and the engine are imported when a run is first read or
    # written, not with the store: a function's readiness needs only the connection.
    from ..models.run import Run

logger = logging.getLogger("cutman.runs")
RUN_RETENTION_S = DEFAULT_RETENTION_S
APPROVALS = "cm:approvals"
ACTIVE = "cm:active"

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


_HOLD = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return {1, redis.call('GET', KEYS[2])}
end
return {0, redis.call('PTTL', KEYS[1])}
"""
_FINISH = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[2], ARGV[2], 'EX', ARGV[3])
redis.call('DEL', KEYS[1])
return 1
"""


def run_key(run_id: str) -> str:
    return f"cm:run:{{{run_id}}}"


def lease_key(run_id: str, step: str) -> str:
    return f"{run_key(run_id)}:lease:{step}"


def sink_lease_key(run_id: str, sink: str) -> str:
    return f"{run_key(run_id)}:sinklease:{sink}"


class UnreadableRun(Invalid):
    """A stored run document that no longer parses (written by an older or buggy version)."""

    def __init__(self, run_id: str, reason: str) -> None:
        super().__init__(f"run {run_id} is stored but cannot be read: {reason}", field="run")
        self.run_id = run_id
        self.reason = reason


class RunList(list["Run"]):
    """Runs read from an index; `unreadable` holds the ones skipped, so callers can warn."""

    def __init__(self, runs: list[Run], unreadable: list[UnreadableRun]) -> None:
        super().__init__(runs)
        self.unreadable = unreadable


def parse_run(run_id: str, raw: str | bytes) -> Run:
    from pydantic import ValidationError

    from ..models.run import Run

    try:
        return Run.from_json(raw)
    except ValidationError as exc:
        first = exc.errors()[0] if exc.errors() else {"msg": str(exc), "loc": ()}
        where = ".".join(str(p) for p in first.get("loc", ()))
        raise UnreadableRun(run_id, f"{where + ': ' if where else ''}{first['msg']}"[:300]) from None
    except (ValueError, RecursionError) as exc:
        raise UnreadableRun(run_id, f"{type(exc).__name__}: {exc}"[:300]) from None


class RunStore(Protocol):
    async def create_run(self, run: Run) -> bool: ...
    async def get_run(self, run_id: str) -> Run | None: ...
    async def save_run(self, run: Run) -> None: ...
    async def list_runs(self, *, workflow: str | None = None, limit: int = 50) -> RunList: ...
    async def run_index(
        self, *, workflow: str | None = None, max_score: float | None = None, count: int = 100
    ) -> list[tuple[str, float]]: ...
    async def get_runs(self, run_ids: list[str]) -> list[Run | None]: ...
    async def delete_run(self, run_id: str) -> bool: ...
    async def acquire(self, name: str, token: str, ttl_s: float) -> bool: ...
    async def hold_step(self, run_id: str, step: str, token: str, ttl_s: float) -> tuple[bool, Run | None, float]: ...
    async def finish_step(self, run: Run, step: str, token: str) -> bool: ...
    async def release(self, name: str, token: str) -> None: ...
    async def record_sink(self, run_id: str, sink: str, record: dict[str, Any]) -> None: ...
    async def sink_records(self, run_id: str) -> dict[str, dict[str, Any]]: ...
    async def track_approval(self, run_id: str, step: str, expires: float) -> None: ...
    async def due_approvals(self, now: float, limit: int = 100) -> list[tuple[str, str]]: ...
    async def forget_approval(self, run_id: str, step: str) -> None: ...


class RedisRunStore(RedisBase):
    @wrap
    async def create_run(self, run: Run) -> bool:
        created = await self._r.set(run_key(run.id), run.to_json(), nx=True, ex=self.retention_s)
        if created:
            score = time.time()
            async with self._r.pipeline(transaction=False) as p:
                for index in ("cm:runs", f"cm:runs:{run.workflow}"):
                    p.zadd(index, {run.id: score})
                    p.zremrangebyscore(index, "-inf", score - self.retention_s)
                    p.expire(index, self.retention_s)
                _active(p, run)
                _updated(p, run, "created")
                await p.execute()
        return bool(created)

    @wrap
    async def get_run(self, run_id: str) -> Run | None:
        raw = await self._r.get(run_key(run_id))
        return parse_run(run_id, raw) if raw else None

    @wrap
    async def save_run(self, run: Run) -> None:
        async with self._r.pipeline(transaction=False) as p:
            p.set(run_key(run.id), run.to_json(), ex=self.retention_s)
            _active(p, run)
            _updated(p, run, "saved")
            await p.execute()

    @wrap
    async def list_runs(self, *, workflow: str | None = None, limit: int = 50) -> RunList:
        """The newest runs; one that cannot be parsed is skipped and listed in `unreadable`."""
        index = f"cm:runs:{workflow}" if workflow else "cm:runs"
        ids: list[str] = await self._r.zrevrange(index, 0, limit - 1)  # type: ignore[assignment]
        if not ids:
            return RunList([], [])
        raws = await self._get_each([run_key(i) for i in ids])
        runs: list[Run] = []
        unreadable: list[UnreadableRun] = []
        for run_id, raw in zip(ids, raws, strict=True):
            if not raw:
                continue
            try:
                runs.append(parse_run(run_id, raw))
            except UnreadableRun as exc:
                unreadable.append(exc)
        return RunList(runs, unreadable)

    @wrap
    async def run_index(
        self, *, workflow: str | None = None, max_score: float | None = None, count: int = 100
    ) -> list[tuple[str, float]]:
        """Run ids with their start time, newest first, starting at `max_score` (inclusive)."""
        index = f"cm:runs:{workflow}" if workflow else "cm:runs"
        top = "+inf" if max_score is None else repr(max_score)
        rows: list[tuple[str, float]] = await self._r.zrevrangebyscore(  # type: ignore[assignment]
            index, top, "-inf", start=0, num=count, withscores=True)
        return [(str(m), float(s)) for m, s in rows]

    @wrap
    async def get_runs(self, run_ids: list[str]) -> list[Run | None]:
        if not run_ids:
            return []
        raws = await self._get_each([run_key(i) for i in run_ids])
        out: list[Run | None] = []
        for run_id, raw in zip(run_ids, raws, strict=True):
            try:
                out.append(parse_run(run_id, raw) if raw else None)
            except UnreadableRun as exc:
                logs.warning(logger, "run skipped", run=run_id, reason=exc.reason)
                out.append(None)
        return out

    @wrap
    async def delete_run(self, run_id: str) -> bool:
        """Forget a run, its sink records and its index entries; False when there was none."""
        raw = await self._r.get(run_key(run_id))
        if raw is None:
            return False
        workflow: str | None
        try:
            run = parse_run(run_id, raw)
            workflow, waiting = run.workflow, [f"{run_id} {s.name}" for s in run.steps if s.approval is not None]
        except UnreadableRun:
            workflow, waiting = _workflow_of(raw), []
        async with self._r.pipeline(transaction=False) as p:
            p.delete(run_key(run_id), f"{run_key(run_id)}:sinks")
            p.zrem("cm:runs", run_id)
            if workflow:
                p.zrem(f"cm:runs:{workflow}", run_id)
            if waiting:
                p.zrem(APPROVALS, *waiting)
            await p.execute()
        return True

    @wrap
    async def acquire(self, name: str, token: str, ttl_s: float) -> bool:
        return bool(await self._r.set(name, token, nx=True, px=max(1, int(ttl_s * 1000))))

    @wrap
    async def hold_step(self, run_id: str, step: str, token: str, ttl_s: float) -> tuple[bool, Run | None, float]:
        """Take a step's lease and read the run under it, in one round trip (one Lua script:
        the lease and the run share the run's hash tag). Returns (True, the run or None,
        0) when the lease is now ours, (False, None, seconds it has left) when it is not."""
        held, value = await self._r.eval(
            _HOLD, 2, lease_key(run_id, step), run_key(run_id), token, max(1, int(ttl_s * 1000)))
        if int(held):
            return True, (parse_run(run_id, value) if value else None), 0.0
        return False, None, max(int(value), 0) / 1000.0

    @wrap
    async def finish_step(self, run: Run, step: str, token: str) -> bool:
        """Save a run whose step ended and drop the step's lease, only while `token` still
        holds it (else False: the step was taken over, and its result must not land).

        One round trip: the guarded write is a Lua script on the run's own keys, and the
        sweep index and update stream (other slots) ride in the same pipeline. When the
        guard refuses, the index is put back as the stored run says, since the pipeline
        wrote it for this run's phase.
        """
        async with self._r.pipeline(transaction=False) as p:
            p.eval(_FINISH, 2, lease_key(run.id, step), run_key(run.id), token, run.to_json(), self.retention_s)
            _active(p, run)
            _updated(p, run, "saved")
            done, *_ = await p.execute()
        if int(done):
            return True
        raw = await self._r.get(run_key(run.id))
        if raw:
            async with self._r.pipeline(transaction=False) as p:
                _active(p, parse_run(run.id, raw))
                await p.execute()
        return False

    @wrap
    async def release(self, name: str, token: str) -> None:
        await self._script(_RELEASE)(keys=[name], args=[token])

    @wrap
    async def record_sink(self, run_id: str, sink: str, record: dict[str, Any]) -> None:
        key = f"{run_key(run_id)}:sinks"
        async with self._r.pipeline(transaction=False) as p:
            p.hset(key, sink, json.dumps(record))
            p.expire(key, self.retention_s)
            p.xadd(RUN_UPDATES, cast(Any, update_fields(run_id, "", str(record.get("phase", "")), f"sink:{sink}")),
                   maxlen=RUN_UPDATES_MAXLEN, approximate=True)
            await p.execute()

    @wrap
    async def sink_records(self, run_id: str) -> dict[str, dict[str, Any]]:
        raw: dict[str, str] = await self._r.hgetall(f"{run_key(run_id)}:sinks")  # type: ignore[assignment]
        return {k: json.loads(v) for k, v in raw.items()}

    @wrap
    async def track_approval(self, run_id: str, step: str, expires: float) -> None:
        """Remember when a waiting approval expires, so a sweep can fail it on time."""
        await self._r.zadd(APPROVALS, {f"{run_id} {step}": expires})

    @wrap
    async def due_approvals(self, now: float, limit: int = 100) -> list[tuple[str, str]]:
        members: list[str] = await self._r.zrangebyscore(  # type: ignore[assignment]
            APPROVALS, "-inf", now, start=0, num=limit)
        return [(m.split(" ", 1)[0], m.split(" ", 1)[1]) for m in members if " " in m]

    @wrap
    async def forget_approval(self, run_id: str, step: str) -> None:
        await self._r.zrem(APPROVALS, f"{run_id} {step}")


def _active(p: Any, run: Run) -> None:
    """Runs under way, by deadline: what the housekeeping sweep looks at."""
    from ..core.engine import deadline

    if run.phase.done:
        p.zrem(ACTIVE, run.id)
    else:
        p.zadd(ACTIVE, {run.id: parse(deadline(run)).timestamp()})


def _updated(p: Any, run: Run, what: str) -> None:
    p.xadd(RUN_UPDATES, update_fields(run.id, run.workflow, run.phase.value, what),
           maxlen=RUN_UPDATES_MAXLEN, approximate=True)


def _workflow_of(raw: str | bytes) -> str | None:
    """The workflow of a run document too damaged to parse as a Run, if it says."""
    try:
        doc = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    workflow = doc.get("workflow") if isinstance(doc, dict) else None
    return workflow if isinstance(workflow, str) else None
