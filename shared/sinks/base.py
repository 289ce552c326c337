"""What every sink plugin is given and returns: its params base, the delivery, the ports.

A plugin is one module per `spec.type` with a `Params` model (fields its type takes, and
only those) and a class with `check(params)` (refuse at apply time what cannot work) and
`deliver(delivery, ports)` (send; return a one-line description for the run record).
It reaches the outside only through `Ports`: an HTTP client, a secret resolver, a small
per-sink state store, an event emitter and the function's settings. No globals, so the
same plugin runs in the sink function and in the housekeeping sweep.

Errors: `Unavailable` for what may succeed later (network, 5xx, 408, 429: the broker
retries), `PermanentError` for what will not (any other 4xx: recorded, not retried).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, ClassVar, Protocol
from urllib.parse import urlsplit

from cloudevents.core.v1.event import CloudEvent
from pydantic import Field, field_validator

from ..core.urls import redact_url
from ..errors import PermanentError, Unavailable
from ..models.base import Spec
from ..models.run import Run

if TYPE_CHECKING:  # the client is made by whoever delivers; checking a Sink needs no httpx
    import httpx

RETRYABLE = frozenset({408, 425, 429})
# A Secret name (DNS-1123 subdomain), optionally `/key` (a Secret data key).
SECRET_REF_RE = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?(/[-._a-zA-Z0-9]{1,253})?$")


# every params field that names a Secret (the reconciler mirrors those Secrets in a cluster)
SECRET_FIELDS = ("bot_token", "webhook_url_secret", "routing_key", "credentials_secret", "secret_ref",
                 "headers_secret")


def secret_names(params: Any) -> list[str]:
    """Names of the Secrets a sink's params refer to, sorted, once each."""
    refs = {getattr(params, f, None) for f in SECRET_FIELDS}
    return sorted({r.partition("/")[0] for r in refs if isinstance(r, str) and r})


class SinkEvent(StrEnum):
    """What a delivery announces; one record (and one post) per (run, sink, event)."""

    FINISHED = "finished"
    APPROVAL = "approval"


class Params(Spec):
    """Fields every sink type takes."""

    template: str | None = None
    approval_template: str | None = None
    context: dict[str, str] = Field(default_factory=dict)
    timeout_seconds: float = Field(default=10.0, gt=0, le=300)


def secret_field(field_name: str, *, inline_hint: re.Pattern[str] | None = None) -> Any:
    """A validator for a field that names a Secret (`name` or `name/key`), never a value."""

    def check(cls: Any, v: str | None) -> str | None:
        if v is None:
            return v
        if inline_hint is not None and inline_hint.search(v):
            raise ValueError(
                f"looks like a credential written inline; put it in a Secret in the Sink's "
                f"namespace (kubectl create secret generic my-secret --from-literal=token=...) "
                f"and write {field_name}: my-secret (or my-secret/<key>)")
        if not SECRET_REF_RE.match(v):
            raise ValueError(
                f"must name a Secret in the Sink's namespace: `name` or `name/key` "
                f"(credentials are never written inline), got {len(v)} characters that are not one")
        return v

    return field_validator(field_name)(check)


@dataclass(frozen=True)
class Delivery:
    """One (run, sink, event) to send. `context` is the run's template context, with
    `approval` set for an approval request and the sink's `config.context` as `.sink.context`."""

    sink: str
    run: Run
    params: Any
    context: dict[str, Any]
    event: SinkEvent
    approval: dict[str, Any] | None = None

    @property
    def namespace(self) -> str:
        return self.sink.partition("/")[0]

    @property
    def key(self) -> str:
        """Stable across redeliveries: an idempotency key for remotes that take one."""
        step = f":{self.approval.get('step')}" if self.approval else ""
        return f"{self.run.id}/{self.sink}/{self.event.value}{step}"

    @property
    def fingerprint(self) -> str:
        alert = self.run.alert or {}
        return str(alert.get("fingerprint") or self.run.id)


class SecretResolver(Protocol):
    async def resolve(self, ref: str, *, field: str, keys: tuple[str, ...] = ("token",)) -> str:
        """The value of `ref` (`name/key`, or a bare name: its only key or one of `keys`)
        from a Secret in the Sink's namespace; PermanentError naming `field` if absent."""
        ...

    async def all_keys(self, ref: str, *, field: str) -> dict[str, str]:
        """Every key of the Secret `ref` names (headers from a Secret)."""
        ...


class SinkState(Protocol):
    """A few strings per sink that outlive one delivery (Slack thread ts, Jira issue key)."""

    async def get(self, key: str) -> str | None: ...
    async def put(self, key: str, value: str) -> None: ...


@dataclass
class Ports:
    http: httpx.AsyncClient
    secrets: SecretResolver
    state: SinkState
    emit: Callable[[CloudEvent], None]
    settings: Mapping[str, str] = field(default_factory=dict)


class SinkPlugin(Protocol):
    type: ClassVar[Any]
    params: ClassVar[type[Params]]
    # the remote takes an idempotency key (PagerDuty dedup_key, S3 conditional put), so a
    # delivery whose outcome a crash hid may be sent again
    idempotent: ClassVar[bool]

    def check(self, params: Any) -> None: ...

    async def deliver(self, delivery: Delivery, ports: Ports) -> str: ...


class Skip(Exception):
    """Raised by a plugin for a delivery it deliberately does not make (recorded Skipped)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class RemoteUnavailable(Unavailable):
    """A temporary refusal by the remote; `retry_after` from its Retry-After header (the
    sink answers the broker with it)."""


def run_url(settings: Mapping[str, str], run_id: str) -> str | None:
    """Where a human sees the run (the API served by ingest at CUTMAN_PUBLIC_URL)."""
    public = settings.get("CUTMAN_PUBLIC_URL", "").rstrip("/")
    return f"{public}/api/v1/runs/{run_id}" if public else None


def check_http_url(url: str | None, field_name: str) -> None:
    from ..errors import Invalid

    parts = urlsplit(url or "")
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise Invalid(f"config.{field_name} must be an http(s) URL", field=f"spec.config.{field_name}")


async def request(ports: Ports, method: str, url: str, *, what: str, timeout: float,
                  **kwargs: Any) -> httpx.Response:
    """One HTTP call with the status rules above; error details never carry the URL's
    query string or userinfo."""
    import httpx

    shown = redact_url(url)
    try:
        resp = await ports.http.request(method, url, timeout=timeout, **kwargs)
    except httpx.HTTPError as exc:
        raise Unavailable(f"{what} {shown} unreachable: {type(exc).__name__}") from None
    if resp.status_code < 300:
        return resp
    detail = f"{what} {shown} answered {resp.status_code}: {resp.text[:200]}"
    if resp.status_code in RETRYABLE or resp.status_code >= 500:
        retry_after = None
        try:
            retry_after = float(resp.headers.get("retry-after", ""))
        except ValueError:
            pass
        raise RemoteUnavailable(detail, retry_after=retry_after)
    raise PermanentError(detail)
