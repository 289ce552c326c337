"""The broker client's slots: the oldest request's posts go first, and none is lost to a cancel."""

from __future__ import annotations

import asyncio

from cutman.adapters.broker_client import Slots


def test_waiters_are_served_lowest_priority_first_then_in_arrival_order() -> None:
    async def scenario() -> list[str]:
        slots = Slots(1)
        await slots.acquire(0)
        served: list[str] = []

        async def waiter(name: str, priority: int) -> None:
            await slots.acquire(priority)
            served.append(name)
            slots.release()

        tasks = [asyncio.create_task(waiter(n, p)) for n, p in (("late-a", 5), ("early", 1), ("late-b", 5))]
        await asyncio.sleep(0)
        slots.release()
        await asyncio.gather(*tasks)
        return served

    assert asyncio.run(scenario()) == ["early", "late-a", "late-b"]


def test_a_cancelled_waiter_does_not_keep_a_slot() -> None:
    async def scenario() -> bool:
        slots = Slots(1)
        await slots.acquire(0)
        gone = asyncio.create_task(slots.acquire(1))
        await asyncio.sleep(0)
        gone.cancel()
        await asyncio.gather(gone, return_exceptions=True)
        slots.release()
        await asyncio.wait_for(slots.acquire(2), timeout=1)
        return True

    assert asyncio.run(scenario())
