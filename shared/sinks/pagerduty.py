"""The pagerduty sink: Events API v2 (`POST /v2/enqueue`) trigger, acknowledge or resolve.

`routingKey` names a Secret holding the integration key (bare name: its only key, or
`routingKey`); a key written inline is refused. `dedup_key` is the alert's fingerprint,
so every run about one alert is one incident, and a redelivery is deduplicated by
PagerDuty itself (the sweep may resend). `action: trigger` (default) opens or updates the
incident with the rendered `template` (or the run summary) as its summary, the workflow
outputs as custom details and a link to the run; `acknowledge` and `resolve` act on it.
A resolved alert's run resolves the incident whatever the action, when `action` is
`trigger`. The API base is `CUTMAN_PAGERDUTY_URL` (default https://events.pagerduty.com).
"""

from __future__ import annotations

import re
from typing import Any, ClassVar, Literal

from ..core.templating import render
from ..models.resources import SinkType
from .base import Delivery, Params, Ports, request, run_url, secret_field
from .payload import APPROVAL_TEXT, check_templates

DEFAULT_API = "https://events.pagerduty.com"
# integration keys are 32 characters of [0-9a-z]; a Secret name of that shape is unlikely
INLINE_KEY = re.compile(r"^(?=[0-9A-Za-z]*[0-9])[0-9A-Za-z]{32}$")
SEVERITIES = ("critical", "error", "warning", "info")


class PagerDutyParams(Params):
    routing_key: str
    action: Literal["trigger", "acknowledge", "resolve"] = "trigger"
    severity: str | None = None

    _key = secret_field("routing_key", inline_hint=INLINE_KEY)


def _severity(p: PagerDutyParams, d: Delivery) -> str:
    wanted = render(p.severity, d.context) if p.severity else str((d.run.alert or {}).get("severity") or "")
    wanted = wanted.strip().lower()
    return wanted if wanted in SEVERITIES else ("critical" if wanted == "page" else "error")


class PagerDutySink:
    type: ClassVar[Any] = SinkType.PAGERDUTY
    params: ClassVar[type[Params]] = PagerDutyParams
    idempotent: ClassVar[bool] = True

    def check(self, params: PagerDutyParams) -> None:
        check_templates(params, params.severity)

    async def deliver(self, delivery: Delivery, ports: Ports) -> str:
        p: PagerDutyParams = delivery.params
        key = await ports.secrets.resolve(p.routing_key, field="config.routingKey",
                                          keys=("routingKey", "routing_key", "integrationKey", "token"))
        run, alert = delivery.run, delivery.run.alert or {}
        action = p.action
        if action == "trigger" and str(alert.get("status", "")) == "resolved":
            action = "resolve"
        event: dict[str, Any] = {"routing_key": key, "event_action": action, "dedup_key": delivery.fingerprint}
        if action == "trigger":
            if delivery.approval:
                summary = render(p.approval_template or APPROVAL_TEXT, delivery.context)
            elif p.template:
                summary = render(p.template, delivery.context)
            else:
                summary = f"{alert.get('alertname') or run.workflow}: {run.outputs.get('summary') or run.phase.value}"
            event["payload"] = {
                "summary": summary.strip()[:1024] or run.id,
                "source": str((alert.get("labels") or {}).get("instance") or run.workflow),
                "severity": _severity(p, delivery),
                "component": str((alert.get("labels") or {}).get("service") or "") or None,
                "group": run.workflow,
                "class": str(alert.get("alertname") or "") or None,
                "custom_details": {"run": run.id, "phase": run.phase.value, **run.outputs},
            }
            event["payload"] = {k: v for k, v in event["payload"].items() if v is not None}
            link = run_url(ports.settings, run.id)
            links = [{"href": link, "text": f"cutman run {run.id}"}] if link else []
            if alert.get("generatorURL"):
                links.append({"href": alert["generatorURL"], "text": "alert source"})
            if links:
                event["links"] = links
            event["client"] = "cutman"
        api = ports.settings.get("CUTMAN_PAGERDUTY_URL", DEFAULT_API).rstrip("/")
        resp = await request(ports, "POST", f"{api}/v2/enqueue", what="pagerduty", timeout=p.timeout_seconds,
                             json=event)
        try:
            answer = resp.json()
        except ValueError:
            answer = {}
        return f"pagerduty {action} {answer.get('dedup_key') or delivery.fingerprint}: {answer.get('status', resp.status_code)}"
