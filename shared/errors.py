"""The error hierarchy every cutman function maps to an HTTP status.

    CutmanError
    ├── PermanentError        the same input will fail again: do not retry
    │   ├── BadRequest        400  malformed body or event, names the field
    │   ├── Unauthorized      401  missing or wrong token
    │   ├── NotFound          404  unknown webhook path, source, workflow, run
    │   ├── MethodNotAllowed  405  a known path asked with another method (Allow: says which)
    │   ├── PayloadTooLarge   413
    │   ├── UnsupportedMedia  415
    │   └── Invalid           422  a well-formed resource that cannot be accepted
    └── TemporaryError        may succeed later: the broker (or Alertmanager) retries
        ├── Conflict          409  another delivery holds the lease on this step (Retry-After:
        │                          when the lease lapses unless its holder renews it)
        └── Unavailable       503  Redis or the broker is unreachable

Adapters wrap library errors (redis.ConnectionError, httpx.TransportError) into
`Unavailable`, so handlers never see a library's exception types. The Knative broker
retries 404/408/409/429/5xx; a permanent error that must not be retried by the broker
is mapped to 400/422 by the step functions, which record it on the run instead.
"""

from __future__ import annotations


class CutmanError(Exception):
    status = 500
    reason = "internal"

    def __init__(self, message: str, *, field: str | None = None, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.message = message or type(self).__name__
        self.field = field
        self.retry_after = retry_after

    def body(self) -> dict[str, str]:
        out = {"error": self.reason, "message": self.message}
        if self.field:
            out["field"] = self.field
        return out


class PermanentError(CutmanError):
    status = 400
    reason = "permanent"


class BadRequest(PermanentError):
    status = 400
    reason = "bad_request"


class Unauthorized(PermanentError):
    status = 401
    reason = "unauthorized"


class NotFound(PermanentError):
    status = 404
    reason = "not_found"


class MethodNotAllowed(PermanentError):
    status = 405
    reason = "method_not_allowed"

    def __init__(self, message: str, *, allow: tuple[str, ...]) -> None:
        super().__init__(message)
        self.allow = allow


class PayloadTooLarge(PermanentError):
    status = 413
    reason = "payload_too_large"


class UnsupportedMedia(PermanentError):
    status = 415
    reason = "unsupported_media_type"


class Invalid(PermanentError):
    status = 422
    reason = "invalid"


class TemporaryError(CutmanError):
    status = 503
    reason = "temporary"


class Conflict(TemporaryError):
    status = 409
    reason = "conflict"


class Unavailable(TemporaryError):
    status = 503
    reason = "unavailable"
