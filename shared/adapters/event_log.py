"""Append-only, capped Redis streams the API reads: run updates, source events, dead letters.

    cm:runs:updates                 stream: one entry per run change (run, workflow, phase, what)
    cm:srcev:{<ns>/<source>}        stream: events ingest handed to the broker for a Source
    cm:deadletters                  stream: dead-lettered events, as ingest's dead-letter sink got them
                                    (/housekeeping/deadletters; summaries, never event data)

Why streams: writers append in the pipeline they already send (no extra round trip on
the hot path), readers page by entry id, and the Server-Sent Events stream uses entry
ids as SSE ids so a reconnecting browser resumes where it stopped (`Last-Event-ID`).
Every stream is capped (`MAXLEN ~`), so nothing here grows without bound.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Protocol, cast

from .redisbase import RedisBase, wrap

RUN_UPDATES = "cm:runs:updates"
RUN_UPDATES_MAXLEN = 10_000
SOURCE_EVENTS_MAXLEN = 500
DEAD_LETTERS = "cm:deadletters"
DEAD_LETTERS_MAXLEN = 5_000


def source_events_key(source: str) -> str:
    return f"cm:srcev:{{{source}}}"


Entry = tuple[str, dict[str, str]]


class EventLog(Protocol):
    async def record_source_events(self, source: str, events: Sequence[dict[str, str]]) -> None: ...
    async def source_events(self, source: str, *, limit: int, before: str | None = None) -> list[Entry]: ...
    async def record_dead_letter_event(self, record: dict[str, str]) -> None: ...
    async def dead_letters(self, *, limit: int, before: str | None = None) -> list[Entry]: ...
    async def run_updates(self, after: str, *, block_ms: int | None, count: int = 200) -> list[Entry]: ...
    async def last_run_update(self) -> str: ...


def _older(before: str | None) -> str:
    return f"({before}" if before else "+"


class RedisEventLog(RedisBase):
    @wrap
    async def record_source_events(self, source: str, events: Sequence[dict[str, str]]) -> None:
        """What ingest emitted for a Source (ids and names only, never the body)."""
        if not events:
            return
        async with self._r.pipeline(transaction=False) as p:
            for e in events:
                p.xadd(source_events_key(source), cast(Any, dict(e)), maxlen=SOURCE_EVENTS_MAXLEN, approximate=True)
            await p.execute()

    @wrap
    async def source_events(self, source: str, *, limit: int, before: str | None = None) -> list[Entry]:
        return cast(list[Entry], await self._r.xrevrange(source_events_key(source), _older(before), "-", count=limit))

    @wrap
    async def record_dead_letter_event(self, record: dict[str, str]) -> None:
        await self._r.xadd(DEAD_LETTERS, cast(Any, record), maxlen=DEAD_LETTERS_MAXLEN, approximate=True)

    @wrap
    async def dead_letters(self, *, limit: int, before: str | None = None) -> list[Entry]:
        return cast(list[Entry], await self._r.xrevrange(DEAD_LETTERS, _older(before), "-", count=limit))

    @wrap
    async def run_updates(self, after: str, *, block_ms: int | None, count: int = 200) -> list[Entry]:
        """Entries after id `after`, waiting up to `block_ms` for one (None: answer at once)."""
        got: Any = await self._r.xread({RUN_UPDATES: after}, count=count, block=block_ms)
        if not got:
            return []
        _, entries = got[0]
        return list(entries)

    @wrap
    async def last_run_update(self) -> str:
        rows = cast(list[Entry], await self._r.xrevrange(RUN_UPDATES, "+", "-", count=1))
        return rows[0][0] if rows else "0-0"


def update_fields(run_id: str, workflow: str, phase: str, what: str) -> dict[str, str]:
    return {"run": run_id, "workflow": workflow, "phase": phase, "what": what}


def event_doc(entry_id: str, fields: dict[str, str]) -> dict[str, Any]:
    """A stream entry as the API shows it: its id, its time (RFC 3339, from the id), its fields."""
    millis = int(entry_id.split("-", 1)[0])
    when = datetime.fromtimestamp(millis / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return {"id": entry_id, "time": when, **fields}
