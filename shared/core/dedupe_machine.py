"""The dedupe state machine of one (source, fingerprint), as pure Python.

The decision runs in Redis as one Lua script per webhook (cutman.adapters.alert_store),
because it must be atomic across concurrent requests. Lua is hard to read and harder to
test, so this module states the same machine in Python: `claim` is what one alert of a
notification does to the fingerprint's hash, `settle` what a request's confirm (the
broker took the event) or undo (it did not) does. tests/integration/test_dedupe_model.py
checks, with random sequences on a real Redis, that the script and this model agree on
every verdict, every hash field and every TTL.

Numbers are kept as Lua writes them into the hash (`%.14g`), so a state compares
field for field with HGETALL.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum


class Verdict(StrEnum):
    FIRING = "firing"
    REPEAT = "repeat"
    DUPLICATE = "duplicate"
    RESOLVED = "resolved"
    IGNORED = "ignored"
    INFLIGHT = "inflight"


@dataclass(frozen=True)
class Policy:
    """Per-call knobs: how long a firing key lives, a resolved one, a repeat, a lease."""

    max_active_s: int
    resolved_s: int
    repeat_after_s: int = 0
    always: bool = False
    lease_s: float = 15.0


@dataclass(frozen=True)
class FpState:
    """The hash `cm:fp:{source}:<fp>`: field -> value as stored (strings)."""

    fields: dict[str, str] = field(default_factory=dict)

    def get(self, name: str) -> str | None:
        return self.fields.get(name)

    def num(self, name: str) -> float | None:
        raw = self.fields.get(name)
        return None if raw is None else float(raw)

    def with_(self, **changes: str) -> FpState:
        return FpState({**self.fields, **changes})

    def without(self, name: str) -> FpState:
        return FpState({k: v for k, v in self.fields.items() if k != name})


@dataclass(frozen=True)
class Step:
    """The result of one claim: the new state (None: no key), the verdict, the event id
    it carries, and the TTL the key was given (None: left as it was)."""

    state: FpState | None
    verdict: Verdict
    event_id: str
    ttl_s: int | None = None


def lua_num(x: float) -> str:
    """How Lua turns a number into the string Redis stores (LUA_NUMBER_FMT)."""
    if float(x).is_integer() and abs(x) < 1e15:
        return str(int(x))
    return f"{x:.14g}"


def claim(
    state: FpState | None, *, status: str, event_id: str, alertname: str, now: float, token: str,
    policy: Policy,
) -> Step:
    """One alert (`status` firing or resolved) of the notification sent by request `token`."""
    cur = state.get("status") if state else None
    pending = state.num("pending") if state else None
    mine = state is not None and state.get("token") == token
    if status == "firing":
        if state is not None and cur == "firing":
            count = int(state.get("count") or "0") + 1
            state = state.with_(count=str(count), lastSeen=lua_num(now))
            first = state.get("event") or ""
            if pending is not None and mine:
                return Step(state, Verdict.DUPLICATE, first)
            if pending is not None and now - pending < policy.lease_s:
                return Step(state, Verdict.INFLIGHT, first)
            if pending is not None:
                return Step(state.with_(pending=lua_num(now), token=token), Verdict.FIRING, first)
            emitted = state.num("emitted") or 0.0
            if policy.always or (policy.repeat_after_s > 0 and now - emitted >= policy.repeat_after_s):
                emissions = int(state.get("emissions") or "0") + 1
                state = state.with_(emitted=lua_num(now), event=event_id, token=token, pending=lua_num(now),
                                    emissions=str(emissions))
                return Step(state, Verdict.REPEAT, event_id)
            return Step(state, Verdict.DUPLICATE, first)
        fresh = FpState({
            "status": "firing", "since": lua_num(now), "lastSeen": lua_num(now), "count": "1",
            "emitted": lua_num(now), "emissions": "1", "event": event_id, "alertname": alertname,
            "token": token, "pending": lua_num(now),
        })
        return Step(fresh, Verdict.FIRING, event_id, ttl_s=policy.max_active_s)
    if state is not None and cur == "firing":
        state = state.with_(status="resolved", resolvedAt=lua_num(now), lastSeen=lua_num(now),
                            resolvedEvent=event_id, token=token, pending=lua_num(now))
        return Step(state, Verdict.RESOLVED, event_id, ttl_s=policy.resolved_s)
    if state is not None and cur == "resolved" and pending is not None:
        resolved_event = state.get("resolvedEvent") or ""
        if mine:
            return Step(state, Verdict.IGNORED, "")
        if now - pending < policy.lease_s:
            return Step(state, Verdict.INFLIGHT, resolved_event)
        return Step(state.with_(pending=lua_num(now), token=token), Verdict.RESOLVED, resolved_event)
    return Step(state, Verdict.IGNORED, "")


def settle(state: FpState | None, *, token: str, confirm: bool) -> tuple[FpState | None, bool]:
    """Request `token` confirms (the broker took its event) or undoes (it did not) its claim.

    Only the request that holds the claim settles it; a confirm returns True when it
    counts one event for the Source. An undone claim keeps `pending` at 0, so the next
    notification emits it again with its first event id.
    """
    if state is None or state.get("token") != token or state.get("pending") is None:
        return state, False
    if confirm:
        return state.without("pending"), True
    return state.with_(pending="0"), False


@dataclass(frozen=True)
class Keyspace:
    """A model of several fingerprints with their expiry times (for the property test)."""

    keys: dict[str, tuple[FpState, float | None]] = field(default_factory=dict)

    def state(self, key: str, now: float) -> FpState | None:
        entry = self.keys.get(key)
        if entry is None:
            return None
        state, expires = entry
        return None if expires is not None and now >= expires else state

    def put(self, key: str, step: Step, now: float) -> Keyspace:
        if step.state is None:
            return replace(self, keys={k: v for k, v in self.keys.items() if k != key})
        old = self.keys.get(key)
        expires = now + step.ttl_s if step.ttl_s is not None else (old[1] if old else None)
        return replace(self, keys={**self.keys, key: (step.state, expires)})
