"""How the dev broker puts one event on the wire and hands it to one subscriber.

Kept apart from the Redis side so the Knative data-plane rules live in one place:
the CloudEvents HTTP binding in and out, which status codes are retried
(404/408/409/429/5xx and no response, as knative.dev/eventing's `SelectiveRetry`),
how `spec.delivery` turns into a retry schedule, how a subscriber reference becomes
a URL, and which `knativeerror*` extensions a dead-lettered event carries.

Library errors stop here: aiohttp failures become an `Attempt` with no status, and a
malformed event becomes `cutman.errors.BadRequest`.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any
from urllib.parse import urljoin, urlsplit

import aiohttp
from cloudevents.core.base import BaseCloudEvent
from cloudevents.core.bindings import http as ce_http
from cloudevents.core.bindings.common import get_event_factory_for_version
from cloudevents.core.exceptions import BaseCloudEventException
from cloudevents.core.formats.json import JSONFormat
from cutman.core import jsonlimits
from cutman.core.trigger_filter import canonical
from cutman.errors import BadRequest, Invalid, NotFound

STRUCTURED = "application/cloudevents+json"
BATCH = "application/cloudevents-batch+json"
REQUIRED_ATTRIBUTES = ("specversion", "id", "source", "type")
NO_RESPONSE = -1
"""Status recorded when no HTTP response came back (Knative uses -1 too)."""
RETRYABLE_STATUSES = frozenset({404, 408, 409, 429})
ERROR_DATA_LIMIT = 1024
CONNECT_TIMEOUT = 5.0
_JSON_MEDIA = re.compile(r"^(application|text)/([a-zA-Z0-9\-.]+\+)?json(;.*)?$")
_DURATION = re.compile(
    r"^P(?:(?P<weeks>\d+(?:\.\d+)?)W)?(?:(?P<days>\d+(?:\.\d+)?)D)?"
    r"(?:T(?:(?P<hours>\d+(?:\.\d+)?)H)?(?:(?P<minutes>\d+(?:\.\d+)?)M)?"
    r"(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?$"
)
_SECONDS = {"weeks": 604800.0, "days": 86400.0, "hours": 3600.0, "minutes": 60.0, "seconds": 1.0}


class Ext(StrEnum):
    """Extensions the Knative broker adds to events."""

    ARRIVAL_TIME = "knativearrivaltime"
    ERROR_CODE = "knativeerrorcode"
    ERROR_DEST = "knativeerrordest"
    ERROR_DATA = "knativeerrordata"


class BackoffPolicy(StrEnum):
    LINEAR = "linear"
    EXPONENTIAL = "exponential"


class Header(StrEnum):
    CONTENT_TYPE = "content-type"
    PREFER = "Prefer"


PREFER_REPLY = "reply"


# -- events on the wire ------------------------------------------------------------


def parse_http_event(headers: Mapping[str, str], body: bytes) -> BaseCloudEvent:
    """A CloudEvent from an HTTP request or response, binary or structured mode.

    Raises `BadRequest` saying what is wrong. Required attributes are checked before
    the SDK sees the message, because the SDK would invent a missing id.
    """
    lowered = {k.lower(): v for k, v in headers.items()}
    content_type = lowered.get(Header.CONTENT_TYPE, "").lower()
    if is_binary(lowered):
        missing = [a for a in REQUIRED_ATTRIBUTES if not lowered.get(f"ce-{a}")]
        if missing:
            raise BadRequest(
                "binary-mode event lacks required attribute(s): "
                + ", ".join(f"{a} (header ce-{a})" for a in missing),
                field=missing[0],
            )
        had_time = "ce-time" in lowered
    elif content_type.startswith(BATCH):
        raise BadRequest("batched CloudEvents are not supported: send one event per request")
    elif content_type.startswith(STRUCTURED):
        doc = _json_object(body)
        missing = [a for a in REQUIRED_ATTRIBUTES if not doc.get(a)]
        if missing:
            raise BadRequest(
                f"structured-mode event lacks required attribute(s): {', '.join(missing)}",
                field=missing[0],
            )
        had_time = "time" in doc
    else:
        raise BadRequest(
            "not a CloudEvent: no ce-* headers (binary mode) and content type "
            f"{content_type or 'none'!r} is not {STRUCTURED} (structured mode)"
        )
    try:
        event = ce_http.from_http_event(ce_http.HTTPMessage(headers=lowered, body=body))
    except (BaseCloudEventException, ValueError, TypeError, KeyError) as exc:
        raise BadRequest(f"invalid CloudEvent: {exc}") from exc
    return _unstamped(event, had_time)


def is_binary(headers: Mapping[str, str]) -> bool:
    return any(k.lower().startswith("ce-") for k in headers)


def looks_like_event(headers: Mapping[str, str]) -> bool:
    content_type = {k.lower(): v for k, v in headers.items()}.get(Header.CONTENT_TYPE, "")
    return is_binary(headers) or content_type.lower().startswith((STRUCTURED, BATCH))


def dump_event(event: BaseCloudEvent) -> str:
    """Structured-mode JSON: how events are kept in Redis Streams."""
    return JSONFormat().write(event).decode()


def load_event(text: str) -> BaseCloudEvent:
    """Inverse of `dump_event`; raises `BadRequest` on a corrupt entry."""
    body = text.encode()
    doc = _json_object(body)
    try:
        event = JSONFormat().read(None, body)
    except (BaseCloudEventException, ValueError, TypeError, KeyError) as exc:
        raise BadRequest(f"stored event is not a CloudEvent: {exc}") from exc
    return _unstamped(event, "time" in doc)


def with_attributes(event: BaseCloudEvent, **attributes: str) -> BaseCloudEvent:
    """A copy of `event` with extra (extension) attributes."""
    current = event.get_attributes()
    factory = get_event_factory_for_version(event.get_specversion())
    copy = factory({**current, **attributes}, event.get_data())
    return _unstamped(copy, "time" in current)


def arrived(event: BaseCloudEvent) -> BaseCloudEvent:
    """Stamp `knativearrivaltime`, as Knative's ingress does."""
    return with_attributes(event, **{Ext.ARRIVAL_TIME: canonical(datetime.now(UTC))})


