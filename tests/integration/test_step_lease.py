"""A step's lease keeper stops when the step ends, whatever the renewal is doing then.

The post-kill stall of the crash e2e tests (a run Running until its deadline, every
redelivery answered 409 "already running"): a step ended just as its lease renewal was
on the wire. `kept()` stopped the renewer by cancelling it, and on Python 3.11 redis-py's
command send (`asyncio.wait_for(writer.drain(), ...)`) swallows a cancellation that lands
in the loop iteration where the drain finishes (CPython gh-86296, fixed in 3.12). The
renewer went on renewing every third of the lease, `kept()` waited for it forever, and
the step host never recorded the step's result nor released its lease.

Real Redis, real redis-py: the step's work ends 0..N loop iterations after the renewal's
timer fires (both sleep a third of the lease, the work's timer first). On 3.11 before
the fix it hung at offsets 1 to 3: every trial on an idle machine (12 of 32), fewer at a
load average of 11 (5 of 32), when the two timers do not always fire together.
"""

from __future__ import annotations

import asyncio
import time

from cutman.adapters.store import RedisStore
from cutman.stephost import Lease

LEASE_S = 0.06
ITERATIONS = 8
TRIALS = 8
STOP_WITHIN_S = 1.0


def test_lease_keeper_stops_when_the_step_ends_during_a_renewal(redis_url: str) -> None:
    async def scenario() -> list[tuple[int, int]]:
        store = RedisStore(redis_url)
        hung: list[tuple[int, int]] = []
        try:
            for offset in range(ITERATIONS):
                for trial in range(TRIALS):
                    key = f"cm:run:{{r{offset}-{trial}}}:lease:a"
                    assert await store.acquire(key, "token", LEASE_S)
                    lease = Lease(store, key, "token", LEASE_S)

                    async def step(lease: Lease = lease, offset: int = offset) -> None:
                        async with lease.kept():
                            await asyncio.sleep(LEASE_S / 3)  # the step ends as a renewal starts
                            for _ in range(offset):
                                await asyncio.sleep(0)

                    task = asyncio.create_task(step())
                    done, _ = await asyncio.wait({task}, timeout=STOP_WITHIN_S)
                    if not done:
                        hung.append((offset, trial))
                        for t in asyncio.all_tasks() - {asyncio.current_task()}:
                            t.cancel()  # a retry: the renewer is in its sleep most of the time
                        await asyncio.sleep(0.05)
                    await store.release(key, "token")
                    assert await store.lease_ttl(key) == 0.0
            return hung
        finally:
            await store.close()

    started = time.monotonic()
    hung = asyncio.run(scenario())
    assert hung == [], f"the lease keeper outlived its step at (offset, trial) {hung}"
    assert time.monotonic() - started < 20
