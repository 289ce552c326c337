"""A schedule Source fired by the local pinger, through served ingest to the broker.

Real processes (ingest_harness: Redis, dev broker, ingest served by func-python) plus
`python -m cutman.runtime.pinger`, which stands in for the PingSource the reconciler
plans in a cluster (`cutman dev` starts it too). The schedule is `@every 1s` (a
descriptor PingSource's cron parser also accepts) so the test does not wait a minute.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from cutman.errors import Invalid
from cutman.runtime.redis_server import free_port

from tests.integration.ingest_harness import Proc, start_rig
from tests.waiting import wait_for


def schedule(cron: str, **config: object) -> dict[str, object]:
    return {"apiVersion": "cutman.dev/v1alpha1", "kind": "Source", "metadata": {"name": "ticker", "namespace": "default"},
            "spec": {"type": "schedule", "config": {"cron": cron, **config}}}


def test_pinger_fires_schedule_sources_into_source_events(tmp_path: Path) -> None:
    rig = start_rig(tmp_path)
    port = free_port()
    pinger = Proc([sys.executable, "-m", "cutman.runtime.pinger", "--redis-url", rig.redis.url, "--ingest", rig.url,
                   "--port", str(port)], dict(rig.ingest.env), port, tmp_path / "pinger.log", "/health")
    try:
        for cron, why in (("61 * * * *", "outside 0-59"), ("@every 1s", "cannot authenticate")):
            with pytest.raises(Invalid, match=why):
                rig.apply(schedule(cron, **({"authentication": {"type": "bearer", "secretRef": "x"}}
                                            if why == "cannot authenticate" else {})))
        rig.apply(schedule("@every 1s"))
        pinger.start()
        events = wait_for(lambda: len(e := rig.recorder.of_type("dev.cutman.source.event")) >= 2 and e,
                          timeout=15, what="two pings")
        assert len({e["ce-id"] for e in events}) == len(events), "each ping is its own event"
        assert {e["ce-cmsource"] for e in events} == {"default/ticker"}
        body = json.loads(rig.recorder.bodies[events[0]["ce-id"]])
        assert body["cloudevent"]["type"] == "dev.knative.sources.ping"
        assert body["data"] == {"source": "default/ticker", "schedule": "@every 1s"}
    finally:
        pinger.stop()
        rig.close()
