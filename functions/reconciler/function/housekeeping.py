"""The housekeeping PingSource, kept only while something waits (cutman.core.housekeeping)."""

from __future__ import annotations

from typing import Any

from cutman import log as logs
from cutman.adapters.cluster import Cluster
from cutman.adapters.store import Store
from cutman.core.housekeeping import SCOPE, housekeeping_objects
from cutman.waiting import anything_waits

logger = logs.get("cutman.reconciler.housekeeping")


async def schedule_housekeeping(store: Store, cluster: Cluster, installation: str,
                                *, starting: bool = False) -> dict[str, Any]:
    pending = starting or await anything_waits(store)
    objects = housekeeping_objects(installation=installation, approvals_pending=pending)
    deleted = await cluster.apply_objects(SCOPE, objects)
    logs.info(logger, "housekeeping scheduled" if pending else "housekeeping idle", deleted=deleted)
    return {"result": "housekeeping " + ("scheduled" if pending else "idle"), "waiting": pending,
            "deleted": deleted}
