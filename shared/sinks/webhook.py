"""The webhook sink: POSTs the rendered template (or the run summary) to `config.endpoint`.

A 2xx is delivered; 408, 429, 5xx and network errors are temporary (the broker
retries); any other status is permanent and goes to the dead-letter sink.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import httpx

from ..errors import Invalid, PermanentError, Unavailable
from ..models.resources import SinkSpec, SinkType
from ..models.run import Run
from .payload import body, check_template

RETRYABLE = {408, 425, 429}


class WebhookSink:
    type = SinkType.WEBHOOK

    def check(self, spec: SinkSpec) -> None:
        url = urlsplit(spec.config.endpoint or "")
        if url.scheme not in ("http", "https") or not url.netloc:
            raise Invalid("config.endpoint must be an http(s) URL", field="spec.config.endpoint")
        check_template(spec)

    async def deliver(
        self, *, spec: SinkSpec, run: Run, context: dict[str, Any], http: httpx.AsyncClient
    ) -> str:
        cfg = spec.config
        text, is_json = body(spec, run, context)
        headers = {"content-type": "application/json" if is_json else "text/plain; charset=utf-8"}
        headers.update(cfg.headers or {})
        headers["x-cutman-run"] = run.id
        try:
            resp = await http.request(
                (cfg.method or "POST").upper(), cfg.endpoint or "", content=text.encode(),
                headers=headers, timeout=cfg.timeout_seconds or 10.0,
            )
        except httpx.HTTPError as exc:
            raise Unavailable(f"webhook {cfg.endpoint} unreachable: {type(exc).__name__}") from None
        if resp.status_code < 300:
            return f"{resp.status_code} from {cfg.endpoint}"
        detail = f"webhook {cfg.endpoint} answered {resp.status_code}: {resp.text[:200]}"
        if resp.status_code in RETRYABLE or resp.status_code >= 500:
            raise Unavailable(detail)
        raise PermanentError(detail)
