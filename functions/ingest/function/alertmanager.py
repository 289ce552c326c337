"""Alertmanager webhook (v4) to cutman events: decoding and planning, no I/O.

`decode` turns a body into validated alerts or a BadRequest naming the field;
`plan` applies the Source's filters and fingerprints each alert; `events` builds the
CloudEvents for the alerts the dedupe decision let through.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass

from cloudevents.core.v1.event import CloudEvent
from cutman.adapters.store import Claim
from cutman.core.alerts import fingerprint, passes_filters
from cutman.errors import BadRequest
from cutman.models.alert import Alert, AMWebhook
from cutman.models.base import describe_errors
from cutman.models.cloudevent import make_event
from cutman.models.events import EventType, Ext
from cutman.models.resources import SourceSpec
from pydantic import ValidationError


def decode(body: bytes) -> AMWebhook:
    try:
        doc = json.loads(body)
    except ValueError as exc:
        raise BadRequest(f"body is not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise BadRequest("body must be a JSON object (Alertmanager webhook payload)")
    try:
        return AMWebhook.model_validate(doc)
    except ValidationError as exc:
        lines = describe_errors(exc)
        raise BadRequest("; ".join(lines[:5]), field=lines[0].split(":", 1)[0]) from None


@dataclass(frozen=True)
class Planned:
    alert: Alert
    claim: Claim


def plan(payload: AMWebhook, spec: SourceSpec) -> tuple[list[Planned], int]:
    """Alerts that pass the filters, each with its dedupe claim; and how many were filtered."""
    out: list[Planned] = []
    filtered = 0
    for am in payload.alerts:
        if not passes_filters(am.labels, spec.config.filters):
            filtered += 1
            continue
        alert = Alert.from_am(am, fingerprint=fingerprint(am.labels))
        claim = Claim(alert.fingerprint, am.status, str(uuid.uuid4()), alert.alertname)
        out.append(Planned(alert, claim))
    return out, filtered


def source_uri(source: str) -> str:
    ns, name = source.split("/", 1)
    return f"/apis/cutman.dev/v1alpha1/namespaces/{ns}/sources/{name}"


def event_for(p: Planned, source: str) -> CloudEvent:
    kind = EventType.ALERT_FIRING if p.claim.status == "firing" else EventType.ALERT_RESOLVED
    return make_event(
        id=p.claim.event_id,
        type=kind,
        source=source_uri(source),
        subject=p.alert.alertname or None,
        data=p.alert.data(),
        extensions={
            Ext.SOURCE: source,
            Ext.ALERTNAME: p.alert.alertname,
            Ext.SEVERITY: p.alert.severity,
            Ext.FINGERPRINT: p.alert.fingerprint,
        },
    )
