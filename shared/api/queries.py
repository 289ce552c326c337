"""What the read API answers, as functions over the stores: one backend for HTTP and the CLI.

Every function takes the `Store` port and keyword filters and returns JSON-ready dicts
(the shapes in docs/api.md). ingest's `/api/v1` handlers call them; so does `cutman`
when it reads Redis directly. Nothing here knows about HTTP.

Secrets: resource specs lose what ingest compiled into them (`ingest`: token hashes,
HMAC keys) and inline credential fields are replaced by `***`; `masked` replaces every
value held in the secret store, wherever it appears, as the last line of defence.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ..adapters.event_log import event_doc
from ..adapters.store import Store
from ..core import ids, urls
from ..core.masking import MASK, mask_value
from ..errors import BadRequest
from ..models.run import Run, RunPhase
from ..runtime.views import run_view

KINDS = {"sources": "source", "workflows": "workflow", "sinks": "sink"}
CREDENTIAL_FIELDS = frozenset({"botToken", "routingKey", "token", "password", "apiKey", "key", "secretKey",
                               "accessKey"})
URL_FIELDS = frozenset({"url", "webhookUrl", "endpoint", "pushgateway"})
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
MAX_LIMIT = 500
DEFAULT_LIMIT = 50
MIN_MASKED_LEN = 4


@dataclass(frozen=True)
class Page:
    """One page of a list and the opaque token that asks for the next (None: last page)."""

    items: list[dict[str, Any]]
    next: str | None = None

    def doc(self, kind: str) -> dict[str, Any]:
        return {"kind": kind, "items": self.items, "continue": self.next}


def limit_of(raw: str | int | None) -> int:
    if raw is None or raw == "":
        return DEFAULT_LIMIT
    try:
        n = int(raw)
    except ValueError:
        raise BadRequest(f"limit must be a whole number, got {raw!r}", field="limit") from None
    if not 1 <= n <= MAX_LIMIT:
        raise BadRequest(f"limit must be between 1 and {MAX_LIMIT}, got {n}", field="limit")
    return n


# --- resources ------------------------------------------------------------------------


def _redact_config(config: Any) -> Any:
    if isinstance(config, dict):
        out = {}
        for k, v in config.items():
            if isinstance(v, str) and v and k in CREDENTIAL_FIELDS:
                out[k] = MASK
            elif isinstance(v, str) and k in URL_FIELDS:
                out[k] = redact_url(v)
            else:
                out[k] = _redact_config(v)
        return out
    if isinstance(config, list):
        return [_redact_config(v) for v in config]
    return config


def redact_url(url: str) -> str:
    """A URL with its user:password, query, fragment (and a Slack hook's secret path) masked."""
    return urls.redact_url(url, mask=MASK)


def resource_view(kind: str, doc: dict[str, Any]) -> dict[str, Any]:
    """A compiled CR as the API shows it: identity, spec (redacted), status, Ready and why.

    kubectl's last-applied-configuration annotation is a copy of the manifest, inline
    credentials and all, so it never leaves with the metadata.
    """
    meta = dict(doc.get("metadata") or {})
    meta["annotations"] = {k: v for k, v in (meta.get("annotations") or {}).items() if k != LAST_APPLIED}
    spec = dict(doc.get("spec") or {})
    if "config" in spec:
        spec["config"] = _redact_config(spec["config"])
    status = dict(doc.get("status") or {})
    conditions = list(status.get("conditions") or [])
    ready_cond = next((c for c in conditions if c.get("type") == "Ready"), None)
    if ready_cond is not None:
        ready: bool | None = ready_cond.get("status") == "True"
    else:
        ready = status.get("ready") if isinstance(status.get("ready"), bool) else None
    return {
        "kind": kind.capitalize(),
        "namespace": meta.get("namespace", "default"),
        "name": meta.get("name", ""),
        "generation": meta.get("generation"),
        "creationTimestamp": meta.get("creationTimestamp"),
        "labels": meta.get("labels") or {},
        "annotations": meta.get("annotations") or {},
        "type": spec.get("type"),
        "ready": ready,
        "reason": (ready_cond or {}).get("reason"),
        "message": (ready_cond or {}).get("message"),
        "conditions": conditions,
        "status": status,
        "spec": spec,
    }


def _kind(kind: str) -> str:
    key = KINDS.get(kind, kind)
    if key not in KINDS.values():
        raise BadRequest(f"unknown kind {kind!r}: one of {', '.join(KINDS)}", field="kind")
    return key


def _labels_match(labels: dict[str, str], selector: dict[str, str] | None) -> bool:
    return not selector or all(labels.get(k) == v for k, v in selector.items())


async def list_resources(
    store: Store, kind: str, *, namespace: str | None = None, labels: dict[str, str] | None = None
) -> list[dict[str, Any]]:
    """Sources, workflows or sinks (`kind` singular or plural), sorted by namespace/name."""
    key = _kind(kind)
    views = [resource_view(key, d) for d in await store.list_configs(key, namespace or None)]
    views = [v for v in views if _labels_match(v["labels"], labels)]
    return sorted(views, key=lambda v: (v["namespace"], v["name"]))


async def get_resource(store: Store, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
    key = _kind(kind)
    doc = await store.get_config(key, f"{namespace}/{name}")
    if doc is None:
        return None
    view = resource_view(key, doc)
    if key == "workflow":
        page = await list_runs(store, workflow=f"{namespace}/{name}", limit=10)
        view["recentRuns"] = page.items
        view["stats"] = await store.workflow_stats(f"{namespace}/{name}")
    elif key == "source":
        view["stats"] = await store.source_stats(f"{namespace}/{name}")
    else:
        view["stats"] = await store.sink_stats(f"{namespace}/{name}")
    return view


# --- runs -------------------------------------------------------------------------------


def _cursor(score: float, run_id: str) -> str:
    return base64.urlsafe_b64encode(json.dumps([score, run_id]).encode()).decode().rstrip("=")


def _uncursor(token: str) -> tuple[float, str]:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        score, run_id = json.loads(raw)
        return float(score), str(run_id)
    except (ValueError, TypeError, RecursionError, binascii.Error):
        raise BadRequest("continue is not a token this API gave out", field="continue") from None


def _phase(raw: str | None) -> RunPhase | None:
    if not raw:
        return None
    for p in RunPhase:
        if p.value.lower() == raw.lower():
            return p
    raise BadRequest(f"phase must be one of {', '.join(p.value for p in RunPhase)}, got {raw!r}", field="phase")


def _keep(run: Run, *, namespace: str | None, phase: RunPhase | None, fingerprint: str | None,
          source: str | None) -> bool:
    if namespace and run.namespace != namespace:
        return False
    if phase is not None and run.phase is not phase:
        return False
    if source and run.source != source:
        return False
    fp = str((run.alert or {}).get("fingerprint") or "")
    return not fingerprint or fp == fingerprint or (len(fingerprint) >= 6 and fp.startswith(fingerprint))


def run_summary(run: Run, sinks: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """A run in a list: no step output, no transcript; step phases and durations kept."""
    view = run_view(run, sinks, full=False)
    view["namespace"] = run.namespace
    view["stepsDone"] = sum(1 for s in run.steps if s.phase.done)
    view["tokens"] = _tokens(run)
    return view


def _tokens(run: Run) -> int:
    return sum(int((s.usage or {}).get("total_tokens", 0)) for s in run.steps)


async def list_runs(
    store: Store, *, namespace: str | None = None, workflow: str | None = None, phase: str | None = None,
    fingerprint: str | None = None, source: str | None = None, limit: int = DEFAULT_LIMIT,
    cont: str | None = None,
) -> Page:
    """Runs newest first, filtered, `limit` per page; `cont` is the previous page's `next`.

    The cursor is (start time, id) of the last run shown, so runs started meanwhile do
    not shift the pages. Filters other than `workflow` are applied while walking the
    index in batches, so a page may take several reads on a sparse filter.
    """
    want = _phase(phase)
    if workflow and "/" not in workflow:
        if not namespace:
            raise BadRequest("workflow must be namespace/name (or give namespace)", field="workflow")
        workflow = f"{namespace}/{workflow}"
    top, after_id = _uncursor(cont) if cont else (None, None)
    items: list[dict[str, Any]] = []
    last: tuple[float, str] | None = None
    batch = max(limit * 2, 50)
    while True:
        rows = await store.run_index(workflow=workflow, max_score=top, count=batch + 1)
        if after_id is not None:
            rows = [(i, s) for i, s in rows if not (s == top and i >= after_id)]
        if not rows:
            return Page(items, None)
        runs = await store.get_runs([i for i, _ in rows])
        for (run_id, score), run in zip(rows, runs):
            last = (score, run_id)
            if run is None or not _keep(run, namespace=namespace, phase=want, fingerprint=fingerprint,
                                        source=source):
                continue
            items.append(run_summary(run, await store.sink_records(run.id)))
            if len(items) == limit:
                more = await store.run_index(workflow=workflow, max_score=score, count=limit + 50)
                more = [(i, s) for i, s in more if not (s == score and i >= run_id)]
                return Page(items, _cursor(score, run_id) if more else None)
        assert last is not None
        top, after_id = last


async def get_run(store: Store, run_id: str, *, full: bool = True) -> dict[str, Any] | None:
    """One run: steps with results, tool calls, tokens and approvals, and sink deliveries."""
    run = await store.get_run(run_id)
    if run is None:
        return None
    view = run_view(run, await store.sink_records(run.id), full=full)
    view["namespace"] = run.namespace
    view["eventId"] = run.eventId
    view["eventType"] = run.eventType
    view["tokens"] = _tokens(run)
    view["stepsDone"] = sum(1 for s in run.steps if s.phase.done)
    if run.alert:
        view["alert"] = {k: run.alert.get(k) for k in ("alertname", "severity", "summary", "description",
                                                       "fingerprint", "status", "labels", "annotations",
                                                       "startsAt", "endsAt", "generatorURL")}
    view["deadLetters"] = await store.run_dead_letters(run.id)
    view["awaitingApproval"] = [s.name for s in run.steps if s.approval is not None
                                and s.approval.decision is None and s.phase.value == "AwaitingApproval"]
    return view


# --- alerts, source events, dead letters -----------------------------------------------


async def _sources(store: Store, namespace: str | None, source: str | None) -> list[str]:
    if source:
        if "/" not in source:
            if not namespace:
                raise BadRequest("source must be namespace/name (or give namespace)", field="source")
            source = f"{namespace}/{source}"
        return [source]
    keys = []
    for cfg in await store.list_configs("source", namespace or None):
        meta = cfg.get("metadata") or {}
        keys.append(f"{meta.get('namespace', 'default')}/{meta.get('name')}")
    return keys


def _epoch(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None


def alert_view(source: str, state: dict[str, str]) -> dict[str, Any]:
    """An alert's lifecycle: firing since, seen how often, resolved when, which event."""
    return {
        "source": source,
        "namespace": source.split("/", 1)[0],
        "fingerprint": state.get("fingerprint", ""),
        "alertname": state.get("alertname", ""),
        "status": state.get("status", ""),
        "since": _epoch(state.get("since")),
        "lastSeen": _epoch(state.get("lastSeen")),
        "resolvedAt": _epoch(state.get("resolvedAt")),
        "count": int(state.get("count", "0") or 0),
        "emissions": int(state.get("emissions", "0") or 0),
        "event": state.get("event"),
    }


async def list_alerts(
    store: Store, *, namespace: str | None = None, source: str | None = None, status: str | None = None,
    fingerprint: str | None = None,
) -> list[dict[str, Any]]:
    if status and status not in ("firing", "resolved"):
        raise BadRequest(f"status must be firing or resolved, got {status!r}", field="status")
    out: list[dict[str, Any]] = []
    for key in await _sources(store, namespace, source):
        for state in await store.alert_states(key):
            view = alert_view(key, state)
            if status and view["status"] != status:
                continue
            if fingerprint and not view["fingerprint"].startswith(fingerprint):
                continue
            out.append(view)
    out.sort(key=lambda a: a["lastSeen"] or 0.0, reverse=True)
    return out


def _stream_cursor(raw: str | None) -> str | None:
    if raw is None or raw == "":
        return None
    left, _, right = raw.partition("-")
    if not (left.isdigit() and right.isdigit() and len(raw) < 48):
        raise BadRequest(f"{raw[:48]!r} is not a stream position this API gave out", field="continue")
    return raw


def stream_id(raw: str) -> str:
    """A stream entry id from a client (`Last-Event-ID`), checked."""
    checked = _stream_cursor(raw)
    assert checked is not None
    return checked


async def source_events(
    store: Store, *, namespace: str | None = None, source: str | None = None, limit: int = DEFAULT_LIMIT,
    cont: str | None = None,
) -> Page:
    """Events ingest handed to the broker, newest first (per Source, or all Sources merged)."""
    before = _stream_cursor(cont)
    merged: list[dict[str, Any]] = []
    for key in await _sources(store, namespace, source):
        cfg = await store.get_config("source", key) or {}
        target = (cfg.get("spec") or {}).get("triggerWorkflow")
        for entry_id, fields in await store.source_events(key, limit=limit + 1, before=before):
            doc = {"source": key, **event_doc(entry_id, fields)}
            starts = fields.get("type") == "source.event" or fields.get("decision") in ("firing", "repeat")
            doc["run"] = ids.run_id(workflow=f"{key.split('/', 1)[0]}/{target}", event_id=fields["eventId"]) \
                if target and starts and fields.get("eventId") else None
            merged.append(doc)
    merged.sort(key=lambda e: _id_key(e["id"]), reverse=True)
    page = merged[:limit]
    return Page(page, page[-1]["id"] if len(merged) > limit else None)


def _id_key(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


async def dead_letters(store: Store, *, limit: int = DEFAULT_LIMIT, cont: str | None = None) -> Page:
    """Events that exhausted their retries (or were refused for good): what, where, why, which run."""
    rows = await store.dead_letters(limit=limit + 1, before=_stream_cursor(cont))
    items = [event_doc(entry_id, fields) for entry_id, fields in rows[:limit]]
    for doc in items:
        doc["run"] = doc.get("run") or None
    return Page(items, items[-1]["id"] if len(rows) > limit else None)


# --- secrets ------------------------------------------------------------------------


async def secret_values(store: Store) -> list[str]:
    return [v for v in await store.secret_values() if len(v) >= MIN_MASKED_LEN]


def masked(doc: Any, values: Iterable[str]) -> Any:
    """`doc` with every secret value replaced by `***` inside its strings."""
    return mask_value(doc, list(values))
