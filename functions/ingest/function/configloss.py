"""What ingest answers when a path or a Source's config is not in Redis.

404 when the reconciler's sentinel says the compiled config is complete; otherwise the
config was lost (cutman.core.resync): 503 with Retry-After, and one resync request per
window so the reconciler rebuilds it from the CRs.
"""

from __future__ import annotations

from cutman import log as logs
from cutman.adapters.broker_client import Broker
from cutman.adapters.store import Store
from cutman.core.resync import RESYNC_REQUEST_TTL_S
from cutman.errors import CutmanError, NotFound, Unavailable
from cutman.models.cloudevent import make_event
from cutman.models.events import EventType

logger = logs.get("cutman.ingest.configloss")


class ConfigGuard:
    def __init__(self, *, store: Store, broker: Broker) -> None:
        self.store, self.broker = store, broker

    async def missing(self, message: str) -> CutmanError:
        """The error to raise for a route or config that is not found."""
        if await self.store.config_synced():
            return NotFound(message)
        if await self.store.ask_resync(RESYNC_REQUEST_TTL_S):
            try:
                await self.broker.send([make_event(type=EventType.CONFIG_RESYNC.value, source="/cutman/ingest",
                                                   data={"reason": "compiled config missing"})])
                logs.warning(logger, "compiled config missing; resync requested")
            except CutmanError as exc:
                logs.warning(logger, "resync request not sent", reason=exc.message)
        return Unavailable(f"{message}: the compiled config is missing (Redis lost it?) and the reconciler "
                           "is rebuilding it; retry")
