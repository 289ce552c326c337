"""The webhook sink: POSTs the rendered template (or the run summary) to `config.endpoint`.

`secretRef` names a Secret whose value signs the body: header `X-Cutman-Signature`
(or `signatureHeader`) is `sha256=<hex HMAC-SHA256 of the exact body bytes>`, as GitHub
signs its webhooks, so a receiver verifies it with any HMAC library. `headersSecret`
names a Secret whose every key is sent as a header (an API key, a bearer token).
`X-Cutman-Delivery` carries a key stable across redeliveries, for receivers that dedupe.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any, ClassVar

from pydantic import Field

from ..core.urls import redact_url
from ..models.resources import SinkType
from .base import Delivery, Params, Ports, check_http_url, request, secret_field
from .payload import body, check_templates


class WebhookParams(Params):
    endpoint: str
    method: str = "POST"
    headers: dict[str, str] = Field(default_factory=dict)
    headers_secret: str | None = None
    secret_ref: str | None = None
    signature_header: str = "X-Cutman-Signature"
    pretty: bool = False

    _refs = secret_field("secret_ref")
    _hrefs = secret_field("headers_secret")


def signature(secret: str, payload: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), payload, hashlib.sha256).hexdigest()


class WebhookSink:
    type: ClassVar[Any] = SinkType.WEBHOOK
    params: ClassVar[type[Params]] = WebhookParams
    idempotent: ClassVar[bool] = False

    def check(self, params: WebhookParams) -> None:
        check_http_url(params.endpoint, "endpoint")
        if params.method.upper() not in ("POST", "PUT", "PATCH"):
            from ..errors import Invalid

            raise Invalid("config.method must be POST, PUT or PATCH", field="spec.config.method")
        check_templates(params)

    async def deliver(self, delivery: Delivery, ports: Ports) -> str:
        p: WebhookParams = delivery.params
        text, is_json = body(p, delivery.run, delivery.context, pretty=p.pretty)
        payload = text.encode()
        headers = {"content-type": "application/json" if is_json else "text/plain; charset=utf-8"}
        headers.update(p.headers)
        if p.headers_secret:
            headers.update(await ports.secrets.all_keys(p.headers_secret, field="config.headersSecret"))
        headers["x-cutman-run"] = delivery.run.id
        headers["x-cutman-delivery"] = delivery.key
        if p.secret_ref:
            key = await ports.secrets.resolve(p.secret_ref, field="config.secretRef", keys=("secret", "token"))
            headers[p.signature_header] = signature(key, payload)
        resp = await request(ports, p.method.upper(), p.endpoint, what="webhook", timeout=p.timeout_seconds,
                             content=payload, headers=headers)
        return f"{resp.status_code} from {redact_url(p.endpoint)}"
