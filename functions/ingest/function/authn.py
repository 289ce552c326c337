"""Checking a webhook request against its Source's compiled authentication.

The reconciler compiles `authentication` into `ingest.auth` of the Source's config:
`{type: bearer, header, tokenHash}` or `{type: hmac, header, key}` (see
cutman.core.auth for why HMAC keeps the key). Errors never echo what was received.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cutman.core import auth
from cutman.errors import Unauthorized
from cutman.models.kinds import AuthType


def check(compiled: Mapping[str, Any] | None, *, headers: Mapping[str, str], body: bytes) -> None:
    """Raise Unauthorized unless the request satisfies the Source's authentication."""
    if not compiled:
        return
    kind = AuthType(compiled["type"])
    header = str(compiled.get("header") or "").lower()
    if kind is AuthType.BEARER:
        header = header or auth.BEARER_HEADER
        got = headers.get(header)
        if got is None:
            raise Unauthorized(f"missing {header} header: this Source requires a bearer token")
        value = got if header == auth.BEARER_HEADER or got.lower().startswith("bearer ") else f"Bearer {got}"
        if not auth.verify_bearer(value, token_hash=str(compiled["tokenHash"])):
            raise Unauthorized(f"wrong bearer token in the {header} header")
        return
    header = header or auth.DEFAULT_SIGNATURE_HEADER
    got = headers.get(header)
    if got is None:
        raise Unauthorized(f"missing {header} header: this Source requires an HMAC-SHA256 signature "
                           "of the body (sha256=<hex>)")
    if not auth.verify_signature(got, body, key=str(compiled["key"])):
        raise Unauthorized(f"the {header} signature does not match the body")
