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
from functools import cached_property
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
    from cutman.models.alert import Alert, AMAlert, AMWebhook

DEFAULT_MAX_ALERTS = 1000
"""CUTMAN_MAX_ALERTS: the most alerts one webhook may carry. Every alert is a broker post
and a dedupe decision, so the bound keeps one request's work (and its answer time) small."""


def decode(body: bytes, *, max_alerts: int = DEFAULT_MAX_ALERTS) -> AMWebhook:
    from cutman.models.alert import AMWebhook
    from cutman.models.base import describe_errors
    from pydantic import ValidationError

    doc = jsonlimits.loads(body)
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
        return AMWebhook.model_validate(doc)
    except ValidationError as exc:
        lines = describe_errors(exc)
        raise BadRequest("; ".join(lines[:5]), field=lines[0].split(":", 1)[0]) from None


def group_of(payload: AMWebhook) -> dict[str, Any]:
    """The notification's fields, known and unknown, without the alerts themselves."""
    return payload.model_dump(mode="json", exclude={"alerts"}, exclude_none=True)


@dataclass(frozen=True)
class Planned:
    am: AMAlert
    claim: Claim
    group: dict[str, Any]

    @cached_property
    def alert(self) -> Alert:
        """Built only for alerts that are emitted: most of a storm's alerts are duplicates."""
        from cutman.models.alert import Alert

        return Alert.from_am(self.am, fingerprint=self.claim.fingerprint)


def plan(
    payload: AMWebhook, *, filters: dict[str, list[str]], matchers: Sequence[Matcher], policy: DedupePolicy
) -> tuple[list[Planned], int]:
    """Alerts that pass filters and matchers, each with its dedupe claim; and how many did not."""
    out: list[Planned] = []
    filtered = 0
    group = group_of(payload)
    for am in payload.alerts:
        if not passes_filters(am.labels, filters) or not matches_all(am.labels, matchers):
            filtered += 1
            continue
        keyed = {k: v for k, v in am.labels.items() if k in policy.labels} if policy.labels else am.labels
        claim = Claim(fingerprint(keyed), am.status, str(uuid.uuid4()), am.labels.get("alertname", ""))
        out.append(Planned(am, claim, group))
    return out, filtered


def source_uri(source: str) -> str:
    ns, name = source.split("/", 1)
    return f"/apis/cutman.dev/v1alpha1/namespaces/{ns}/sources/{name}"


def event_for(p: Planned, source: str, *, event_id: str) -> CloudEvent:
    kind = EventType.ALERT_FIRING if p.claim.status == "firing" else EventType.ALERT_RESOLVED
    return make_event(
        id=event_id,
        type=kind,
        source=source_uri(source),
        subject=p.alert.alertname or None,
        data={**p.alert.data(), "group": p.group},
        extensions={
            Ext.SOURCE: source,
            Ext.ALERTNAME: p.alert.alertname,
            Ext.SEVERITY: p.alert.severity,
            Ext.FINGERPRINT: p.alert.fingerprint,
        },
    )
