"""Compiling a Source for ingest: its manifest plus what ingest needs, secrets resolved.

`authentication.secretRef` is resolved here, at apply time, so a missing Secret is
refused when applied rather than failing every webhook at 3 a.m. In `cutman dev` the
Secret comes from the local secrets `cutman apply` stored; the resolved token is kept
only as a hash (bearer). An HMAC key must stay usable to verify signatures, so it is
kept in the compiled config in Redis, which ingest alone reads; it never goes to logs,
events or run state (see cutman.core.auth).
"""

from __future__ import annotations

from typing import Any

from cutman.core import auth
from cutman.core.routes import Route, route_of
from cutman.errors import Invalid
from cutman.models.resources import Authentication, AuthType, Resource, Source
from cutman.models.secret import SecretError, SecretLookup, resolve_secret

__all__ = ["Route", "SecretLookup", "compile_config", "route_of"]



async def compile_config(res: Resource, *, secrets: SecretLookup) -> dict[str, Any]:
    """The document stored as the resource's compiled config (`cm:cfg:<kind>:<ns>/<name>`)."""
    doc = res.model_dump(by_alias=True, mode="json", exclude_none=True)
    if isinstance(res, Source) and res.spec.config.authentication is not None:
        a = res.spec.config.authentication
        doc["ingest"] = {"auth": await _auth(a, namespace=res.metadata.namespace, secrets=secrets)}
    return doc


async def _auth(a: Authentication, *, namespace: str, secrets: SecretLookup) -> dict[str, str]:
    field = "spec.config.authentication.secretRef"
    if not a.secret_ref:
        raise Invalid(f"{a.type.value} authentication needs a secretRef (a Secret name, or name/key)",
                      field=field)
    try:
        value = await resolve_secret(a.secret_ref, namespace=namespace, lookup=secrets, where=field)
    except SecretError as exc:
        raise SecretError(exc.message, field=field) from None
    if a.type is AuthType.BEARER:
        return {"type": a.type.value, "header": (a.header or auth.BEARER_HEADER).lower(),
                "tokenHash": auth.hash_token(value)}
    return {"type": a.type.value, "header": (a.header or auth.DEFAULT_SIGNATURE_HEADER).lower(), "key": value}