def binary_message(event: BaseCloudEvent) -> ce_http.HTTPMessage:
    """Binary mode, keeping JSON data JSON: the SDK would write a JSON string or array
    as Python text."""
    message = ce_http.to_binary_event(event)
    data = event.get_data()
    media = event.get_datacontenttype() or "application/json"
    if data is not None and not isinstance(data, bytes | dict) and _JSON_MEDIA.match(media):
        return ce_http.HTTPMessage(headers=message.headers, body=json.dumps(data).encode())
    return message


def _json_object(body: bytes) -> dict[str, Any]:
    doc = jsonlimits.loads(body, what="structured-mode body", max_depth=jsonlimits.MAX_INTERNAL_DEPTH)
    if not isinstance(doc, dict):
        raise BadRequest("structured-mode body must be a JSON object")
    return doc


def _unstamped(event: BaseCloudEvent, had_time: bool) -> BaseCloudEvent:
    # The SDK stamps `time` on events that had none; a broker forwards events unchanged.
    if not had_time:
        event.get_attributes().pop("time", None)
    return event


# -- delivery policy ----------------------------------------------------------------


def parse_duration(text: str) -> float:
    """Seconds in an ISO-8601 duration such as PT0.2S, PT5M, P1DT2H (no years/months)."""
    match = _DURATION.match(text.strip()) if isinstance(text, str) else None
    if match is None or text.strip() in ("P", "PT") or text.strip().endswith("T"):
        raise ValueError(f"{text!r} is not an ISO-8601 duration like PT0.2S or PT5M")
    return sum(float(v) * _SECONDS[k] for k, v in match.groupdict().items() if v)


