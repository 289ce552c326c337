"""Token hashing, bearer verification and HMAC signatures (shared/core/auth.py)."""

from __future__ import annotations

import hashlib
import hmac

from cutman.core.auth import bearer_of, hash_token, sign, verify_bearer, verify_signature


def test_hash_is_sha256_and_not_the_token() -> None:
    h = hash_token("s3cret")
    assert h == "sha256:" + hashlib.sha256(b"s3cret").hexdigest()
    assert "s3cret" not in h


def test_bearer_right_wrong_and_malformed() -> None:
    h = hash_token("s3cret")
    assert verify_bearer("Bearer s3cret", token_hash=h)
    assert verify_bearer("bearer   s3cret ", token_hash=h)
    assert not verify_bearer("Bearer s3cret2", token_hash=h)
    assert not verify_bearer("Basic s3cret", token_hash=h)
    assert not verify_bearer("Bearer ", token_hash=h)
    assert not verify_bearer("", token_hash=hash_token(""))
    assert bearer_of("Token abc") is None


def test_hmac_signature_matches_a_reference_implementation() -> None:
    body = b'{"alerts": []}'
    expected = "sha256=" + hmac.new(b"k3y", body, hashlib.sha256).hexdigest()
    assert sign(body, key="k3y") == expected
    assert verify_signature(expected, body, key="k3y")
    assert verify_signature(expected.upper().replace("SHA256=", "sha256="), body, key="k3y")
    assert not verify_signature(expected, body + b" ", key="k3y")
    assert not verify_signature(expected, body, key="other")
    assert not verify_signature(expected.removeprefix("sha256="), body, key="k3y")
    assert not verify_signature("sha256=\u00e9", body, key="k3y")
