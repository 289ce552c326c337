"""ingest's `/housekeeping/approvals`: expire approvals nobody answered, on a clock.

A step waiting for approval is only failed when something requests it again, so a
PingSource (deploy/knative/base/housekeeping.yaml; the pinger in `cutman dev`) calls this
every minute. Each expired approval gets the step.requested that makes its step fail,
handed to the broker before the approval is forgotten, so a broker outage only delays
it to the next sweep. Answering a sweep twice is harmless: the step host replays.
"""

from __future__ import annotations

import time

from cutman import log as logs
from cutman.adapters.broker_client import Broker
from cutman.adapters.store import Store
from cutman.approvals import due_expiries
from cutman.asgi import Receive, Scope, Send, read_body, respond_error, respond_json
from cutman.errors import CutmanError, NotFound

PATH = "/housekeeping/approvals"
logger = logs.get("cutman.ingest.housekeeping")


class Housekeeping:
    def __init__(self, *, store: Store, broker: Broker) -> None:
        self.store, self.broker = store, broker

    async def serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            if scope["method"] != "POST":
                raise NotFound(f"{PATH} takes POST")
            await read_body(receive, limit=64 * 1024)
            expired = await self.sweep()
        except CutmanError as err:
            logs.warning(logger, "approval sweep failed", status=err.status, reason=err.message)
            await respond_error(send, err)
            return
        await respond_json(send, 200, {"expired": expired})

    async def sweep(self) -> int:
        due = await due_expiries(self.store, now=time.time())
        events = [d.event for d in due if d.event is not None]
        await self.broker.send(events)
        for d in due:
            await self.store.forget_approval(d.run, d.step)
        if events:
            logs.info(logger, "approvals expired", runs=[d.run for d in due if d.event is not None])
        return len(events)
