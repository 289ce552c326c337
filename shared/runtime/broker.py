"""The dev broker: a local stand-in for a Knative Broker (MTChannelBasedBroker).

`cutman dev` needs the functions to meet the same data plane as in a cluster, or
what works locally breaks there. So this keeps Knative's contract (ARCHITECTURE 6):
ingress `POST /<namespace>/<broker>` answers 202 only once the event is durably in a
Redis Stream; Triggers (written by the reconciler to the hash `cm:triggers`) are read
fresh for every event; each match becomes a durable delivery; delivery follows
`delivery.py`; replies re-enter the ingress; failures end in the dead-letter sink and
in a dead-letter stream. Redis access is `broker_store.py`.

Nothing is lost to a crash: entries are acked only when their work is done, every
state change is one MULTI/EXEC, and on start each worker re-reads its own pending
entries (stable consumer name) and reclaims stale ones (XAUTOCLAIM). A crash can
duplicate a delivery, never drop one: delivery is at-least-once, as in Knative.

Keys (the `{namespace/name}` hash tag keeps one broker's keys on one cluster slot):
    cm:triggers                          hash  "<ns>/<trigger>" -> Trigger manifest JSON
    cm:broker:{ns/name}:ingress          stream, group "fanout": accepted events
    cm:broker:{ns/name}:deliveries       stream, group "dispatch": one entry per match
    cm:broker:{ns/name}:dead             stream: dead-lettered deliveries (capped)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import httpx
import redis.asyncio as aioredis
from cloudevents.core.base import BaseCloudEvent
from cutman import log
from cutman.core.trigger_filter import matches
from cutman.errors import BadRequest, CutmanError, Invalid, NotFound, PayloadTooLarge, Unavailable
from cutman.runtime.broker_store import BLOCK_MS, Field, Group, NoGroup, Store, Stream, stream_key
from cutman.runtime.delivery import (
    NO_RESPONSE,
    Attempt,
    BackoffPolicy,
    DeliveryPolicy,
    Sender,
    arrived,
    dump_event,
    error_extensions,
    load_event,
    parse_duration,
    parse_http_event,
    resolve_destination,
    with_attributes,
)
from hypercorn.asyncio import serve as hypercorn_serve
from hypercorn.config import Config as HypercornConfig
from hypercorn.typing import ASGIFramework

logger = log.get("cutman.broker")

DEFAULT_BROKER = "default/default"
DEFAULT_PORT = 8090
DEFAULT_CONSUMER = "dev-broker"
DEAD_MAXLEN = 10_000
MAX_BODY = 4 * 1024 * 1024
RECONNECT_DELAY = 1.0

ASGIMessage = dict[str, Any]
Receive = Callable[[], Awaitable[ASGIMessage]]
Send = Callable[[ASGIMessage], Awaitable[None]]


@dataclass(frozen=True)
class BrokerSettings:
    """Everything the dev broker needs at start; `brokers` are `namespace/name`."""

    redis_url: str
    port: int = DEFAULT_PORT
    host: str = "127.0.0.1"
    brokers: tuple[str, ...] = (DEFAULT_BROKER,)
    addressables: Mapping[str, str] = field(default_factory=dict)
    delivery: DeliveryPolicy = field(default_factory=DeliveryPolicy)
    max_inflight: int = 100
    consumer: str = DEFAULT_CONSUMER
    claim_idle: float = 300.0
    claim_interval: float = 30.0
    max_body: int = MAX_BODY


class Broker:
    """Ingress (an ASGI app) plus, per configured broker, a fan-out and a dispatch worker."""

    def __init__(
        self, settings: BrokerSettings, client: aioredis.Redis, http: httpx.AsyncClient
    ) -> None:
        self.settings = settings
        self.store = Store(client)
        self.sender = Sender(http)
        self._slots = asyncio.Semaphore(settings.max_inflight)
        self._inflight: set[tuple[str, str]] = set()
        self._workers: list[asyncio.Task[None]] = []
        self._deliveries: set[asyncio.Task[None]] = set()

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
        log.info(
            logger,
            "dev broker started",
            brokers=list(self.settings.brokers),
            addressables=sorted(self.settings.addressables),
        )

    async def stop(self) -> None:
        """Cancel everything; unfinished entries stay pending and resume at next start."""
        tasks = [*self._workers, *self._deliveries]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # -- ingress ---------------------------------------------------------------------

    async def app(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        try:
            status, body = await self._route(scope, receive)
        except CutmanError as exc:
            status, body = exc.status, exc.body()
        except Exception:
            logger.exception("ingress failed")
            status, body = 500, {"error": "internal", "message": "the broker failed; see its log"}
        await _respond(send, status, body)

    async def _route(
        self, scope: dict[str, Any], receive: Receive
    ) -> tuple[int, dict[str, str] | None]:
        path = scope["path"].strip("/")
        method = scope["method"]
        if path == "health":
            await self.store.ping()
            return 200, {"status": "ok"}
        if path not in self.settings.brokers:
            raise NotFound(
                f"no broker at /{path}: this broker serves "
                + ", ".join(f"/{b}" for b in self.settings.brokers)
            )
        if method != "POST":
            return 405, {"error": "method_not_allowed", "message": "POST CloudEvents here"}
        body = await _read_body(receive, self.settings.max_body)
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        event = arrived(parse_http_event(headers, body))
        await self.store.append(stream_key(path, Stream.INGRESS), {Field.EVENT: dump_event(event)})
        log.info(logger, "event accepted", broker=path, event=event.get_id(), type=event.get_type())
        return 202, None

    # -- workers ---------------------------------------------------------------------

    async def _consume(
        self,
        broker: str,
        stream: Stream,
        group: Group,
        handle: Callable[[str, str, dict[str, str]], Awaitable[None]],
    ) -> None:
        """Own pending entries first, then stale ones of anyone, then new ones; after a
        Redis failure start over, since entries may have stayed pending."""
        key, consumer = stream_key(broker, stream), self.settings.consumer
        backlog, after, next_claim = True, "0", 0.0
        group_ready = False
        while True:
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
                for entry_id, fields in entries:
                    await handle(broker, entry_id, fields)
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

    async def _fanout(self, broker: str, entry_id: str, fields: dict[str, str]) -> None:
        done = (stream_key(broker, Stream.INGRESS), Group.FANOUT, entry_id)
        raw = fields.get(Field.EVENT)
        if raw is None:
            await self.store.commit(done)
            return
        try:
            event = load_event(raw)
        except BadRequest as exc:
            log.error(
                logger,
                "unreadable ingress entry dropped",
                broker=broker,
                entry=entry_id,
                error=exc.message,
            )
            await self.store.commit(done)
            return
        namespace, name = broker.split("/", 1)
        adds: list[tuple[str, Mapping[str, str]]] = []
        routed: list[str] = []
        for trigger, manifest in sorted((await self.store.triggers()).items()):
            spec = manifest.get("spec") or {}
            meta = manifest.get("metadata") or {}
            if (meta.get("namespace") or trigger.split("/")[0]) != namespace or spec.get(
                "broker"
            ) != name:
                continue
            try:
                if not matches(spec, event.get_attributes()):
                    continue
            except Invalid as exc:
                log.error(
                    logger,
                    "trigger filter is invalid; trigger skipped",
                    trigger=trigger,
                    field=exc.field,
                    error=exc.message,
                )
                continue
            routed.append(trigger)
            adds.append(
                (
                    stream_key(broker, Stream.DELIVERIES),
                    {
                        Field.EVENT: raw,
                        Field.TRIGGER: trigger,
                        Field.MANIFEST: json.dumps(manifest),
                    },
                )
            )
        await self.store.commit(done, adds)
        log.info(
            logger,
            "event routed" if routed else "no trigger matched; event dropped",
            broker=broker,
            event=event.get_id(),
            type=event.get_type(),
            triggers=routed,
        )

    async def _dispatch(self, broker: str, entry_id: str, fields: dict[str, str]) -> None:
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
            adds: list[tuple[str, Mapping[str, str]]] = []
            if reply is not None:
                adds.append(
                    (stream_key(broker, Stream.INGRESS), {Field.EVENT: dump_event(arrived(reply))})
                )
            await self._commit(done, adds)
            log.info(
                logger,
                "delivered",
                status=attempt.status,
                attempt=count,
                url=url,
                reply=reply.get_id() if reply else None,
                reply_type=reply.get_type() if reply else None,
            )

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
            Field.EVENT: dump_event(event),
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


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def _read_body(receive: Receive, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise BadRequest("client disconnected before the body was complete")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"event larger than {limit} bytes")
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)


async def _respond(send: Send, status: int, body: Mapping[str, str] | None) -> None:
    payload = json.dumps(body).encode() if body is not None else b""
    headers = [(b"content-length", str(len(payload)).encode())]
    if body is not None:
        headers.append((b"content-type", b"application/json"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


async def serve(
    settings: BrokerSettings, *, shutdown_trigger: Callable[[], Awaitable[Any]] | None = None
) -> None:
    """Run the dev broker until `shutdown_trigger` returns (default: SIGINT/SIGTERM).

    Redis need not be up yet: ingress answers 503 and the workers wait for it.
    """
    client = aioredis.Redis.from_url(
        settings.redis_url,
        decode_responses=True,
        socket_connect_timeout=2.0,
        socket_timeout=BLOCK_MS / 1000 + 5.0,
    )
    limits = httpx.Limits(max_connections=settings.max_inflight * 2, max_keepalive_connections=20)
    async with httpx.AsyncClient(limits=limits, trust_env=False) as http:
        broker = Broker(settings, client, http)
        config = HypercornConfig()
        config.bind = [f"{settings.host}:{settings.port}"]
        config.accesslog = None
        config.errorlog = log.get("hypercorn.error")
        await broker.start()
        try:
            app = cast(ASGIFramework, broker.app)
            await hypercorn_serve(app, config, shutdown_trigger=shutdown_trigger, mode="asgi")
        finally:
            await broker.stop()
            await client.aclose()


def parse_args(argv: Sequence[str] | None = None) -> BrokerSettings:
    """Command-line flags, falling back to REDIS_URL and CUTMAN_ADDRESSABLES."""
    defaults = DeliveryPolicy()
    p = argparse.ArgumentParser(
        prog="python -m cutman.runtime.broker",
        description="cutman dev broker (Knative Broker stand-in)",
    )
    p.add_argument("--port", type=int, default=DEFAULT_PORT)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--redis-url", default=os.environ.get("REDIS_URL"))
    p.add_argument(
        "--addressables",
        default=os.environ.get("CUTMAN_ADDRESSABLES", "{}"),
        help="JSON map of Knative Service name (or ns/name) to base URL",
    )
    p.add_argument(
        "--broker",
        action="append",
        dest="brokers",
        metavar="NAMESPACE/NAME",
        help=f"a broker to serve (repeatable; default {DEFAULT_BROKER})",
    )
    p.add_argument("--retry", type=int, default=defaults.retry)
    p.add_argument(
        "--backoff-policy",
        choices=[b.value for b in BackoffPolicy],
        default=defaults.backoff_policy.value,
    )
    p.add_argument("--backoff-delay", default="PT0.2S", help="ISO-8601 duration")
    p.add_argument("--timeout", default="PT10M", help="ISO-8601 duration per attempt")
    p.add_argument("--max-backoff", default="PT30S", help="ISO-8601 cap on one backoff delay")
    p.add_argument("--dead-letter-uri", help="broker-wide dead-letter sink URL")
    p.add_argument("--max-inflight", type=int, default=100)
    p.add_argument("--consumer", default=DEFAULT_CONSUMER, help="stable Redis consumer name")
    args = p.parse_args(argv)
    if not args.redis_url:
        p.error("--redis-url or REDIS_URL is required")
    try:
        addressables = json.loads(args.addressables)
        delivery = DeliveryPolicy(
            retry=args.retry,
            backoff_policy=BackoffPolicy(args.backoff_policy),
            backoff_delay=parse_duration(args.backoff_delay),
            timeout=parse_duration(args.timeout),
            max_backoff=parse_duration(args.max_backoff),
            dead_letter_sink={"uri": args.dead_letter_uri} if args.dead_letter_uri else None,
        )
    except ValueError as exc:
        p.error(str(exc))
    if not isinstance(addressables, dict) or not all(
        isinstance(v, str) for v in addressables.values()
    ):
        p.error("--addressables must be a JSON object of name -> URL")
    brokers = tuple(args.brokers or [DEFAULT_BROKER])
    for b in brokers:
        if b.count("/") != 1 or not all(b.split("/")):
            p.error(f"--broker {b!r} must be namespace/name")
    return BrokerSettings(
        redis_url=args.redis_url,
        port=args.port,
        host=args.host,
        brokers=brokers,
        addressables=addressables,
        delivery=delivery,
        max_inflight=args.max_inflight,
        consumer=args.consumer,
    )


def main(argv: Sequence[str] | None = None) -> int:
    settings = parse_args(argv)
    log.setup("broker")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per attempt is ours
    asyncio.run(serve(settings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
