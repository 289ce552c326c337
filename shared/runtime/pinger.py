"""The local stand-in for Knative PingSources: fires `schedule` Sources in `cutman dev`.

    python -m cutman.runtime.pinger --redis-url URL --ingest http://127.0.0.1:8080 [--port P]

Every half second it reads the schedule Sources from the compiled config in Redis and,
for each one due, posts a PingSource-shaped CloudEvent (binary mode, type
`dev.knative.sources.ping`) to ingest at /sources/<ns>/<name>, as the PingSource the
reconciler plans in a cluster would. A ping that ingest does not accept is retried with
the same event id until it is, so ingest maps it to one source event. Every
`--sweep-seconds` it also asks ingest to expire unanswered approvals, as the housekeeping
PingSource does in a cluster. GET /health on `--port` answers 200 for the supervisor.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx

from .. import log as logs
from ..adapters.store import RedisStore
from ..core.cron import CronError, Schedule, parse_cron
from ..core.namespaces import installation_namespace
from ..core.source_planning import ingest_path, ping_data, ping_name
from ..errors import CutmanError
from ..models.cloudevent import make_event, to_binary
from ..models.resources import Source, SourceType

logger = logs.get("cutman.pinger")
PING_TYPE = "dev.knative.sources.ping"
TICK_S = 0.5
SWEEP_PATH = "/housekeeping/approvals"


@dataclass
class Entry:
    cron: str
    schedule: Schedule
    due: datetime
    pending: str | None = None


class Pinger:
    def __init__(self, *, store: RedisStore, ingest: str, client: httpx.AsyncClient) -> None:
        self.store, self.ingest, self.client = store, ingest.rstrip("/"), client
        self.installation = installation_namespace(os.environ)
        self.entries: dict[str, Entry] = {}

    async def tick(self, now: datetime) -> None:
        sources = {}
        for doc in await self.store.list_configs("source"):
            src = Source.model_validate(doc)
            if src.spec.type is SourceType.SCHEDULE:
                sources[f"{src.metadata.namespace}/{src.metadata.name}"] = src
        self.entries = {k: v for k, v in self.entries.items() if k in sources}
        for key, src in sources.items():
            cron = f"{src.spec.config.timezone or ''}|{src.spec.config.cron}"
            entry = self.entries.get(key)
            if entry is None or entry.cron != cron:
                try:
                    schedule = parse_cron(src.spec.config.cron or "", timezone=src.spec.config.timezone)
                except CronError as exc:
                    logs.warning(logger, "schedule refused", source=key, reason=str(exc))
                    continue
                entry = self.entries[key] = Entry(cron, schedule, schedule.next_after(now))
            if now >= entry.due:
                entry.pending = entry.pending or str(uuid.uuid4())
                if await self._ping(src, entry.pending):
                    entry.pending = None
                    entry.due = entry.schedule.next_after(max(now, entry.due))

    async def _ping(self, src: Source, event_id: str) -> bool:
        meta = src.metadata
        event = make_event(id=event_id, type=PING_TYPE, data=ping_data(src),
                           source=f"/apis/v1/namespaces/{self.installation}/pingsources/{ping_name(meta.namespace, meta.name)}")
        msg = to_binary(event)
        try:
            resp = await self.client.post(self.ingest + ingest_path(src), headers=msg.headers, content=msg.body)
        except httpx.HTTPError as exc:
            logs.warning(logger, "ping not delivered", source=f"{meta.namespace}/{meta.name}", reason=str(exc))
            return False
        if resp.status_code >= 300:
            logs.warning(logger, "ping refused", source=f"{meta.namespace}/{meta.name}", status=resp.status_code)
            return resp.status_code < 500 and resp.status_code not in (404, 409, 429)
        logs.info(logger, "ping delivered", source=f"{meta.namespace}/{meta.name}", event=event_id)
        return True


async def _health(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    # the supervisor's readiness probe may connect and close without a request
    with contextlib.suppress(OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nOK")
        await writer.drain()
    writer.close()


async def sweep_approvals(client: httpx.AsyncClient, ingest: str, *, quiet: bool = False) -> bool:
    """What the housekeeping PingSource does in a cluster: ask ingest to expire approvals.

    `quiet` while ingest has never answered yet (it starts beside the pinger): not
    reaching it then is expected, not worth a warning. True when ingest answered.
    """
    try:
        resp = await client.post(ingest.rstrip("/") + SWEEP_PATH, json={})
    except httpx.HTTPError as exc:
        if not quiet:
            logs.warning(logger, "approval sweep failed", reason=type(exc).__name__)
        return False
    if resp.status_code != 200:
        logs.warning(logger, "approval sweep refused", status=resp.status_code)
    return True


async def serve(*, redis_url: str, ingest: str, port: int, sweep_s: float = 60.0) -> None:
    logs.setup("pinger")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per ping and sweep is ours
    store = RedisStore(redis_url)
    server = await asyncio.start_server(_health, "127.0.0.1", port)
    logs.info(logger, "pinger started", ingest=ingest, sweep_seconds=sweep_s, health_port=port)
    async with httpx.AsyncClient(timeout=10) as client:
        pinger = Pinger(store=store, ingest=ingest, client=client)
        next_sweep, reached = 0.0, False
        try:
            while True:
                try:
                    await pinger.tick(datetime.now(UTC))
                except CutmanError as exc:
                    logs.warning(logger, "tick failed", reason=exc.message)
                if time.monotonic() >= next_sweep:
                    answered = await sweep_approvals(client, ingest, quiet=not reached)
                    reached = reached or answered
                    next_sweep = time.monotonic() + (sweep_s if answered or reached else TICK_S)
                await asyncio.sleep(TICK_S)
        finally:
            server.close()
            await store.close()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m cutman.runtime.pinger")
    p.add_argument("--redis-url", default=os.environ.get("REDIS_URL"),
                   help="default REDIS_URL (keep a password off the command line)")
    p.add_argument("--ingest", required=True, help="ingest's base URL")
    p.add_argument("--port", type=int, required=True, help="port for GET /health")
    p.add_argument("--sweep-seconds", type=float, default=float(os.environ.get("CUTMAN_SWEEP_SECONDS", "60")),
                   help="how often to expire unanswered approvals (default 60, or CUTMAN_SWEEP_SECONDS)")
    args = p.parse_args(argv)
    if not args.redis_url:
        p.error("--redis-url or REDIS_URL is required")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(redis_url=args.redis_url, ingest=args.ingest, port=args.port,
                          sweep_s=args.sweep_seconds))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
