"""The secret policy is pure: which approval keys and Redis passwords a function refuses."""

from __future__ import annotations

import secrets

import pytest
from cutman.core.secret_policy import (
    APPROVAL_KEY,
    REDIS_PASSWORD,
    SecretRefused,
    check_secrets,
    redis_password_of,
    secret_problem,
    secrets_required,
)

GOOD_KEY = secrets.token_urlsafe(32)
GOOD_PW = secrets.token_urlsafe(24)


@pytest.mark.parametrize("value", ["replace-with-32-random-bytes-base64", "CHANGE-ME-to-a-long-random-string",
                                   "my-placeholder-approval-key-of-enough-length", "changeme" * 5])
def test_placeholders_are_refused_even_when_long(value: str) -> None:
    problem = secret_problem(rule=APPROVAL_KEY, value=value, required=False)
    assert problem is not None and "CUTMAN_APPROVAL_KEY is a known placeholder" in problem


def test_short_values_are_refused_with_the_length() -> None:
    problem = secret_problem(rule=APPROVAL_KEY, value="x" * 31, required=False)
    assert problem == "CUTMAN_APPROVAL_KEY is too short (31 characters, at least 32)"
    assert secret_problem(rule=APPROVAL_KEY, value="x" * 32, required=False) is None


def test_missing_is_refused_only_where_required() -> None:
    assert secret_problem(rule=REDIS_PASSWORD, value=None, required=False) is None
    assert "REDIS_PASSWORD is not set" in (secret_problem(rule=REDIS_PASSWORD, value="", required=True) or "")


def test_knative_requires_secrets_unless_told_otherwise() -> None:
    assert secrets_required({"K_SERVICE": "cutman-ingest"})
    assert not secrets_required({})
    assert secrets_required({"CUTMAN_REQUIRE_SECRETS": "true"})
    assert not secrets_required({"K_SERVICE": "x", "CUTMAN_REQUIRE_SECRETS": "false"})


def test_the_redis_password_may_come_from_the_url() -> None:
    assert redis_password_of({"REDIS_URL": f"rediss://:{GOOD_PW}@redis.example:6380/0"}) == GOOD_PW
    assert redis_password_of({"REDIS_URL": "redis://r:6379/0", "REDIS_PASSWORD": "p"}) == "p"
    assert redis_password_of({"REDIS_URL": "redis://r:6379/0"}) is None


def test_check_names_every_problem_at_once() -> None:
    cfg = {"K_SERVICE": "cutman-step-cli", "CUTMAN_APPROVAL_KEY": "short", "REDIS_URL": "redis://r/0"}
    with pytest.raises(SecretRefused) as refused:
        check_secrets(cfg, approval_key=True)
    message = str(refused.value)
    assert "REDIS_PASSWORD is not set" in message and "CUTMAN_APPROVAL_KEY is too short (5" in message
    check_secrets({**cfg, "CUTMAN_APPROVAL_KEY": GOOD_KEY, "REDIS_PASSWORD": GOOD_PW}, approval_key=True)
    check_secrets({"K_SERVICE": "cutman-sink", "REDIS_PASSWORD": GOOD_PW}, approval_key=False)
