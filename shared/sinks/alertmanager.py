"""The alertmanager sink (API v2 at `endpoint`): annotate, silence or resolve the alert.

- `annotate` re-posts the run's alert (its labels and startsAt) with annotations: the
  template's `{"annotations": {...}}` if it gives one, else `cutman_summary`,
  `cutman_root_cause` and `cutman_run` from the run. The alert's own annotations are
  kept beside them. Alertmanager keeps the most recent copy of an alert, so a later
  re-send by Prometheus replaces them until the next run annotates again.
- `silence` creates a silence for the alert's labels (or the template's `matchers`) for
  `duration` (default 2h), its comment naming the run.
- `resolve` ends the active alerts that match the template's `matchers` (else the
  alert's labels) by re-posting them with `endsAt` now.

Every action is safe to repeat: an annotate or a resolve re-posts the same alert, and a
silence's comment carries the delivery key, so one already created for it is found and
not made again. The sweep therefore retries an Alertmanager delivery a crash left open.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Literal

from ..core.dedupe import DurationError, parse_duration
from ..core.urls import redact_url
from ..errors import Invalid, PermanentError
from ..models.resources import SinkType
from .base import Delivery, Params, Ports, check_http_url, request
from .payload import check_templates, rendered_json


class AlertmanagerParams(Params):
    endpoint: str
    action: Literal["annotate", "silence", "resolve"] = "annotate"
    duration: str = "2h"


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _matchers(d: Delivery, doc: dict[str, Any] | None) -> list[dict[str, Any]]:
    if doc and doc.get("matchers") is not None:
        given = doc["matchers"]
        if not isinstance(given, list) or not all(isinstance(m, dict) and m.get("name") for m in given):
            raise PermanentError("alertmanager: template matchers must be a list of {name, value, isRegex}")
        return [{"name": str(m["name"]), "value": str(m.get("value", "")),
                 "isRegex": bool(m.get("isRegex", False)), "isEqual": bool(m.get("isEqual", True))}
                for m in given]
    labels = _labels(d)
    return [{"name": k, "value": v, "isRegex": False, "isEqual": True} for k, v in sorted(labels.items())]


def _labels(d: Delivery) -> dict[str, str]:
    labels = (d.run.alert or {}).get("labels") or {}
    if not labels:
        raise PermanentError("alertmanager: the run has no alert labels (it was not started by an alert); "
                             "give matchers in the template")
    return {str(k): str(v) for k, v in labels.items()}


def _filter(matchers: list[dict[str, Any]]) -> list[tuple[str, str]]:
    out = []
    for m in matchers:
        op = ("=~" if m["isRegex"] else "=") if m["isEqual"] else ("!~" if m["isRegex"] else "!=")
        out.append(("filter", f"{m['name']}{op}{json.dumps(m['value'])}"))
    return out


class AlertmanagerSink:
    type: ClassVar[Any] = SinkType.ALERTMANAGER
    params: ClassVar[type[Params]] = AlertmanagerParams
    idempotent: ClassVar[bool] = True

    def check(self, params: AlertmanagerParams) -> None:
        check_http_url(params.endpoint, "endpoint")
        try:
            parse_duration(params.duration)
        except DurationError as exc:
            raise Invalid(f"config.duration: {exc}", field="spec.config.duration") from None
        check_templates(params)

    async def deliver(self, delivery: Delivery, ports: Ports) -> str:
        p: AlertmanagerParams = delivery.params
        base = p.endpoint.rstrip("/") + "/api/v2"
        doc = None if delivery.approval else rendered_json(p.template, delivery.context, what="alertmanager")
        if delivery.approval:
            return "approval requests are not sent to Alertmanager"
        if p.action == "annotate":
            return await self._annotate(delivery, ports, base, doc)
        if p.action == "silence":
            return await self._silence(delivery, ports, base, doc)
        return await self._resolve(delivery, ports, base, doc)

    async def _post_alerts(self, ports: Ports, base: str, alerts: list[dict[str, Any]], timeout: float) -> None:
        await request(ports, "POST", f"{base}/alerts", what="alertmanager", timeout=timeout, json=alerts)

    async def _annotate(self, d: Delivery, ports: Ports, base: str, doc: dict[str, Any] | None) -> str:
        alert = d.run.alert or {}
        if doc and isinstance(doc.get("annotations"), dict):
            added = {str(k): str(v) for k, v in doc["annotations"].items()}
        else:
            added = {k: v for k, v in {
                "cutman_summary": d.run.outputs.get("summary", ""),
                "cutman_root_cause": d.run.outputs.get("root_cause", ""),
                "cutman_run": d.run.id}.items() if v}
        annotations = {**{str(k): str(v) for k, v in (alert.get("annotations") or {}).items()}, **added}
        posted: dict[str, Any] = {"labels": _labels(d), "annotations": annotations}
        if alert.get("startsAt"):
            posted["startsAt"] = alert["startsAt"]
        if alert.get("generatorURL"):
            posted["generatorURL"] = alert["generatorURL"]
        if str(alert.get("status", "firing")) == "resolved" and alert.get("endsAt"):
            posted["endsAt"] = alert["endsAt"]
        await self._post_alerts(ports, base, [posted], d.params.timeout_seconds)
        return f"annotated {alert.get('alertname', 'the alert')} with {', '.join(sorted(added))}"

    async def _silence(self, d: Delivery, ports: Ports, base: str, doc: dict[str, Any] | None) -> str:
        p: AlertmanagerParams = d.params
        matchers = _matchers(d, doc)
        marker = f"[cutman {d.key}]"
        existing = await request(ports, "GET", f"{base}/silences", what="alertmanager", timeout=p.timeout_seconds)
        for s in existing.json() or []:
            if marker in str(s.get("comment", "")) and (s.get("status") or {}).get("state") != "expired":
                return f"silence {s.get('id')} already exists"
        now = datetime.now(UTC)
        summary = d.run.outputs.get("summary", "")
        body = {
            "matchers": matchers, "startsAt": _iso(now),
            "endsAt": _iso(now + timedelta(seconds=parse_duration(p.duration))),
            "createdBy": "cutman",
            "comment": f"cutman run {d.run.id} of {d.run.workflow}{': ' + summary if summary else ''} {marker}"[:1000],
        }
        resp = await request(ports, "POST", f"{base}/silences", what="alertmanager", timeout=p.timeout_seconds,
                             json=body)
        return f"silence {resp.json().get('silenceID')} for {p.duration} at {redact_url(p.endpoint)}"

    async def _resolve(self, d: Delivery, ports: Ports, base: str, doc: dict[str, Any] | None) -> str:
        p: AlertmanagerParams = d.params
        matchers = _matchers(d, doc)
        resp = await request(ports, "GET", f"{base}/alerts", what="alertmanager", timeout=p.timeout_seconds,
                             params=[*_filter(matchers), ("active", "true"), ("silenced", "true"),
                                     ("inhibited", "true")])
        now = _iso(datetime.now(UTC))
        ended = [{"labels": a["labels"], "annotations": a.get("annotations") or {},
                  "startsAt": a.get("startsAt"), "endsAt": now, "generatorURL": a.get("generatorURL", "")}
                 for a in resp.json() or [] if a.get("labels")]
        if ended:
            await self._post_alerts(ports, base, ended, p.timeout_seconds)
        return f"resolved {len(ended)} alert(s)"
