"""Whether the housekeeping sweep still has work: the condition for its PingSource.

The sweep (ingest's /housekeeping/approvals) expires approvals, resends the outbox,
closes sink deliveries a crash left open and fails or re-requests stalled runs. While
none of those exist it has nothing to do, so the reconciler removes its PingSource
(cutman.core.housekeeping) and ingest can scale to zero.
"""

from __future__ import annotations

import math

from .adapters.store import Store


async def anything_waits(store: Store) -> bool:
    return bool(await store.due_approvals(math.inf, limit=1)
                or await store.active_runs(limit=1)
                or await store.outbox_due(older_than_s=0, limit=1)
                or await store.open_deliveries(math.inf, limit=1))
