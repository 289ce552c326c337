"""The dedupe Lua script and its pure Python model agree, on random event sequences.

Real Redis (the session's private redis-server) runs the script through the real
adapter (cutman.adapters.alert_store); cutman.core.dedupe_machine is the model. Hypothesis
draws sequences of notifications (firing, repeated firing, resolve, several alerts and
the same alert twice in one notification), confirms, undos, crashes (a request that never
settles), and clock jumps past leases, repeat intervals and key expiry. After every step
the verdicts, every hash field, every TTL set and the Source's event count must match.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
import redis
from cutman.adapters.alert_store import (
    RESOLVED_RETENTION_S,
    Claim,
    RedisAlertStore,
    fp_key,
    stat_key,
)
from cutman.core import dedupe_machine as m
from cutman.runtime.redis_server import RedisServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

SRC = "default/model"
FPS = ("a", "b", "c")

notify = st.tuples(
    st.just("notify"),
    st.lists(st.tuples(st.sampled_from(FPS), st.sampled_from(["firing", "firing", "resolved"])),
             min_size=1, max_size=4),
    st.sampled_from([0, 0, 30]),          # repeatAfter
    st.booleans(),                        # dedupe disabled (always emit)
)
settle = st.tuples(st.just("settle"), st.integers(0, 20), st.sampled_from(["confirm", "undo", "crash"]))
tick = st.tuples(st.just("tick"), st.sampled_from([1, 5, 14, 16, 31, 700, RESOLVED_RETENTION_S]))
ops = st.lists(st.one_of(notify, settle, tick), min_size=1, max_size=30)

MAX_ACTIVE_S, LEASE_S = 600, 15


@dataclass
class Request:
    token: str
    emitted: list[str]
    settled: bool = False


@dataclass
class World:
    store: RedisAlertStore
    client: redis.Redis
    now: float = 1_000_000.0
    model: m.Keyspace = field(default_factory=m.Keyspace)
    requests: list[Request] = field(default_factory=list)
    counted: int = 0

    async def notify(self, items: list[tuple[str, str]], repeat: int, always: bool) -> None:
        token = uuid.uuid4().hex[:8]
        policy = m.Policy(MAX_ACTIVE_S, RESOLVED_RETENTION_S, repeat, always, LEASE_S)
        claims = [Claim(fp, status, uuid.uuid4().hex[:8], "Alert") for fp, status in items]
        got = await self.store.dedupe(SRC, claims, max_active_s=MAX_ACTIVE_S, token=token,
                                      repeat_after_s=repeat, always=always, lease_s=LEASE_S, now=self.now)
        expected, ttls = [], {}
        for c in claims:
            step = m.claim(self.model.state(c.fingerprint, self.now), status=c.status, event_id=c.event_id,
                           alertname=c.alertname, now=self.now, token=token, policy=policy)
            self.model = self.model.put(c.fingerprint, step, self.now)
            expected.append((step.verdict.value, step.event_id))
            if step.ttl_s is not None:
                ttls[c.fingerprint] = step.ttl_s
        assert [(v.decision.value, v.event_id) for v in got] == expected
        for fp, ttl in ttls.items():
            assert self.client.ttl(fp_key(SRC, fp)) in (ttl, ttl - 1), f"TTL of {fp}"
        emits = {"firing", "repeat", "resolved"}
        self.requests.append(Request(token, [c.fingerprint for c, (v, _) in zip(claims, expected) if v in emits]))

    async def settle(self, index: int, how: str) -> None:
        open_ = [r for r in self.requests if not r.settled]
        if not open_:
            return
        req = open_[index % len(open_)]
        req.settled = True
        if how == "crash":
            return
        confirm = how == "confirm"
        if confirm:
            await self.store.confirm_dedupe(SRC, req.emitted, token=req.token)
        else:
            await self.store.undo_dedupe(SRC, req.emitted, token=req.token)
        for fp in req.emitted:
            state, counted = m.settle(self.model.state(fp, self.now), token=req.token, confirm=confirm)
            if state is not None:
                self.model = self.model.put(fp, m.Step(state, m.Verdict.IGNORED, ""), self.now)
            self.counted += counted

    def tick(self, seconds: int) -> None:
        """Time passes; a key the model says has expired is expired in Redis too."""
        self.now += seconds
        for fp in FPS:
            if fp in self.model.keys and self.model.state(fp, self.now) is None:
                self.client.delete(fp_key(SRC, fp))
                self.model = m.Keyspace({k: v for k, v in self.model.keys.items() if k != fp})

    def check(self) -> None:
        for fp in FPS:
            state = self.model.state(fp, self.now)
            stored = self.client.hgetall(fp_key(SRC, fp))
            assert stored == (state.fields if state else {}), f"hash of {fp}"
            if stored:
                assert self.client.ttl(fp_key(SRC, fp)) > 0, f"{fp} has no TTL"
        events = self.client.hget(stat_key(SRC), "eventsProcessed")
        assert int(events or 0) == self.counted


@pytest.fixture
def clean(redis_server: RedisServer) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_server.url, decode_responses=True)
    yield client
    client.close()


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sequence=ops)
def test_lua_and_model_agree(redis_server: RedisServer, clean: redis.Redis, sequence: list[tuple]) -> None:  # type: ignore[type-arg]
    clean.flushall()

    async def go() -> None:
        world = World(RedisAlertStore(redis_server.url), clean)
        try:
            for op in sequence:
                if op[0] == "notify":
                    await world.notify(op[1], op[2], op[3])
                elif op[0] == "settle":
                    await world.settle(op[1], op[2])
                else:
                    world.tick(op[1])
                world.check()
        finally:
            await world.store.close()

    asyncio.run(go())
