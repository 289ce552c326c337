"""Signed, expiring approval tokens: what a link in Slack carries to approve or deny.

A token names one decision (run, step, approve|deny) and an expiry, signed with
HMAC-SHA256 under the deployment's approval key. Verification is constant-time and
names why a token is refused. Pure: the key and the current time are arguments.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from dataclasses import dataclass

from ..errors import Unauthorized
from ..models.run import Decision


class TokenError(Unauthorized):
    pass


@dataclass(frozen=True)
class Grant:
    run: str
    step: str
    decision: Decision
    expires: int


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(key: bytes, payload: str) -> str:
    return _b64(hmac.new(key, payload.encode(), hashlib.sha256).digest())


def make_token(*, key: bytes, run: str, step: str, decision: Decision, expires: int) -> str:
    payload = _b64(json.dumps({"r": run, "s": step, "d": decision.value, "e": expires},
                              separators=(",", ":")).encode())
    return f"{payload}.{_sign(key, payload)}"


def verify_token(*, key: bytes, token: str, now: float) -> Grant:
    payload, dot, signature = token.partition(".")
    if not dot or not payload or not signature:
        raise TokenError("approval token is malformed")
    if not hmac.compare_digest(_sign(key, payload).encode(), signature.encode()):
        raise TokenError("approval token signature does not match")
    try:
        body = json.loads(_unb64(payload))
        grant = Grant(str(body["r"]), str(body["s"]), Decision(body["d"]), int(body["e"]))
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise TokenError("approval token is malformed") from None
    if now > grant.expires:
        raise TokenError("approval token has expired")
    return grant
