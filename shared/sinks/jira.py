"""The jira sink: an issue per alert on Jira's REST API v2; later runs comment on it.

The first run about an alert fingerprint creates an issue in `project` of `issueType`
(default Task) with the rendered `summary` (default: the alert and the run's summary)
and the rendered `template` (default: the run report in Jira wiki markup) as description;
its key is kept in the sink's state, and every later run about the same fingerprint (the
resolve, a repeat) adds a comment to that issue instead.

`credentialsSecret` names a Secret in the Sink's namespace: keys `email` and `token`
(an Atlassian API token: HTTP basic auth, Jira Cloud), or `token` alone (a personal
access token: bearer, Jira Data Center).
"""

from __future__ import annotations

import base64
from typing import Any, ClassVar

from ..core.templating import render
from ..models.resources import SinkType
from .base import Delivery, Params, Ports, check_http_url, request, run_url, secret_field
from .payload import APPROVAL_TEXT, check_templates


class JiraParams(Params):
    endpoint: str
    project: str
    issue_type: str = "Task"
    summary: str | None = None
    credentials_secret: str

    _creds = secret_field("credentials_secret")


def _report(d: Delivery, link: str | None) -> str:
    run, alert = d.run, d.run.alert or {}
    lines = [f"h3. {alert.get('alertname') or run.workflow}: {run.phase.value}", ""]
    if alert:
        lines += [f"*Severity:* {alert.get('severity') or '-'}", f"*Alert summary:* {alert.get('summary') or '-'}"]
    for key, label in (("summary", "Summary"), ("root_cause", "Root cause"), ("recommendations", "Recommendations")):
        if run.outputs.get(key):
            lines += ["", f"*{label}:*", run.outputs[key]]
    if run.error:
        lines += ["", f"*Error:* {run.error}"]
    lines += ["", f"Run {run.id} of {run.workflow}" + (f": {link}" if link else "")]
    return "\n".join(lines)


class JiraSink:
    type: ClassVar[Any] = SinkType.JIRA
    params: ClassVar[type[Params]] = JiraParams
    idempotent: ClassVar[bool] = False

    def check(self, params: JiraParams) -> None:
        check_http_url(params.endpoint, "endpoint")
        check_templates(params, params.summary)

    async def _auth(self, p: JiraParams, ports: Ports) -> str:
        data = await ports.secrets.all_keys(p.credentials_secret, field="config.credentialsSecret")
        token = data.get("token") or data.get("apiToken") or data.get("pat") or data.get("password")
        email = data.get("email") or data.get("username") or data.get("user")
        if not token:
            from ..errors import PermanentError

            raise PermanentError(f"config.credentialsSecret: Secret {p.credentials_secret} needs a `token` key "
                                 f"(with `email` for basic auth)")
        if email:
            return "Basic " + base64.b64encode(f"{email}:{token}".encode()).decode()
        return f"Bearer {token}"

    async def deliver(self, delivery: Delivery, ports: Ports) -> str:
        p: JiraParams = delivery.params
        auth = await self._auth(p, ports)
        headers = {"authorization": auth, "accept": "application/json"}
        api = p.endpoint.rstrip("/") + "/rest/api/2"
        link = run_url(ports.settings, delivery.run.id)
        if delivery.approval:
            text = render(p.approval_template or APPROVAL_TEXT, delivery.context)
        elif p.template:
            text = render(p.template, delivery.context)
        else:
            text = _report(delivery, link)
        state_key = f"issue:{delivery.fingerprint}"
        issue = await ports.state.get(state_key)
        if issue:
            await request(ports, "POST", f"{api}/issue/{issue}/comment", what="jira", timeout=p.timeout_seconds,
                          json={"body": text}, headers=headers)
            return f"commented on {issue}"
        alert = delivery.run.alert or {}
        summary = render(p.summary, delivery.context) if p.summary else (
            f"{alert.get('alertname') or delivery.run.workflow}: "
            f"{delivery.run.outputs.get('summary') or delivery.run.phase.value}")
        fields = {"project": {"key": p.project}, "summary": " ".join(summary.split())[:255] or delivery.run.id,
                  "description": text, "issuetype": {"name": p.issue_type}}
        resp = await request(ports, "POST", f"{api}/issue", what="jira", timeout=p.timeout_seconds,
                             json={"fields": fields}, headers=headers)
        key = str(resp.json().get("key") or "")
        if key:
            await ports.state.put(state_key, key)
        return f"created {key or 'an issue'} in {p.project}"