@dataclass(frozen=True)
class DeliveryPolicy:
    """Retry schedule and dead-letter sink for one delivery (Knative `DeliverySpec`).

    `retry` counts retries after the first attempt. Retry n waits
    `backoff_delay * n` (linear) or `backoff_delay * 2**(n-1)` (exponential, as
    Knative's dispatcher computes it), capped at `max_backoff`, or longer when the
    answer carried Retry-After (itself capped at `max_backoff`). `timeout` bounds
    each attempt.
    """

    retry: int = 10
    backoff_policy: BackoffPolicy = BackoffPolicy.EXPONENTIAL
    backoff_delay: float = 0.2
    timeout: float = 600.0
    max_backoff: float = 30.0
    dead_letter_sink: Mapping[str, Any] | None = field(default=None)

    def backoff(self, retry_number: int) -> float:
        if self.backoff_policy is BackoffPolicy.LINEAR:
            delay = self.backoff_delay * retry_number
        else:
            delay = self.backoff_delay * 2 ** max(retry_number - 1, 0)
        return float(min(delay, self.max_backoff))

    def override(self, spec: Mapping[str, Any] | None) -> tuple[DeliveryPolicy, list[str]]:
        """These defaults overridden field by field by a Trigger's `spec.delivery`.

        A bad field keeps the default and is reported in the returned problems, so a
        typo in one Trigger cannot stop its events.
        """
        if not spec:
            return self, []
        changes: dict[str, Any] = {}
        problems: list[str] = []
        if "retry" in spec:
            retry = spec["retry"]
            if isinstance(retry, int) and not isinstance(retry, bool) and retry >= 0:
                changes["retry"] = retry
            else:
                problems.append(f"delivery.retry must be a non-negative integer, not {retry!r}")
        if "backoffPolicy" in spec:
            try:
                changes["backoff_policy"] = BackoffPolicy(spec["backoffPolicy"])
            except ValueError:
                problems.append(
                    f"delivery.backoffPolicy must be linear or exponential, "
                    f"not {spec['backoffPolicy']!r}"
                )
        for key, attr in (("backoffDelay", "backoff_delay"), ("timeout", "timeout")):
            if key in spec:
                try:
                    changes[attr] = parse_duration(spec[key])
                except ValueError as exc:
                    problems.append(f"delivery.{key}: {exc}")
        if spec.get("deadLetterSink"):
            changes["dead_letter_sink"] = spec["deadLetterSink"]
        return replace(self, **changes), problems


def resolve_destination(
    destination: Mapping[str, Any], addressables: Mapping[str, str], namespace: str
) -> str:
    """The URL of a Knative Destination (`ref`, `uri`, or `ref` + relative `uri`).

    `addressables` maps a Service name (or `namespace/name`) to its base URL.
    Raises `NotFound` for an unknown ref and `Invalid` for an unusable uri.
    """
    ref = destination.get("ref")
    uri = destination.get("uri")
    if ref:
        name = ref.get("name", "")
        ns = ref.get("namespace") or namespace
        base = addressables.get(f"{ns}/{name}") or addressables.get(name)
        if not base:
            raise NotFound(
                f"{ref.get('kind', 'Service')} {ns}/{name} is not addressable: "
                f"known services are {sorted(addressables) or 'none'}",
                field="ref.name",
            )
        return urljoin(base, uri) if uri else base
    if uri:
        parts = urlsplit(uri)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise Invalid(f"uri {uri!r} must be an absolute http(s) URL without a ref", field="uri")
        return str(uri)
    raise Invalid("destination needs a ref or a uri", field="ref")


# -- sending ------------------------------------------------------------------------


