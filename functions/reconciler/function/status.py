"""What each CR's `status` should say: pure, from the plan's problems and the counters.

The `Ready` condition carries a reason and a message a human can act on ("sink 'slack'
does not exist"). Its `lastTransitionTime` only moves when `status` flips, so writing the
same status again is a no-op and the status patch -> update event -> reconcile cycle
settles after one round.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from cutman.models.resources import Kind

READY = "Ready"


class Reason(StrEnum):
    READY = "Ready"
    SINK_NOT_FOUND = "SinkNotFound"
    WORKFLOW_NOT_FOUND = "WorkflowNotFound"
    INVALID = "InvalidSpec"
    PATH_CONFLICT = "PathConflict"
    SECRET_NOT_FOUND = "SecretNotFound"


def ready_condition(
    *, problems: Sequence[str], reason: Reason, previous: Sequence[Mapping[str, Any]] | None, now: str
) -> dict[str, Any]:
    """`Ready` True when there are no problems; otherwise False with `reason` and every problem."""
    status = "False" if problems else "True"
    cond: dict[str, Any] = {
        "type": READY,
        "status": status,
        "reason": reason.value if problems else Reason.READY.value,
        "message": "; ".join(problems) if problems else "all references resolved",
    }
    before = next((c for c in previous or () if c.get("type") == READY), None)
    if before is not None and before.get("status") == status and before.get("lastTransitionTime"):
        cond["lastTransitionTime"] = before["lastTransitionTime"]
    else:
        cond["lastTransitionTime"] = now
    return cond


def desired_status(
    *,
    kind: Kind,
    problems: Sequence[str],
    previous: Mapping[str, Any] | None,
    generation: int | None,
    now: str,
    counters: Mapping[str, Any] | None = None,
    reason: Reason | None = None,
) -> dict[str, Any]:
    """The status fields the reconciler owns for one CR (merged into what is there)."""
    why = reason or {
        Kind.WORKFLOW: Reason.SINK_NOT_FOUND,
        Kind.SOURCE: Reason.WORKFLOW_NOT_FOUND,
        Kind.SINK: Reason.INVALID,
    }[kind]
    cond = ready_condition(
        problems=problems, reason=why, previous=(previous or {}).get("conditions"), now=now
    )
    out: dict[str, Any] = {"conditions": [cond], **(counters or {})}
    if kind is not Kind.WORKFLOW:
        out["ready"] = not problems
    if generation is not None:
        out["observedGeneration"] = generation
    return out


def changed(previous: Mapping[str, Any] | None, desired: Mapping[str, Any]) -> bool:
    """Whether patching `desired` would change anything."""
    before = previous or {}
    return any(before.get(k) != v for k, v in desired.items())


def source_counters(stats: Mapping[str, str]) -> dict[str, Any]:
    """Ingest's per-source counters (`cm:srcstat`, a hash of strings) as Source status fields."""
    out: dict[str, Any] = {}
    try:
        out["eventsProcessed"] = int(stats["eventsProcessed"])
    except (KeyError, ValueError):
        pass
    when = stats.get("lastEventTime")
    if when:
        try:
            out["lastEventTime"] = rfc3339(float(when))
        except ValueError:
            out["lastEventTime"] = when
    return out


def sink_counters(stats: Mapping[str, str]) -> dict[str, Any]:
    """The sink function's counters (`cm:sinkstat`) as Sink status fields."""
    out: dict[str, Any] = {}
    if "messagesSent" in stats:
        out["messagesSent"] = int(stats["messagesSent"])
    for field in ("lastSentTime", "lastError"):
        if stats.get(field):
            out[field] = stats[field]
    return out


def rfc3339(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
