"""The housekeeping PingSource exists only while something waits (scale to zero).

The reconciler's own code against kmock's Kubernetes API (tests/kube_emulator.py, the
real kubernetes client over real HTTP) and a real Redis: a tracked approval plus a
`run.awaitingapproval` makes the PingSource appear (valid against Knative's schema);
once nothing waits, a re-plan deletes it; a namespace replan
never touches it. ingest's real sweep asks for a check once nothing is left, through the real dev broker.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import httpx
from cutman.adapters.kube import KubeCluster
from cutman.adapters.store import RedisStore
from cutman.core.housekeeping import PINGSOURCE
from cutman.runtime.loader import submodule

from tests.integration.ingest_harness import start_rig
from tests.k8s_schema import errors, knative_schemas
from tests.kube_emulator import kube_api
from tests.waiting import wait_for

INSTALL = "cutman"
DRAINED = "dev.cutman.housekeeping.check"


def test_pingsource_follows_pending_approvals(redis_url: str) -> None:
    schedule = submodule("reconciler", "housekeeping").schedule_housekeeping
    reconcile = submodule("reconciler", "reconcile")

    async def main() -> None:
        store = RedisStore(redis_url)
        try:
            async with kube_api() as (emu, api):
                cluster = KubeCluster(api, INSTALL)
                idle = await schedule(store, cluster, INSTALL)
                assert idle["waiting"] is False and emu.raw_objects("pingsources", INSTALL) == {}
                await store.track_approval("run-1", "fix", 4_000_000_000.0)
                assert (await schedule(store, cluster, INSTALL))["waiting"] is True
                ping = emu.raw_objects("pingsources", INSTALL)[PINGSOURCE]
                assert errors(knative_schemas()[("sources.knative.dev/v1", "PingSource")], ping) == []
                assert ping["spec"]["sink"]["uri"] == "/housekeeping/approvals"
                rec = reconcile.Reconciler(store, cluster)
                await rec.resync(None)
                assert PINGSOURCE in emu.raw_objects("pingsources", INSTALL), "a replan keeps it"
                await store.forget_approval("run-1", "fix")
                drained = await schedule(store, cluster, INSTALL)
                assert drained["deleted"] == [f"PingSource/{PINGSOURCE}"]
                assert emu.raw_objects("pingsources", INSTALL) == {}
                assert (await schedule(store, cluster, INSTALL, starting=True))["waiting"] is True, \
                    "runs on their way: scheduled before they exist"
                assert PINGSOURCE in emu.raw_objects("pingsources", INSTALL)
        finally:
            await store.close()

    asyncio.run(main())


def test_ingest_sweep_asks_for_a_check_only_when_nothing_waits(tmp_path: Path) -> None:
    """ingest's real /housekeeping/approvals behind the real dev broker (ingest_harness)."""
    rig = start_rig(tmp_path)
    try:
        rig.apply()
        checks = {"apiVersion": "eventing.knative.dev/v1", "kind": "Trigger",
                  "metadata": {"name": "checks", "namespace": "default"},
                  "spec": {"broker": "default", "subscriber": {"uri": rig.recorder.url},
                           "filter": {"attributes": {"type": DRAINED}}}}
        rig.redis_call(lambda r: r.hset("cm:triggers", "default/checks", json.dumps(checks)))
        rig.redis_call(lambda r: r.zadd("cm:approvals", {"run-9 fix": 4_000_000_000}))
        assert httpx.post(rig.url + "/housekeeping/approvals", json={}, timeout=30).json()["expired"] == 0
        time.sleep(1.0)
        assert rig.recorder.of_type(DRAINED) == [], "an approval still waits"
        rig.redis_call(lambda r: r.delete("cm:approvals"))
        assert httpx.post(rig.url + "/housekeeping/approvals", json={}, timeout=30).status_code == 200
        wait_for(lambda: len(rig.recorder.of_type(DRAINED)) == 1, what="the drained event")
    finally:
        rig.close()
