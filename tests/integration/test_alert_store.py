"""The dedupe state machine of cutman.adapters.alert_store on a real Redis and a real three-node Redis Cluster.

Claims stay pending until confirmed; an undone or abandoned claim is re-emitted with its
first event id; another request's fresh claim is `inflight`; stats count confirmed events.
"""

from __future__ import annotations

import asyncio

from cutman.adapters.alert_store import Claim, Decision, RedisAlertStore

SRC = "default/am"


def claim(status: str = "firing", fp: str = "fp1", event: str = "e1") -> Claim:
    return Claim(fp, status, event, "X")


async def _lifecycle(url: str) -> None:
    s = RedisAlertStore(url)
    try:
        d = await s.dedupe(SRC, [claim(event="e1")], max_active_s=60, token="t1", lease_s=30)
        assert [(v.decision, v.event_id) for v in d] == [(Decision.FIRING, "e1")]
        d = await s.dedupe(SRC, [claim(event="e2")], max_active_s=60, token="t2", lease_s=30)
        assert [(v.decision, v.event_id) for v in d] == [(Decision.INFLIGHT, "e1")], "t1 still sending"
        await s.undo_dedupe(SRC, ["fp1"], token="t2")
        d = await s.dedupe(SRC, [claim(event="e3")], max_active_s=60, token="t3", lease_s=30)
        assert d[0].decision is Decision.INFLIGHT, "an undo by another request changes nothing"
        await s.undo_dedupe(SRC, ["fp1"], token="t1")
        d = await s.dedupe(SRC, [claim(event="e4")], max_active_s=60, token="t4", lease_s=30)
        assert [(v.decision, v.event_id) for v in d] == [(Decision.FIRING, "e1")], "re-emitted with the first id"
        await s.confirm_dedupe(SRC, ["fp1"], token="t4")
        assert (await s.source_stats(SRC))["eventsProcessed"] == "1"
        d = await s.dedupe(SRC, [claim(event="e5"), claim("resolved", fp="fp2", event="r0")],
                           max_active_s=60, token="t5", lease_s=30)
        assert [v.decision for v in d] == [Decision.DUPLICATE, Decision.IGNORED]

        d = await s.dedupe(SRC, [claim("resolved", event="r1")], max_active_s=60, token="t6", lease_s=0.2)
        assert [(v.decision, v.event_id) for v in d] == [(Decision.RESOLVED, "r1")]
        await asyncio.sleep(0.3)
        d = await s.dedupe(SRC, [claim("resolved", event="r2")], max_active_s=60, token="t7", lease_s=0.2)
        assert [(v.decision, v.event_id) for v in d] == [(Decision.RESOLVED, "r1")], "abandoned claim re-emitted"
        await s.confirm_dedupe(SRC, ["fp1"], token="t6")
        assert (await s.source_stats(SRC))["eventsProcessed"] == "1", "a superseded request confirms nothing"
        await s.confirm_dedupe(SRC, ["fp1"], token="t7")
        assert (await s.source_stats(SRC))["eventsProcessed"] == "2"
        d = await s.dedupe(SRC, [claim("resolved", event="r3")], max_active_s=60, token="t8", lease_s=30)
        assert d[0].decision is Decision.IGNORED
        states = await s.alert_states(SRC)
        assert states[0]["status"] == "resolved" and "token" not in states[0] and "pending" not in states[0]
    finally:
        await s.close()


def test_claim_confirm_undo_and_lease(store_url: str) -> None:
    asyncio.run(_lifecycle(store_url))


async def _repeat(url: str) -> None:
    s = RedisAlertStore(url)
    try:
        async def once(token: str, event: str, **kw: object) -> Decision:
            v = (await s.dedupe(SRC, [claim(event=event)], max_active_s=60, token=token, **kw))[0]  # type: ignore[arg-type]
            if v.decision.emits:
                await s.confirm_dedupe(SRC, ["fp1"], token=token)
            return v.decision

        assert await once("a", "e1", repeat_after_s=1) is Decision.FIRING
        assert await once("b", "e2", repeat_after_s=1) is Decision.DUPLICATE
        await asyncio.sleep(1.05)
        assert await once("c", "e3", repeat_after_s=1) is Decision.REPEAT
        assert await once("d", "e4", always=True) is Decision.REPEAT
        assert (await s.source_stats(SRC))["eventsProcessed"] == "3"
    finally:
        await s.close()


def test_repeat_after_and_dedupe_disabled(store_url: str) -> None:
    asyncio.run(_repeat(store_url))


async def _many(url: str) -> list[Decision]:
    s = RedisAlertStore(url)
    try:
        verdicts = await asyncio.gather(*(
            s.dedupe(SRC, [claim(event=f"e{i}")], max_active_s=60, token=f"t{i}", lease_s=30) for i in range(500)))
        return [v[0].decision for v in verdicts]
    finally:
        await s.close()


def test_500_concurrent_claims_on_one_client_queue_for_connections_and_one_wins(store_url: str) -> None:
    """More concurrent commands than the pool's connections wait for one instead of failing."""
    decisions = asyncio.run(_many(store_url))
    assert decisions.count(Decision.FIRING) == 1
    assert decisions.count(Decision.INFLIGHT) == 499


async def _same_alert_twice_in_one_notification(url: str) -> None:
    s = RedisAlertStore(url)
    try:
        d = await s.dedupe(SRC, [claim(event="e1"), claim(event="e2"), claim("resolved", fp="fp9", event="r1")],
                           max_active_s=60, token="t1", lease_s=30)
        assert [(v.decision, v.event_id) for v in d] == [
            (Decision.FIRING, "e1"), (Decision.DUPLICATE, "e1"), (Decision.IGNORED, "")]
        await s.confirm_dedupe(SRC, ["fp1", "fp1"], token="t1")
        assert (await s.source_stats(SRC))["eventsProcessed"] == "1"
    finally:
        await s.close()


def test_same_alert_twice_in_one_notification_is_one_event_not_inflight(store_url: str) -> None:
    """A notification repeating an alert must not wait on its own claim (that was a 503)."""
    asyncio.run(_same_alert_twice_in_one_notification(store_url))


def test_confirm_records_the_source_events_in_the_same_call_and_undo_records_none(store_url: str) -> None:
    """What the API lists as a Source's events is written by confirm itself (one round
    trip per webhook, not two); an undone request leaves no entry."""
    from cutman.adapters.event_log import RedisEventLog

    async def scenario() -> list[dict[str, str]]:
        s, log = RedisAlertStore(store_url), RedisEventLog(store_url)
        try:
            await s.dedupe(SRC, [claim(fp="fa", event="ea"), claim(fp="fb", event="eb")], max_active_s=60,
                           token="tu", lease_s=30)
            await s.undo_dedupe(SRC, ["fa", "fb"], token="tu")
            assert await log.source_events(SRC, limit=10) == []
            await s.dedupe(SRC, [claim(fp="fa", event="ea"), claim(fp="fb", event="eb")], max_active_s=60,
                           token="tc", lease_s=30)
            events = [{"type": "alert.firing", "eventId": e, "alertname": "X ü"} for e in ("ea", "eb")]
            assert await s.confirm_dedupe(SRC, ["fa", "fb"], token="tc", events=events) == 2
            return [fields for _, fields in await log.source_events(SRC, limit=10)]
        finally:
            await s.close()
            await log.close()

    assert asyncio.run(scenario()) == [
        {"type": "alert.firing", "eventId": "eb", "alertname": "X ü"},
        {"type": "alert.firing", "eventId": "ea", "alertname": "X ü"},
    ]