@dataclass(frozen=True)
class Attempt:
    """The outcome of one HTTP POST; `status` is NO_RESPONSE when none came back."""

    status: int
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    error: str = ""

    @property
    def succeeded(self) -> bool:
        return 200 <= self.status < 300

    @property
    def retryable(self) -> bool:
        return self.status == NO_RESPONSE or self.status >= 500 or self.status in RETRYABLE_STATUSES

    def describe(self) -> str:
        return self.error or f"HTTP {self.status}"

    def retry_after(self) -> float:
        """Seconds a 409, 429 or 503 asks the sender to wait (`Retry-After`, delay-seconds
        form), as Knative's dispatcher honours it with `delivery-retryafter`; else 0.

        A step function answers 409 while another delivery holds the step's lease, with
        the time that lease has left, so a redelivery is not spent before a live holder
        finishes or a dead one's lease lapses.
        """
        if self.status not in (409, 429, 503):
            return 0.0
        raw = {k.lower(): v for k, v in self.headers.items()}.get("retry-after", "")
        try:
            return max(0.0, float(raw))
        except ValueError:
            return 0.0

    def reply(self) -> BaseCloudEvent | None:
        """The event in a 2xx reply, if any; 202 never carries one (Knative data plane).

        Raises `BadRequest` when the reply claims to be a CloudEvent but is not valid.
        """
        if (
            not self.succeeded
            or self.status == 202
            or not self.body
            and not is_binary(self.headers)
        ):
            return None
        if not looks_like_event(self.headers):
            return None
        return parse_http_event(self.headers, self.body)


def error_extensions(attempt: Attempt, destination: str) -> dict[str, str]:
    """The `knativeerror*` extensions of a dead-lettered event; data is base64 of the
    response body (or of the failure text when there was no response), capped."""
    data = attempt.body or attempt.error.encode()
    out = {Ext.ERROR_CODE.value: str(attempt.status)}
    if destination:
        out[Ext.ERROR_DEST.value] = destination
    if data:
        out[Ext.ERROR_DATA.value] = base64.b64encode(data[:ERROR_DATA_LIMIT]).decode()
    return out


class Sender:
    """POSTs events in binary mode; never raises for transport failures.

    aiohttp, not httpx: a delivery is the broker's unit of work, and aiohttp's client
    costs a tenth of the CPU per request (bench/ of issue 12).
    """

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self._session = session

    async def send(
        self, url: str, event: BaseCloudEvent, *, timeout: float, prefer_reply: bool
    ) -> Attempt:
        message = binary_message(event)
        headers = dict(message.headers)
        if prefer_reply:
            headers[Header.PREFER] = PREFER_REPLY
        limit = aiohttp.ClientTimeout(total=timeout, connect=min(timeout, CONNECT_TIMEOUT))
        try:
            async with asyncio.timeout(timeout), self._session.post(
                url, data=message.body, headers=headers, timeout=limit
            ) as response:
                body = await response.read()
                return Attempt(response.status, body, {k.lower(): v for k, v in response.headers.items()})
        except TimeoutError:
            return Attempt(NO_RESPONSE, error=f"no response within {timeout:g}s")
        except (aiohttp.ClientError, ValueError, OSError) as exc:
            return Attempt(NO_RESPONSE, error=f"{type(exc).__name__}: {exc}")

    async def send_with_retries(
        self,
        url: str,
        event: BaseCloudEvent,
        policy: DeliveryPolicy,
        *,
        prefer_reply: bool,
        on_attempt: Callable[[int, Attempt], None],
    ) -> tuple[Attempt, int]:
        """Attempt until success, a non-retryable answer, or `policy.retry` retries."""
        number = 1
        while True:
            attempt = await self.send(url, event, timeout=policy.timeout, prefer_reply=prefer_reply)
            on_attempt(number, attempt)
            if attempt.succeeded or not attempt.retryable or number > policy.retry:
                return attempt, number
            await asyncio.sleep(max(policy.backoff(number), min(attempt.retry_after(), policy.max_backoff)))
            number += 1
