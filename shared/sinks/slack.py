"""The slack sink: `chat.postMessage` with Block Kit, or an incoming webhook.

The message is the rendered `template` as `text` (Slack shows it in notifications and
where blocks are not rendered) and blocks: the alert, the summary, root cause and
recommendations (from the workflow's outputs of those names), a link to the run, and for
an approval request Approve / Deny URL buttons. `mentionUsers` are prefixed to the text
(`U123`/`W123` user ids become `<@U123>`, `S123` group ids `<!subteam^S123>`, `@here`
`@channel` `@everyone` the special mentions; anything else is shown as written).

`messageType: thread` threads every later message about the same alert fingerprint (the
resolve, a repeat, a later run) under the first one, by its `ts` kept in the sink's state.

Credentials: `botToken` names a Secret (bare name: its only key, or `token`); or
`webhookUrlSecret` names a Secret holding an incoming-webhook URL (`url`). The API base
is `CUTMAN_SLACK_API_URL` (default https://slack.com/api). Slack answers 200 with
`{"ok": false, "error": ...}` for most failures: `ratelimited` and server-side errors are
temporary, the others (invalid_auth, channel_not_found, ...) permanent. A 429 carries
`Retry-After`: the delivery waits that long and tries once more if it fits the timeout,
else hands it to the broker.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from typing import Any, ClassVar, Literal

from pydantic import Field, model_validator

from ..core.templating import render
from ..errors import Invalid, PermanentError, Unavailable
from ..models.resources import SinkType
from .base import Delivery, Params, Ports, RemoteUnavailable, request, run_url, secret_field
from .payload import APPROVAL_TEXT, check_templates

DEFAULT_API = "https://slack.com/api"
SLACK_TOKEN = re.compile(r"^xox[abposr]-|^xapp-")
TEMPORARY_ERRORS = frozenset({"ratelimited", "internal_error", "fatal_error", "service_unavailable",
                              "request_timeout"})
MAX_TEXT = 3000


class SlackParams(Params):
    channel: str | None = None
    bot_token: str | None = None
    webhook_url_secret: str | None = None
    message_type: Literal["message", "thread"] = "message"
    mention_users: list[str] = Field(default_factory=list)

    _bot = secret_field("bot_token", inline_hint=SLACK_TOKEN)
    _hook = secret_field("webhook_url_secret", inline_hint=re.compile(r"^https?://"))

    @model_validator(mode="after")
    def _one_way(self) -> SlackParams:
        if self.webhook_url_secret is None and (self.bot_token is None or self.channel is None):
            raise ValueError("a slack sink needs channel and botToken (a Secret name), or webhookUrlSecret")
        if self.webhook_url_secret is not None and self.bot_token is not None:
            raise ValueError("botToken and webhookUrlSecret: give one")
        return self


def mention(user: str) -> str:
    u = user.strip()
    if u.lower() in ("@here", "@channel", "@everyone", "here", "channel", "everyone"):
        return f"<!{u.lstrip('@').lower()}>"
    bare = u.lstrip("@")
    if re.fullmatch(r"[UW][A-Z0-9]{2,}", bare):
        return f"<@{bare}>"
    if re.fullmatch(r"S[A-Z0-9]{2,}", bare):
        return f"<!subteam^{bare}>"
    return u


def _text(d: Delivery) -> str:
    p: SlackParams = d.params
    if d.approval:
        text = render(p.approval_template or APPROVAL_TEXT, d.context)
    elif p.template:
        text = render(p.template, d.context)
    else:
        alert = d.run.alert or {}
        what = alert.get("alertname") or d.run.workflow
        text = f"cutman: {what}: run {d.run.id} {d.run.phase.value}"
    mentions = " ".join(mention(u) for u in p.mention_users)
    return (f"{mentions} {text}" if mentions else text)[:40_000]


def _cut(text: str) -> str:
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"


def blocks(d: Delivery, settings: Mapping[str, str]) -> list[dict[str, Any]]:
    run, alert = d.run, d.run.alert or {}
    title = alert.get("alertname") or run.workflow_name
    state = "waits for approval" if d.approval else run.phase.value
    out: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": _cut(f"{title}: {state}")[:150]}},
    ]
    fields = [f"*Workflow*\n{run.workflow}", f"*Run*\n{run.id}"]
    if alert:
        fields += [f"*Alert*\n{alert.get('alertname', '')}", f"*Severity*\n{alert.get('severity') or '-'}"]
        if alert.get("summary"):
            fields.append(f"*Alert summary*\n{alert['summary']}")
    out.append({"type": "section", "fields": [{"type": "mrkdwn", "text": _cut(f)[:2000]} for f in fields]})
    for key, label in (("summary", "Summary"), ("root_cause", "Root cause"), ("recommendations", "Recommendations")):
        value = run.outputs.get(key)
        if value:
            out.append({"type": "section", "text": {"type": "mrkdwn", "text": _cut(f"*{label}*\n{value}")}})
    if run.error:
        out.append({"type": "section", "text": {"type": "mrkdwn", "text": _cut(f"*Error*\n{run.error}")}})
    link = run_url(settings, run.id)
    if link:
        out.append({"type": "context", "elements": [{"type": "mrkdwn", "text": f"<{link}|Run {run.id}>"}]})
    if d.approval:
        a = d.approval
        step = a.get("step", "")
        buttons = []
        for key, label, style in (("approveUrl", "Approve", "primary"), ("denyUrl", "Deny", "danger")):
            if a.get(key):
                buttons.append({"type": "button", "text": {"type": "plain_text", "text": f"{label} {step}"[:75]},
                                "url": a[key], "style": style, "action_id": label.lower()})
        if buttons:
            out.append({"type": "actions", "elements": buttons})
        else:
            out.append({"type": "section", "text": {"type": "mrkdwn", "text": _cut(
                f"`{a.get('approve', '')}` or `{a.get('deny', '')}`")}})
    return out


class SlackSink:
    type: ClassVar[Any] = SinkType.SLACK
    params: ClassVar[type[Params]] = SlackParams
    idempotent: ClassVar[bool] = False

    def check(self, params: SlackParams) -> None:
        if params.channel is not None and not params.channel.strip():
            raise Invalid("config.channel is empty", field="spec.config.channel")
        check_templates(params)

    async def deliver(self, delivery: Delivery, ports: Ports) -> str:
        p: SlackParams = delivery.params
        message: dict[str, Any] = {"text": _text(delivery), "blocks": blocks(delivery, ports.settings)}
        if p.webhook_url_secret:
            url = await ports.secrets.resolve(p.webhook_url_secret, field="config.webhookUrlSecret",
                                              keys=("url", "webhookUrl", "webhook"))
            await self._post(ports, url, message, None, p.timeout_seconds, what="slack webhook")
            return "posted to the Slack incoming webhook"
        token = await ports.secrets.resolve(p.bot_token or "", field="config.botToken", keys=("token", "botToken"))
        thread_key = f"thread:{delivery.fingerprint}"
        thread = await ports.state.get(thread_key) if p.message_type == "thread" else None
        message["channel"] = p.channel
        if thread:
            message["thread_ts"] = thread
        api = ports.settings.get("CUTMAN_SLACK_API_URL", DEFAULT_API).rstrip("/")
        answer = await self._post(ports, f"{api}/chat.postMessage", message, token, p.timeout_seconds,
                                  what="slack chat.postMessage")
        ts = str(answer.get("ts") or "")
        if p.message_type == "thread" and not thread and ts:
            await ports.state.put(thread_key, ts)
        where = f"thread {thread}" if thread else "a new message"
        return f"posted to {answer.get('channel') or p.channel} as {where} (ts {ts})"

    async def _post(self, ports: Ports, url: str, message: dict[str, Any], token: str | None,
                    timeout: float, *, what: str) -> dict[str, Any]:
        headers = {"content-type": "application/json; charset=utf-8"}
        if token:
            headers["authorization"] = f"Bearer {token}"
        for attempt in (1, 2):
            try:
                resp = await request(ports, "POST", url, what=what, timeout=timeout, json=message, headers=headers)
            except RemoteUnavailable as exc:
                wait = exc.retry_after
                if attempt == 1 and wait is not None and wait < timeout / 2:
                    await asyncio.sleep(wait)
                    continue
                raise
            if token is None:
                return {}
            try:
                answer: dict[str, Any] = resp.json()
            except ValueError:
                raise Unavailable(f"{what} answered {resp.status_code} without JSON") from None
            if answer.get("ok"):
                return answer
            error = str(answer.get("error") or "unknown_error")
            if error in TEMPORARY_ERRORS:
                raise Unavailable(f"{what} failed: {error}")
            raise PermanentError(f"{what} failed: {error}")
        raise Unavailable(f"{what} rate limited")

