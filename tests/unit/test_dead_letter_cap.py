"""A dead-lettered event is kept whole up to DEAD_EVENT_MAX bytes, else only its attributes."""

from __future__ import annotations

import json

from cutman.runtime.broker_workers import DEAD_EVENT_MAX, _capped


def test_small_events_kept_whole_big_ones_lose_their_data() -> None:
    small = json.dumps({"id": "1", "type": "t", "data": {"x": 1}})
    assert _capped(small) == small
    big = json.dumps({"id": "2", "type": "t", "source": "/s", "data": {"x": "y" * (4 * 1024 * 1024)}})
    kept = json.loads(_capped(big))
    assert len(_capped(big)) <= DEAD_EVENT_MAX
    assert kept["id"] == "2" and kept["type"] == "t" and "data" not in kept
    assert f"the event was {len(big)} bytes" in kept["cutmantruncated"]
