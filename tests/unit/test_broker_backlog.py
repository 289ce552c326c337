"""The broker client's backlog bound: what it admits, from the drain rate it measured."""

from __future__ import annotations

from cutman.adapters.broker_client import Backlog


def test_an_idle_or_unmeasured_client_admits_any_webhook() -> None:
    b = Backlog(wait_s=5, floor=128)
    assert b.admits(5000)
    b.enter(5000, now=0.0)
    assert b.admits(5000), "no rate measured yet: nothing to judge by"


def test_past_the_events_drained_in_wait_s_a_webhook_is_refused() -> None:
    b = Backlog(wait_s=5, floor=128, window_s=0.5)
    b.enter(500, now=0.0)
    b.leave(500, 500, now=1.0)  # 500 events/s while busy
    assert b.rate == 500 and b.room() == 2500
    b.enter(2450, now=2.0)
    assert b.admits(50) and not b.admits(51)
    b.leave(2450, 2450, now=6.9)  # idle time before 2.0 is not counted: 2450 in 4.9 s
    assert round(b.rate) == 500 and b.waiting == 0 and b.admits(10_000)


def test_the_floor_holds_when_the_broker_is_slow_and_failures_lower_the_rate() -> None:
    b = Backlog(wait_s=5, floor=128, window_s=0.5)
    b.enter(100, now=0.0)
    b.leave(100, 0, now=1.0)  # nothing accepted: the broker was down
    assert b.rate == 0  # an EWMA that starts at 0 stays unmeasured
    b.enter(100, now=1.0)
    b.leave(100, 10, now=2.0)
    assert b.rate == 10 and b.room() == 128
    b.enter(100, now=3.0)
    assert b.admits(28) and not b.admits(29)
