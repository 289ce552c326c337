"""The dev broker's workers: per broker, a fan-out and a dispatch worker.

Fan-out reads the ingress stream and, for every Trigger (read fresh from the hash
`cm:triggers` for every batch read from the stream, so a Trigger applied before an event
was accepted sees it) whose filter matches, adds one durable entry to the deliveries
stream. Dispatch delivers each entry as `delivery.py` says, without waiting
for one delivery before starting the next (`max_inflight` bounds them); a reply
enters the broker as an accepted event would, and a failure ends in the dead-letter
sink and in the dead-letter stream.

A hop costs as little as the contract allows (issue 12, the run path): the transaction
that routes events also reads the deliveries it made, which start at once instead of
when the dispatch worker's blocked read wakes; and a reply is routed in the transaction
that acks its delivery (Triggers read after it arrived, as the fan-out reads them),
not appended to the ingress stream for the fan-out to pick up. Trigger manifests are
parsed once per text.

Nothing is lost to a crash: entries are acked only when their work is done, every
state change is one MULTI/EXEC, and on start each worker re-reads its own pending
entries (stable consumer name) and reclaims stale ones (XAUTOCLAIM).

Per-event lines (accepted, routed, delivered) are debug level (CUTMAN_LOG_LEVEL=debug):
at info one line per event was a third of the broker's CPU under a storm. Failures stay
one line each, and every ACTIVITY_S seconds with traffic a summary line counts events.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from cloudevents.core.base import BaseCloudEvent
from cutman import log, metrics
from cutman.core.resync import system_triggers
from cutman.core.trigger_filter import matches
from cutman.errors import BadRequest, CutmanError, Invalid, Unavailable
from cutman.runtime.broker_settings import BrokerSettings
from cutman.runtime.broker_store import (
    BLOCK_MS,
    Entry,
    Field,
    Group,
    NoGroup,
    Store,
    Stream,
    stream_key,
)
from cutman.runtime.delivery import (
    NO_RESPONSE,
    Attempt,
    DeliveryPolicy,
    Sender,
    arrived,
    dump_event,
    error_extensions,
    load_event,
    resolve_destination,
    with_attributes,
)

logger = log.get("cutman.broker")

DEAD_MAXLEN = 10_000
DEAD_EVENT_MAX = 64 * 1024
"""Bytes of one dead-lettered event kept in the stream: with DEAD_MAXLEN entries the
stream is bounded by bytes too (at most ~640 MiB, not 10,000 x 4 MiB)."""
RECONNECT_DELAY = 1.0
ACTIVITY_S = 10.0


class Workers:
    """The fan-out and dispatch workers of every configured broker, and their deliveries."""

    def __init__(self, settings: BrokerSettings, store: Store, sender: Sender) -> None:
        self.settings = settings
        self.store = store
        self.sender = sender
        self._slots = asyncio.Semaphore(settings.max_inflight)
        self._inflight: set[tuple[str, str]] = set()
        self._workers: list[asyncio.Task[None]] = []
        self._deliveries: set[asyncio.Task[None]] = set()
        self._system: dict[str, dict[str, tuple[dict[str, Any], str]]] = {}
        self.counts: Counter[str] = Counter()
        self._stopping = False

    async def start(self) -> None:
        for broker in self.settings.brokers:
            self._workers.append(
                asyncio.create_task(
                    self._consume(broker, Stream.INGRESS, Group.FANOUT, self._fanout)
                )
            )
            self._workers.append(
                asyncio.create_task(
                    self._consume(broker, Stream.DELIVERIES, Group.DISPATCH, self._dispatch)
                )
            )
        self._workers.append(asyncio.create_task(self._activity()))
        log.info(
            logger,
            "dev broker started",
            brokers=list(self.settings.brokers),
            addressables=sorted(self.settings.addressables),
        )

    async def _activity(self) -> None:
        last: Counter[str] = Counter()
        while not self._stopping:
            await asyncio.sleep(ACTIVITY_S)
            now = Counter(self.counts)
            if now != last:
                log.info(logger, "broker activity", window_s=ACTIVITY_S,
                         **{k: now[k] - last[k] for k in ("routed", "dropped", "delivered", "dead")})
                last = now

    async def stop(self) -> None:
        """Cancel everything; unfinished entries stay pending and resume at next start.

        Cancelled again until done, and the loops also end on `_stopping`: on Python 3.11
        a cancel that lands as a redis-py command finishes sending is swallowed
        (asyncio.wait_for, CPython gh-86296; see cutman.stephost.Lease), and one cancel
        could leave a worker looping and `stop` waiting forever."""
        self._stopping = True
        tasks = [*self._workers, *self._deliveries]
        while tasks := [t for t in tasks if not t.done()]:
            for task in tasks:
                task.cancel()
            await asyncio.wait(tasks, timeout=0.2)

    async def _consume(
        self,
        broker: str,
        stream: Stream,
        group: Group,
        handle: Callable[[str, list[Entry]], Awaitable[None]],
    ) -> None:
        """Own pending entries first, then stale ones of anyone, then new ones; after a
        Redis failure start over, since entries may have stayed pending."""
        key, consumer = stream_key(broker, stream), self.settings.consumer
        backlog, after, next_claim = True, "0", 0.0
        group_ready = False
        while not self._stopping:
            try:
                if not group_ready:
                    await self.store.ensure_group(key, group)
                    group_ready = True
                if backlog:
                    entries = await self.store.read(key, group, consumer, after, None)
                    if entries:
                        after = entries[-1][0]
                    else:
                        backlog = False
                elif time.monotonic() >= next_claim:
                    next_claim = time.monotonic() + self.settings.claim_interval
                    entries = await self.store.claim(key, group, consumer, self.settings.claim_idle)
                else:
                    entries = await self.store.read(key, group, consumer, ">", BLOCK_MS)
                if entries:
                    await handle(broker, entries)
            except NoGroup:
                group_ready = False
            except Unavailable as exc:
                log.warning(
                    logger,
                    "redis unavailable; worker waits",
                    broker=broker,
                    stream=str(stream),
                    error=exc.message,
                )
                backlog, after, group_ready = True, "0", False
                await asyncio.sleep(RECONNECT_DELAY)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("worker failed; restarting from pending entries")
                backlog, after = True, "0"
                await asyncio.sleep(RECONNECT_DELAY)

    async def _routes(self, broker: str) -> list[tuple[str, dict[str, Any], str]]:
        """This broker's Triggers as (name, manifest, manifest JSON), read now: an event
        accepted before a Trigger was applied may miss it, one accepted after never does."""
        namespace, name = broker.split("/", 1)
        # System Triggers (the config-resync route) are built in: a Redis that lost the
        # Trigger table must still reach the reconciler that rebuilds it.
        system = self._system.get(broker)
        if system is None:
            system = self._system[broker] = {t: (m, json.dumps(m)) for t, m in system_triggers(namespace, name).items()}
        triggers = sorted({**system, **await self.store.triggers()}.items())
        return [(t, m, text) for t, (m, text) in triggers
                if (m.get("metadata") or {}).get("namespace", t.split("/")[0]) == namespace
                and (m.get("spec") or {}).get("broker") == name]

    def _route(self, broker: str, routes: list[tuple[str, dict[str, Any], str]], raw: str,
               attributes: Mapping[str, Any], adds: list[tuple[str, Mapping[str, str]]]) -> None:
        """One delivery entry per matching Trigger, appended to `adds`."""
        matched = [t for t, m, _ in routes if self._matches(t, m, attributes)]
        texts = {t: text for t, _, text in routes}
        for trigger in matched:
            adds.append((stream_key(broker, Stream.DELIVERIES),
                         {Field.EVENT: raw, Field.TRIGGER: trigger, Field.MANIFEST: texts[trigger]}))
        self.counts["routed" if matched else "dropped"] += 1
        if logger.isEnabledFor(logging.DEBUG):
            log.debug(logger, "event routed" if matched else "no trigger matched; event dropped",
                      broker=broker, event=attributes.get("id"), type=attributes.get("type"), triggers=matched)

    def _dispatcher(self, broker: str) -> tuple[str, Group, str]:
        return stream_key(broker, Stream.DELIVERIES), Group.DISPATCH, self.settings.consumer

    async def _fanout(self, broker: str, entries: list[Entry]) -> None:
        """Route a batch of accepted events: Triggers read once for the batch (every event
        in it was accepted before the read), all matches and acks in one transaction,
        which also reads the new deliveries so that they start at once."""
        routes = await self._routes(broker)
        adds: list[tuple[str, Mapping[str, str]]] = []
        for entry_id, fields in entries:
            raw = fields.get(Field.EVENT)
            if raw is None:
                continue
            try:
                attributes = load_event(raw).get_attributes()
            except BadRequest as exc:
                log.error(logger, "unreadable ingress entry dropped", broker=broker, entry=entry_id,
                          error=exc.message)
                continue
            self._route(broker, routes, raw, attributes, adds)
        fresh = await self.store.commit_many(stream_key(broker, Stream.INGRESS), Group.FANOUT,
                                             [e for e, _ in entries], adds,
                                             then_read=self._dispatcher(broker) if adds else None)
        await self._dispatch(broker, fresh)

    def _matches(self, trigger: str, manifest: dict[str, Any], attributes: Mapping[str, Any]) -> bool:
        try:
            return matches(manifest.get("spec") or {}, attributes)
        except Invalid as exc:
            log.error(logger, "trigger filter is invalid; trigger skipped", trigger=trigger, field=exc.field,
                      error=exc.message)
            return False

    async def _dispatch(self, broker: str, entries: list[Entry]) -> None:
        for entry_id, fields in entries:
            await self._dispatch_one(broker, entry_id, fields)

    async def _dispatch_one(self, broker: str, entry_id: str, fields: dict[str, str]) -> None:
        """Start a delivery without waiting for it; the semaphore bounds how many run."""
        if (broker, entry_id) in self._inflight:
            return
        await self._slots.acquire()
        self._inflight.add((broker, entry_id))
        task = asyncio.create_task(self._deliver(broker, entry_id, fields))
        self._deliveries.add(task)

        def finished(t: asyncio.Task[None]) -> None:
            self._deliveries.discard(t)
            self._inflight.discard((broker, entry_id))
            self._slots.release()

        task.add_done_callback(finished)

    async def _deliver(self, broker: str, entry_id: str, fields: dict[str, str]) -> None:
        done = (stream_key(broker, Stream.DELIVERIES), Group.DISPATCH, entry_id)
        trigger = fields.get(Field.TRIGGER, "")
        if Field.EVENT not in fields:
            await self._commit(done)
            return
        try:
            event = load_event(fields[Field.EVENT])
            manifest = json.loads(fields[Field.MANIFEST])
        except (KeyError, ValueError, BadRequest) as exc:
            log.error(
                logger,
                "unreadable delivery entry dropped",
                broker=broker,
                entry=entry_id,
                error=str(exc),
            )
            await self._commit(done)
            return
        namespace = broker.split("/", 1)[0]
        spec = manifest.get("spec") or {}
        with log.bind(event=event.get_id(), trigger=trigger):
            policy, problems = self.settings.delivery.override(spec.get("delivery"))
            for problem in problems:
                log.error(logger, "invalid trigger delivery field; default used", problem=problem)
            try:
                url = resolve_destination(
                    spec.get("subscriber") or {}, self.settings.addressables, namespace
                )
            except CutmanError as exc:
                failed = Attempt(NO_RESPONSE, error=f"subscriber not resolvable: {exc.message}")
                await self._dead_letter(broker, done, event, trigger, policy, failed, "", 0)
                return
            attempt, count = await self.sender.send_with_retries(
                url, event, policy, prefer_reply=True, on_attempt=_log_attempt(url)
            )
            if not attempt.succeeded:
                await self._dead_letter(broker, done, event, trigger, policy, attempt, url, count)
                return
            try:
                reply = attempt.reply()
            except BadRequest as exc:
                bad = Attempt(
                    attempt.status, attempt.body, attempt.headers, f"invalid reply: {exc.message}"
                )
                await self._dead_letter(broker, done, event, trigger, policy, bad, url, count)
                return
            await self._commit_reply(broker, done, reply)
            self.counts["delivered"] += 1
            if logger.isEnabledFor(logging.DEBUG):
                log.debug(logger, "delivered", status=attempt.status, attempt=count, url=url,
                          reply=reply.get_id() if reply else None, reply_type=reply.get_type() if reply else None)

    async def _dead_letter(
        self,
        broker: str,
        done: tuple[str, Group, str],
        event: BaseCloudEvent,
        trigger: str,
        policy: DeliveryPolicy,
        attempt: Attempt,
        url: str,
        count: int,
    ) -> None:
        """Send to the dead-letter sink if there is one, and always record the failure."""
        extensions = error_extensions(attempt, url)
        reason = attempt.describe()
        if count:
            reason += f" after {count} attempt(s)" if attempt.retryable else " (not retryable)"
        dls_url, dls_status = "", ""
        if policy.dead_letter_sink:
            try:
                dls_url = resolve_destination(
                    policy.dead_letter_sink, self.settings.addressables, broker.split("/", 1)[0]
                )
            except CutmanError as exc:
                dls_status = f"dead-letter sink not resolvable: {exc.message}"
            else:
                sent, _ = await self.sender.send_with_retries(
                    dls_url,
                    with_attributes(event, **extensions),
                    policy,
                    prefer_reply=False,
                    on_attempt=_log_attempt(dls_url),
                )
                dls_status = str(sent.status) if sent.status != NO_RESPONSE else sent.describe()
        record: dict[str, str] = {
            Field.EVENT: _capped(dump_event(event)),
            Field.TRIGGER: trigger,
            Field.CODE: str(attempt.status),
            Field.DEST: url,
            Field.REASON: reason,
            Field.ATTEMPTS: str(count),
            Field.DEAD_LETTER_SINK: dls_url,
            Field.DEAD_LETTER_STATUS: dls_status,
        }
        dead = stream_key(broker, Stream.DEAD)
        await self._commit(done, [(dead, record)], {dead: DEAD_MAXLEN})
        kind = event.get_type()
        metrics.DEAD_LETTERS.labels(kind if kind.startswith(("dev.cutman.", "dev.knative.")) else "other").inc()
        self.counts["dead"] += 1
        log.error(
            logger,
            "event dead-lettered",
            status=attempt.status,
            attempt=count,
            url=url,
            reason=reason,
            dead_letter_sink=dls_url or None,
            dead_letter_status=dls_status or None,
        )

    async def _commit_reply(self, broker: str, done: tuple[str, Group, str], reply: BaseCloudEvent | None) -> None:
        """Finish a delivery whose reply (if any) enters the broker: routed here, as the
        fan-out would route it from the ingress stream, in the transaction that acks the
        delivery, and the deliveries it makes started at once. That skips a stream, two
        worker wake-ups and four round trips per reply, the hop between two steps."""
        if reply is None:
            await self._commit(done)
            return
        stamped = arrived(reply)
        raw = dump_event(stamped)
        while True:
            try:
                adds: list[tuple[str, Mapping[str, str]]] = []
                self._route(broker, await self._routes(broker), raw, stamped.get_attributes(), adds)
                fresh = await self.store.commit(done, adds, then_read=self._dispatcher(broker) if adds else None)
                break
            except (Unavailable, NoGroup) as exc:
                log.warning(logger, "cannot record delivery outcome yet; retrying", error=str(exc))
                await asyncio.sleep(RECONNECT_DELAY)
        if fresh:
            # Not awaited here: this delivery holds a slot until it returns, and waiting
            # for more slots while holding one could deadlock when all are taken.
            handoff = asyncio.create_task(self._dispatch(broker, fresh))
            self._deliveries.add(handoff)
            handoff.add_done_callback(self._deliveries.discard)

    async def _commit(
        self,
        done: tuple[str, Group, str],
        adds: Sequence[tuple[str, Mapping[str, str]]] = (),
        maxlen: Mapping[str, int] | None = None,
    ) -> None:
        """Finish a delivery, waiting out a Redis outage: the HTTP side already happened,
        and retrying the commit is cheaper than redelivering."""
        while True:
            try:
                await self.store.commit(done, adds, maxlen)
                return
            except (Unavailable, NoGroup) as exc:
                log.warning(logger, "cannot record delivery outcome yet; retrying", error=str(exc))
                await asyncio.sleep(RECONNECT_DELAY)


def _capped(text: str) -> str:
    """The stored event, or only its attributes with a note when the whole is too big."""
    if len(text) <= DEAD_EVENT_MAX:
        return text
    try:
        doc = json.loads(text)
    except ValueError:
        return text[:DEAD_EVENT_MAX]
    for key in ("data", "data_base64"):
        doc.pop(key, None)
    doc["cutmantruncated"] = f"data dropped: the event was {len(text)} bytes (limit {DEAD_EVENT_MAX})"
    return json.dumps(doc)[:DEAD_EVENT_MAX]


def _log_attempt(url: str) -> Callable[[int, Attempt], None]:
    def record(number: int, attempt: Attempt) -> None:
        if attempt.succeeded:
            return
        log.warning(
            logger,
            "delivery attempt failed",
            url=url,
            attempt=number,
            status=attempt.status,
            retryable=attempt.retryable,
            error=attempt.describe(),
        )

    return record
