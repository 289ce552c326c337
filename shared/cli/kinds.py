"""What `cutman get KIND` accepts and how each kind is shown.

Names as kubectl takes them: the singular, the plural, the short names the CRDs declare
(`cmsrc`, `cmwf`, `cmsink`), the Kind itself and `plural.cutman.dev`; plus `runs` and
`alerts`, which are not CRs but what operators look at most.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import BadRequest
from ..models.crd import SHORT_NAMES
from ..models.resources import GROUP, Kind
from ..runtime.views import duration_text
from .output import Column, age, condition, dig, timestamp


@dataclass(frozen=True)
class KindInfo:
    name: str
    crd: Kind | None
    aliases: tuple[str, ...]
    columns: tuple[Column, ...]

    def object_name(self, item: dict[str, Any]) -> str:
        if self.crd is not None:
            return f"{self.crd.value.lower()}.{GROUP}/{dig(item, 'metadata', 'name')}"
        if self.name == "runs":
            return f"run/{item['id']}"
        return f"alert/{item['source']}/{item['fingerprint']}"

    def namespace_of(self, item: dict[str, Any]) -> str:
        if self.crd is not None:
            return str(dig(item, "metadata", "namespace") or "default")
        key = item.get("workflow") if self.name == "runs" else item.get("source")
        return str(key or "").partition("/")[0]

    def short_name(self, item: dict[str, Any]) -> str:
        """The NAME a user types back (`describe`, `runs logs`)."""
        if self.crd is not None:
            return str(dig(item, "metadata", "name"))
        if self.name == "runs":
            return str(item["id"])
        return str(item["fingerprint"])

    def labels_of(self, item: dict[str, Any]) -> dict[str, str]:
        """What `-l` matches: metadata.labels of a CR, the alert's labels of a run or alert."""
        if self.crd is not None:
            return dict(dig(item, "metadata", "labels") or {})
        if self.name == "runs":
            return dict(dig(item, "alert", "labels") or {})
        return {"alertname": str(item.get("alertname", "")), "status": str(item.get("status", ""))}


def _ready(doc: dict[str, Any]) -> str:
    return str(condition(doc).get("status") or "Unknown")


def _reason(doc: dict[str, Any]) -> str:
    c = condition(doc)
    return "" if c.get("status") == "True" else str(c.get("message") or c.get("reason") or "")


def _created(doc: dict[str, Any]) -> str:
    return age(dig(doc, "metadata", "creationTimestamp"))


def _steps_done(run: dict[str, Any]) -> str:
    steps = run.get("steps") or []
    done = sum(1 for s in steps if s.get("phase") in ("Succeeded", "Failed", "Skipped"))
    return f"{done}/{len(steps)}"


SOURCE_COLUMNS = (
    Column("NAME", lambda d: dig(d, "metadata", "name")),
    Column("TYPE", lambda d: dig(d, "spec", "type")),
    Column("WORKFLOW", lambda d: dig(d, "spec", "triggerWorkflow")),
    Column("EVENTS", lambda d: dig(d, "status", "eventsProcessed") or 0),
    Column("READY", _ready),
    Column("AGE", _created),
    Column("PATH", lambda d: dig(d, "spec", "config", "path") or dig(d, "spec", "config", "endpoint")
           or dig(d, "spec", "config", "cron") or dig(d, "spec", "config", "resource"), wide=True),
    Column("MESSAGE", _reason, wide=True),
)
WORKFLOW_COLUMNS = (
    Column("NAME", lambda d: dig(d, "metadata", "name")),
    Column("STEPS", lambda d: len(dig(d, "spec", "steps") or [])),
    Column("LAST RUN", lambda d: dig(d, "status", "lastRun")),
    Column("PHASE", lambda d: dig(d, "status", "phase")),
    Column("READY", _ready),
    Column("AGE", _created),
    Column("RUNS", lambda d: dig(d, "status", "runsTotal") or 0, wide=True),
    Column("FAILED", lambda d: dig(d, "status", "runsFailed") or 0, wide=True),
    Column("SINKS", lambda d: ",".join(dig(d, "spec", "sinks") or []), wide=True),
    Column("MESSAGE", _reason, wide=True),
)
SINK_COLUMNS = (
    Column("NAME", lambda d: dig(d, "metadata", "name")),
    Column("TYPE", lambda d: dig(d, "spec", "type")),
    Column("SENT", lambda d: dig(d, "status", "messagesSent") or 0),
    Column("READY", _ready),
    Column("AGE", _created),
    Column("LAST SENT", lambda d: dig(d, "status", "lastSentTime"), wide=True),
    Column("LAST ERROR", lambda d: dig(d, "status", "lastError"), wide=True),
)
RUN_COLUMNS = (
    Column("NAME", lambda r: r["id"]),
    Column("WORKFLOW", lambda r: str(r.get("workflow", "")).partition("/")[2]),
    Column("PHASE", lambda r: r.get("phase")),
    Column("STEPS", _steps_done),
    Column("STARTED", lambda r: r.get("startTime")),
    Column("DURATION", lambda r: duration_text(r.get("durationSeconds"))),
    Column("ALERT", lambda r: dig(r, "alert", "alertname")),
    Column("SOURCE", lambda r: r.get("source"), wide=True),
    Column("FINGERPRINT", lambda r: (dig(r, "alert", "fingerprint") or "")[:12], wide=True),
    Column("ERROR", lambda r: (r.get("error") or "")[:80], wide=True),
)
ALERT_COLUMNS = (
    Column("SOURCE", lambda a: str(a.get("source", "")).partition("/")[2]),
    Column("ALERT", lambda a: a.get("alertname")),
    Column("STATUS", lambda a: a.get("status")),
    Column("COUNT", lambda a: a.get("count")),
    Column("FIRING SINCE", lambda a: timestamp(a.get("since"))),
    Column("RESOLVED", lambda a: timestamp(a.get("resolvedAt"))),
    Column("FINGERPRINT", lambda a: str(a.get("fingerprint", ""))[:12]),
    Column("LAST SEEN", lambda a: timestamp(a.get("lastSeen")), wide=True),
)


def _crd(kind: Kind, columns: tuple[Column, ...]) -> KindInfo:
    singular = kind.value.lower()
    aliases = (singular, kind.plural, *SHORT_NAMES[kind], f"{kind.plural}.{GROUP}", f"{singular}.{GROUP}")
    return KindInfo(kind.plural, kind, aliases, columns)


KINDS: tuple[KindInfo, ...] = (
    _crd(Kind.SOURCE, SOURCE_COLUMNS),
    _crd(Kind.WORKFLOW, WORKFLOW_COLUMNS),
    _crd(Kind.SINK, SINK_COLUMNS),
    KindInfo("runs", None, ("run", "runs"), RUN_COLUMNS),
    KindInfo("alerts", None, ("alert", "alerts"), ALERT_COLUMNS),
)
_BY_ALIAS = {a: k for k in KINDS for a in k.aliases}


def choices() -> Sequence[str]:
    return sorted(_BY_ALIAS)


def lookup(text: str) -> KindInfo:
    info = _BY_ALIAS.get(text.lower())
    if info is None:
        names = ", ".join(k.name for k in KINDS)
        raise BadRequest(f'the server doesn\'t have a resource type "{text}" (cutman has {names})', field="kind")
    return info
