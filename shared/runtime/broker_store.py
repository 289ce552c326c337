"""The dev broker's Redis side: key names and the one adapter that touches Redis.

Every state change of the broker is one `commit` (append + ack + delete in MULTI/EXEC),
so a crash between steps can repeat work but never lose an event. Redis errors turn
into `cutman.errors.Unavailable` here and go no further.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Mapping, Sequence
from enum import StrEnum
from typing import Any

import redis.asyncio as aioredis
from cutman import log
from cutman.errors import Unavailable
from redis.exceptions import RedisError, ResponseError

logger = log.get("cutman.broker")

TRIGGERS_KEY = "cm:triggers"
READ_COUNT = 64
BLOCK_MS = 1000

Entry = tuple[str, dict[str, str]]
Reader = tuple[str, "Group", str]
"""(stream key, group, consumer) whose new entries a commit reads in the same transaction."""
_UNPARSED: Any = object()


class Stream(StrEnum):
    INGRESS = "ingress"
    DELIVERIES = "deliveries"
    DEAD = "dead"


class Group(StrEnum):
    FANOUT = "fanout"
    DISPATCH = "dispatch"


class Field(StrEnum):
    EVENT = "event"
    TRIGGER = "trigger"
    MANIFEST = "manifest"
    CODE = "code"
    DEST = "dest"
    REASON = "reason"
    ATTEMPTS = "attempts"
    DEAD_LETTER_SINK = "deadlettersink"
    DEAD_LETTER_STATUS = "deadletterstatus"


def stream_key(broker: str, stream: Stream) -> str:
    return f"cm:broker:{{{broker}}}:{stream}"


class NoGroup(Exception):
    """The stream or its group vanished (FLUSHALL, Redis restarted empty): recreate it."""


class Store:
    """The broker's Redis adapter; raises `Unavailable` instead of redis errors."""

    def __init__(self, client: aioredis.Redis) -> None:
        self._r = client
        self._parsed: dict[str, dict[str, Any] | None] = {}

    async def _call(self, awaitable: Awaitable[Any]) -> Any:
        try:
            return await awaitable
        except ResponseError as exc:
            if str(exc).startswith(("NOGROUP", "UNBLOCKED")):
                raise NoGroup(str(exc)) from exc
            raise Unavailable(f"redis refused the command: {exc}") from exc
        except RedisError as exc:
            raise Unavailable(f"redis is unreachable: {exc}") from exc

    async def ping(self) -> None:
        await self._call(self._r.ping())

    async def ensure_group(self, key: str, group: Group) -> None:
        try:
            await self._call(self._r.xgroup_create(key, group, id="0", mkstream=True))
        except Unavailable as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def append(self, key: str, fields: Mapping[str, str]) -> str:
        payload: dict[Any, Any] = dict(fields)
        return str(await self._call(self._r.xadd(key, payload)))

    async def triggers(self) -> dict[str, tuple[dict[str, Any], str]]:
        """Every Trigger as (manifest, its JSON text). A manifest is parsed once per text:
        the table is read for every batch and every reply, and rarely changes."""
        raw: dict[str, str] = await self._call(self._r.hgetall(TRIGGERS_KEY))
        out: dict[str, tuple[dict[str, Any], str]] = {}
        parsed: dict[str, dict[str, Any] | None] = {}
        for key, text in raw.items():
            manifest = self._parsed.get(text, _UNPARSED)
            if manifest is _UNPARSED:
                try:
                    loaded = json.loads(text)
                except ValueError:
                    loaded = None
                manifest = loaded if isinstance(loaded, dict) else None
            parsed[text] = manifest
            if isinstance(manifest, dict):
                out[key] = (manifest, text)
            else:
                log.error(logger, "trigger is not a JSON object; ignored", trigger=key)
        self._parsed = parsed  # only the current texts stay cached
        return out

    async def read(
        self, key: str, group: Group, consumer: str, after: str, block: int | None
    ) -> list[Entry]:
        reply = await self._call(
            self._r.xreadgroup(group, consumer, {key: after}, count=READ_COUNT, block=block)
        )
        # RESP2 shape: [[key, [(id, fields), ...]]]; fields are empty for deleted entries.
        return [(str(i), dict(f or {})) for _, messages in reply or [] for i, f in messages]

    async def claim(self, key: str, group: Group, consumer: str, min_idle: float) -> list[Entry]:
        """Take over entries idle longer than `min_idle` seconds, whoever owned them."""
        entries: list[Entry] = []
        start = "0-0"
        while True:
            reply = await self._call(
                self._r.xautoclaim(
                    key, group, consumer, int(min_idle * 1000), start, count=READ_COUNT
                )
            )
            start, messages = str(reply[0]), reply[1]
            entries.extend((str(i), dict(f or {})) for i, f in messages)
            if start in ("0-0", "0"):
                return entries

    async def commit_many(
        self, key: str, group: Group, entry_ids: Sequence[str], adds: Sequence[tuple[str, Mapping[str, str]]],
        then_read: Reader | None = None,
    ) -> list[Entry]:
        """Append `adds` and ack + delete a batch of entries of `key` in one transaction;
        with `then_read`, also read that group's new entries (see `commit`)."""
        async with self._r.pipeline(transaction=True) as tx:
            for add_key, fields in adds:
                payload: dict[Any, Any] = dict(fields)
                tx.xadd(add_key, payload)
            if entry_ids:
                tx.xack(key, group, *entry_ids)
                tx.xdel(key, *entry_ids)
            return await self._execute(tx, then_read)

    async def commit(
        self,
        done: tuple[str, Group, str],
        adds: Sequence[tuple[str, Mapping[str, str]]] = (),
        maxlen: Mapping[str, int] | None = None,
        then_read: Reader | None = None,
    ) -> list[Entry]:
        """Append `adds` and ack + delete the `done` entry in one transaction.

        With `then_read`, the same transaction ends with a non-blocking XREADGROUP of that
        stream's new entries, returned for the caller to handle now: what it just added
        is then delivered without waiting for the group's own blocked reader to wake and
        read it (a round trip and a wake-up per hop). The entries are in the consumer's
        pending list like any read, so a crash before they are handled loses nothing.
        """
        key, group, entry_id = done
        async with self._r.pipeline(transaction=True) as tx:
            for add_key, fields in adds:
                limit = (maxlen or {}).get(add_key)
                payload: dict[Any, Any] = dict(fields)
                tx.xadd(add_key, payload, maxlen=limit, approximate=limit is not None)
            tx.xack(key, group, entry_id)
            tx.xdel(key, entry_id)
            return await self._execute(tx, then_read)

    async def _execute(self, tx: Any, then_read: Reader | None) -> list[Entry]:
        if then_read is None:
            await self._call(tx.execute())
            return []
        read_key, read_group, consumer = then_read
        tx.xreadgroup(read_group, consumer, {read_key: ">"}, count=READ_COUNT)
        results = await self._call(tx.execute(raise_on_error=False))
        for result in results[:-1]:
            if isinstance(result, Exception):
                await self._call(_raise(result))
        reply = results[-1]
        if isinstance(reply, Exception):  # its group is gone: its own worker recreates it
            return []
        return [(str(i), dict(f or {})) for _, messages in reply or [] for i, f in messages]


async def _raise(exc: Exception) -> None:
    """An error found in a transaction's results, raised where `_call` translates it."""
    raise exc
