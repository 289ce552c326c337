"""The Store port's contract, on one real Redis and on a real three-node Redis Cluster.

Every store operation that reads or writes more than one key runs here (run create and
listing across runs of many hash slots, leases, sink records, approvals, compiled config,
routes, local Triggers, secrets, streams), so a multi-key command that crosses hash tags,
a Lua script with keys of two slots or a cross-slot transaction fails on the cluster leg
(CROSSSLOT). No doubles: redis-server processes (tests/redis_cluster.py) and redis-py's
own Redis / RedisCluster clients chosen by cutman from the URL.
"""

from __future__ import annotations

import asyncio

from cutman.adapters.store import RedisStore, lease_key
from cutman.core import engine
from cutman.models.events import EventType
from cutman.models.resources import WorkflowSpec
from cutman.models.run import Run, RunPhase, StepPhase


def make_run(run_id: str, workflow: str = "team/wf") -> Run:
    spec = WorkflowSpec.model_validate({"steps": [{"name": "a", "type": "cli", "command": "true"}]})
    return engine.new_run(run_id=run_id, workflow=workflow, spec=spec, event_id=f"e-{run_id}",
                          event_type=EventType.ALERT_FIRING, source=None, source_context={},
                          alert={"alertname": "X"}, data=None, now="2026-11-28T10:00:00.000Z")


async def _step_lease(s: RedisStore, run_id: str) -> None:
    """hold_step (lease + read, one Lua script) and finish_step (guarded save + lease drop,
    with the sweep index and update stream of other slots in the same pipeline)."""
    held, run, _ = await s.hold_step(run_id, "a", "h1", 30)
    assert held and run is not None and run.id == run_id
    held, other, left = await s.hold_step(run_id, "a", "h2", 30)
    assert not held and other is None and 0 < left <= 30, "the lease is held: no run, its time left"
    running = engine.begin_step(run=run, step="a", now="2026-11-28T10:00:01.000Z")
    await s.save_run(running)
    done = engine.complete_step(run=running, step="a", outcome=engine.Outcome(StepPhase.SUCCEEDED),
                                now="2026-11-28T10:00:02.000Z").run
    assert done.phase is RunPhase.SUCCEEDED
    assert not await s.finish_step(done, "a", "h2"), "only the lease holder saves"
    stored = await s.get_run(run_id)
    assert stored is not None and stored.phase is RunPhase.RUNNING
    assert run_id in dict(await s.active_runs()), "a refused finish leaves the run in the sweep index"
    assert await s.finish_step(done, "a", "h1")
    stored = await s.get_run(run_id)
    assert stored is not None and stored.phase is RunPhase.SUCCEEDED
    assert run_id not in dict(await s.active_runs())
    assert await s.acquire(lease_key(run_id, "a"), "h3", 30), "finish_step dropped the lease"
    held, none, _ = await s.hold_step("no-such-run", "a", "h1", 30)
    assert held and none is None


async def _runs(url: str) -> None:
    s = RedisStore(url)
    try:
        ids = [f"run-{i}" for i in range(40)]
        for i in ids:
            assert await s.create_run(make_run(i))
        assert not await s.create_run(make_run(ids[0])), "a run id is created once"
        listed = await s.list_runs(workflow="team/wf", limit=100)
        assert sorted(r.id for r in listed) == sorted(ids) and not listed.unreadable
        assert len(await s.list_runs(limit=10)) == 10
        got = await s.get_runs([ids[3], "missing", ids[7]])
        assert [r.id if r else None for r in got] == [ids[3], None, ids[7]]
        assert [i for i, _ in await s.run_index(workflow="team/wf", count=5)] == [r.id for r in listed[:5]]
        run = make_run(ids[0])
        await s.save_run(run)
        lease = lease_key(run.id, "a")
        assert await s.acquire(lease, "t1", 30) and not await s.acquire(lease, "t2", 30)
        await s.release(lease, "t2")
        assert not await s.acquire(lease, "t3", 30), "only the holder releases"
        await s.release(lease, "t1")
        assert await s.acquire(lease, "t3", 30)
        await _step_lease(s, ids[5])
        await s.record_sink(run.id, "team/console", {"phase": "Sent"})
        assert (await s.sink_records(run.id))["team/console"]["phase"] == "Sent"
        await s.track_approval(ids[1], "a", 100.0)
        await s.track_approval(ids[2], "b", 300.0)
        assert await s.due_approvals(200.0) == [(ids[1], "a")]
        await s.forget_approval(ids[1], "a")
        assert await s.due_approvals(400.0) == [(ids[2], "b")]
        assert await s.count_run("team/wf", ids[0], "Succeeded")
        assert (await s.workflow_stats("team/wf"))["runsTotal"] == 1
        assert await s.last_run_update() != "0-0"
    finally:
        await s.close()


def test_runs_leases_sinks_and_approvals(store_url: str) -> None:
    asyncio.run(_runs(store_url))


async def _config(url: str) -> None:
    s = RedisStore(url)
    try:
        assert not await s.config_synced()
        for ns in ("a", "b"):
            for name in ("x", "y"):
                await s.put_config("source", f"{ns}/{name}", {"metadata": {"name": name, "namespace": ns}})
        assert [d["metadata"]["name"] for d in await s.list_configs("source", "a")] == ["x", "y"]
        assert len(await s.list_configs("source")) == 4
        await s.delete_config("source", "a/x")
        assert await s.get_config("source", "a/x") is None
        assert (await s.get_config("source", "b/y") or {})["metadata"]["name"] == "y"
        assert await s.set_route("/webhook/one", "a/y") == "a/y"
        assert await s.set_route("/webhook/one", "b/x") == "a/y", "a taken path names its owner"
        assert await s.drop_routes("a/y") == ["/webhook/one"]
        assert await s.route("/webhook/one") is None
        await s.put_triggers({"cutman/t1": {"kind": "Trigger"}, "cutman/t2": {"kind": "Trigger"}}, [])
        await s.put_triggers({}, ["cutman/t1"])
        assert list(await s.triggers()) == ["cutman/t2"]
        await s.put_secret("a/db", {"password": "pw-1"})
        assert await s.get_secret("a/db") == {"password": "pw-1"}
        assert "pw-1" in await s.secret_values()
        await s.record_source_events("a/x", [{"event": "e1"}, {"event": "e2"}])
        assert [f["event"] for _, f in await s.source_events("a/x", limit=10)] == ["e2", "e1"]
        assert await s.ask_resync(30) and not await s.ask_resync(30), "one resync request per window"
        await s.mark_config_synced("2026-11-28T10:00:00Z")
        assert await s.config_synced() and await s.ask_resync(30), "a resync clears the request"
    finally:
        await s.close()


def test_config_routes_triggers_secrets_and_streams(store_url: str) -> None:
    asyncio.run(_config(store_url))


def test_the_cluster_leg_really_is_a_cluster(store_url: str) -> None:
    """The cluster URL gives redis-py's RedisCluster, which refuses a cross-slot MGET:
    the contract tests above would fail on one."""
    import redis.exceptions
    from redis.asyncio.cluster import RedisCluster

    async def probe() -> None:
        s = RedisStore(store_url)
        try:
            assert s.target.cluster is store_url.startswith("redis+cluster://")
            if s.target.cluster:
                assert isinstance(s._r, RedisCluster)
                try:
                    await s._r.mget("cm:run:{a}", "cm:run:{b}")
                except redis.exceptions.ClusterCrossSlotError as exc:
                    assert "slot" in str(exc).lower()
                else:
                    raise AssertionError("a cross-slot MGET was accepted")
        finally:
            await s.close()

    asyncio.run(probe())
