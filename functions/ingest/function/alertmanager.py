"""Alertmanager webhook (v4) to cutman events: decoding and planning, no I/O.

`decode` turns a body into a validated payload or a BadRequest naming the field;
`plan` applies the Source's filters and matchers and fingerprints each alert; `event_for`
builds the CloudEvent for an alert the dedupe decision let through.

Every payload field is kept: the alert's own fields in the event data (Alertmanager's
fingerprint as `amFingerprint`, beside ours), and the notification's fields (groupKey,
receiver, externalURL, truncatedAlerts, group/common labels, and newer ones such as
`notification_reason` or `routeLabels` when an Alertmanager sends them) under `group`.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cloudevents.core.v1.event import CloudEvent
from cutman.adapters.store import Claim
from cutman.core import jsonlimits
from cutman.core.alerts import fingerprint, passes_filters
from cutman.core.matchers import matches_all
from cutman.errors import BadRequest, PayloadTooLarge
from cutman.models.cloudevent import make_event
from cutman.models.events import EventType, Ext

if TYPE_CHECKING:
    # The alert models (pydantic) are imported by the first webhook, not at start.
    from cutman.core.dedupe import DedupePolicy
    from cutman.core.matchers import Matcher
    from cutman.models.alert import AMAlert, AMWebhook

DEFAULT_MAX_ALERTS = 1000
"""CUTMAN_MAX_ALERTS: the most alerts one webhook may carry. Every alert is a broker post
and a dedupe decision, so the bound keeps one request's work (and its answer time) small."""


def decode(body: bytes, *, max_alerts: int = DEFAULT_MAX_ALERTS) -> AMWebhook:
    from cutman.models.alert import AMWebhook
    from cutman.models.base import describe_errors
    from pydantic import ValidationError

    doc = jsonlimits.loads(body, check=False)
    if not isinstance(doc, dict):
        raise BadRequest("body must be a JSON object (Alertmanager webhook payload)")
    alerts = doc.get("alerts")
    if isinstance(alerts, list) and len(alerts) > max_alerts:
        raise PayloadTooLarge(
            f"this webhook carries {len(alerts)} alerts, more than the {max_alerts} ingest takes in one "
            f"request (CUTMAN_MAX_ALERTS): set `max_alerts: {max_alerts}` in Alertmanager's webhook_config "
            "(it then sends at most that many per notification and counts the rest in truncatedAlerts), "
            "split the group with a finer `group_by`, or raise CUTMAN_MAX_ALERTS",
            field="alerts",
        )
    try:
        payload = AMWebhook.model_validate(doc)
    except ValidationError as exc:
        jsonlimits.check_depth(doc)  # a document too deep is refused for that, naming the path
        lines = describe_errors(exc)
        raise BadRequest("; ".join(lines[:5]), field=lines[0].split(":", 1)[0]) from None
    if _unknown_fields_too_deep(payload):
        jsonlimits.check_depth(doc)
    return payload


def _unknown_fields_too_deep(payload: AMWebhook) -> bool:
    """The depth check of a validated webhook: its known fields are strings and flat maps
    of strings, so only unknown fields (kept for newer Alertmanagers) can nest. Walking
    those alone, instead of the whole document, was most of the CPU per duplicate alert
    (issue 12). Conservative by one level: a hit runs the exact check, which names the path."""
    top = jsonlimits.MAX_DEPTH - 2  # the document itself, then the field's value
    below = jsonlimits.MAX_DEPTH - 4  # the document, `alerts`, the alert, the value
    return (any(jsonlimits.exceeds(v, top) for v in (payload.model_extra or {}).values())
            or any(jsonlimits.exceeds(v, below) for a in payload.alerts for v in (a.model_extra or {}).values()))


def group_of(payload: AMWebhook) -> dict[str, Any]:
    """The notification's fields, known and unknown, without the alerts themselves."""
    return payload.model_dump(mode="json", exclude={"alerts"}, exclude_none=True)


@dataclass(frozen=True)
class Planned:
    am: AMAlert
    claim: Claim
    group: dict[str, Any]

    @property
    def severity(self) -> str:
        return self.am.labels.get("severity", "")


def plan(
    payload: AMWebhook, *, filters: dict[str, list[str]], matchers: Sequence[Matcher], policy: DedupePolicy
) -> tuple[list[Planned], int]:
    """Alerts that pass filters and matchers, each with its dedupe claim; and how many did not.

    Claims' event ids share 80 random bits per webhook and end in the alert's index: a
    uuid4 for each alert was 5% of ingest's CPU per duplicate, whose id is never used."""
    out: list[Planned] = []
    filtered = 0
    group = group_of(payload)
    base = uuid.uuid4().hex  # one random id per webhook; alert i's event id ends in i
    prefix = f"{base[:8]}-{base[8:12]}-{base[12:16]}-{base[16:20]}-"
    for i, am in enumerate(payload.alerts):
        if not passes_filters(am.labels, filters) or not matches_all(am.labels, matchers):
            filtered += 1
            continue
        keyed = {k: v for k, v in am.labels.items() if k in policy.labels} if policy.labels else am.labels
        claim = Claim(fingerprint(keyed), am.status, f"{prefix}{i:012x}", am.labels.get("alertname", ""))
        out.append(Planned(am, claim, group))
    return out, filtered


def source_uri(source: str) -> str:
    ns, name = source.split("/", 1)
    return f"/apis/cutman.dev/v1alpha1/namespaces/{ns}/sources/{name}"


def event_for(p: Planned, source: str, *, event_id: str) -> CloudEvent:
    kind = EventType.ALERT_FIRING if p.claim.status == "firing" else EventType.ALERT_RESOLVED
    from cutman.models.alert import alert_data

    return make_event(
        id=event_id,
        type=kind,
        source=source_uri(source),
        subject=p.claim.alertname or None,
        data={**alert_data(p.am, fingerprint=p.claim.fingerprint), "group": p.group},
        extensions={
            Ext.SOURCE: source,
            Ext.ALERTNAME: p.claim.alertname,
            Ext.SEVERITY: p.severity,
            Ext.FINGERPRINT: p.claim.fingerprint,
        },
    )
