"""The prometheus sink: push `metrics` (name to templated value) to a Pushgateway.

Each metric becomes an untyped sample in the text exposition format, POSTed to
`<pushgateway>/metrics/job/<job>[/<label>/<value>...]` with the grouping `labels`
(templated too; values with a `/` are sent base64url-encoded, as the Pushgateway
documents). A push replaces the samples of those names in that group, so a redelivery
pushes the same values again: safe to repeat. A value must render to a number (or
true/false, pushed as 1/0); anything else fails the delivery naming the metric.
"""

from __future__ import annotations

import base64
import math
import re
from typing import Any, ClassVar

from pydantic import Field, field_validator

from ..core.templating import render
from ..core.urls import redact_url
from ..errors import PermanentError
from ..models.resources import SinkType
from .base import Delivery, Params, Ports, check_http_url, request
from .payload import check_templates

METRIC_RE = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
LABEL_RE = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


class PrometheusParams(Params):
    pushgateway: str
    job: str = "cutman"
    metrics: dict[str, str] = Field(min_length=1)
    labels: dict[str, str] = Field(default_factory=dict)

    @field_validator("metrics")
    @classmethod
    def _names(cls, v: dict[str, str]) -> dict[str, str]:
        bad = [n for n in v if not METRIC_RE.match(n)]
        if bad:
            raise ValueError(f"{bad[0]!r} is not a Prometheus metric name ([a-zA-Z_:][a-zA-Z0-9_:]*)")
        return v

    @field_validator("labels")
    @classmethod
    def _labels(cls, v: dict[str, str]) -> dict[str, str]:
        bad = [n for n in v if not LABEL_RE.match(n) or n == "job"]
        if bad:
            raise ValueError(f"{bad[0]!r} is not a grouping label name (and `job` is config.job)")
        return v


def _number(name: str, text: str) -> float:
    t = text.strip().lower()
    if t in ("true", "false"):
        return 1.0 if t == "true" else 0.0
    try:
        value = float(t)
    except ValueError:
        raise PermanentError(f"config.metrics.{name}: rendered {text.strip()[:60]!r}, not a number") from None
    return value


def _fmt(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(value)


def _segment(name: str, value: str) -> str:
    if value == "" or "/" in value:
        encoded = base64.urlsafe_b64encode(value.encode()).decode() or "="
        return f"{name}@base64/{encoded}"
    from urllib.parse import quote

    return f"{name}/{quote(value, safe='')}"


class PrometheusSink:
    type: ClassVar[Any] = SinkType.PROMETHEUS
    params: ClassVar[type[Params]] = PrometheusParams
    idempotent: ClassVar[bool] = True

    def check(self, params: PrometheusParams) -> None:
        check_http_url(params.pushgateway, "pushgateway")
        check_templates(params, *params.metrics.values(), *params.labels.values(), params.job)

    async def deliver(self, delivery: Delivery, ports: Ports) -> str:
        p: PrometheusParams = delivery.params
        if delivery.approval:
            return "approval requests push no metrics"
        samples = {name: _number(name, render(value, delivery.context)) for name, value in p.metrics.items()}
        job = render(p.job, delivery.context).strip() or "cutman"
        path = "/metrics/" + _segment("job", job)
        for name, value in sorted(p.labels.items()):
            path += "/" + _segment(name, render(value, delivery.context))
        text = "".join(f"# TYPE {n} untyped\n{n} {_fmt(v)}\n" for n, v in samples.items())
        await request(ports, "POST", p.pushgateway.rstrip("/") + path, what="pushgateway",
                      timeout=p.timeout_seconds, content=text.encode(),
                      headers={"content-type": "text/plain; version=0.0.4"})
        return f"pushed {', '.join(sorted(samples))} to {redact_url(p.pushgateway)} job {job}"
