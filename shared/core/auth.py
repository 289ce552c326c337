"""Webhook authentication: bearer tokens stored as hashes, HMAC body signatures.

Bearer: the reconciler resolves the Secret and keeps only `sha256:<hex>` of the token
in the compiled config; ingest hashes what it receives and compares the two digests
in constant time, so neither Redis nor a log ever holds the token.

HMAC: verifying a signature needs the key itself, so the compiled config keeps the key
(Redis is where local Secrets live anyway). It is never logged, never put in an event
or run state, and never echoed in an error. The signature header carries
`sha256=<hex>` of HMAC-SHA256(key, body), as GitHub-style webhooks do.
"""

from __future__ import annotations

import hashlib
import hmac

DEFAULT_SIGNATURE_HEADER = "x-cutman-signature"
BEARER_HEADER = "authorization"


def hash_token(token: str) -> str:
    return "sha256:" + hashlib.sha256(token.encode()).hexdigest()


def bearer_of(header: str) -> str | None:
    """The token of an `Authorization: Bearer <token>` value, or None."""
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def verify_bearer(header: str, *, token_hash: str) -> bool:
    token = bearer_of(header)
    got = hash_token(token) if token is not None else "sha256:"
    return hmac.compare_digest(got.encode(), token_hash.encode()) and token is not None


def sign(body: bytes, *, key: str) -> str:
    return "sha256=" + hmac.new(key.encode(), body, hashlib.sha256).hexdigest()


def verify_signature(header: str, body: bytes, *, key: str) -> bool:
    return hmac.compare_digest(header.strip().lower().encode(), sign(body, key=key).encode())
