"""Which secret values a function refuses to start with: missing, short, or known placeholders.

A placeholder copied from the repository (or any example) is public: with it anyone
who read the repository can forge approve links or talk to Redis. So a function that
needs a secret refuses to start, naming the variable and the reason, rather than run
with one it should not trust.

A missing secret is refused only where it is `required`: in a cluster (Knative sets
`K_SERVICE` in every Service's container) or when `CUTMAN_REQUIRE_SECRETS=true`;
`cutman dev` and tests generate or omit them. A value that is set is always checked.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

# Every placeholder this repository (or its predecessors' examples) ever shipped, and
# the words such values are made of; compared case-insensitively.
KNOWN_PLACEHOLDERS = frozenset({
    "replace-with-32-random-bytes-base64", "change-me-to-a-long-random-string", "change-me",
    "changeme", "replace-me", "secret", "password", "sk-replace-me", "xoxb-replace-me",
})
PLACEHOLDER_WORDS = ("replace-with", "replace-me", "change-me", "changeme", "placeholder", "example")


@dataclass(frozen=True)
class SecretRule:
    """A secret a function needs: its variable and the shortest value accepted."""

    name: str
    min_length: int


APPROVAL_KEY = SecretRule("CUTMAN_APPROVAL_KEY", 32)
REDIS_PASSWORD = SecretRule("REDIS_PASSWORD", 16)


class SecretRefused(ValueError):
    """The function must not start: `str()` names the variable and why."""


def secrets_required(cfg: Mapping[str, str]) -> bool:
    explicit = cfg.get("CUTMAN_REQUIRE_SECRETS", "").strip().lower()
    if explicit:
        return explicit in ("1", "true", "yes")
    return bool(cfg.get("K_SERVICE"))


def secret_problem(*, rule: SecretRule, value: str | None, required: bool) -> str | None:
    """Why `value` is unacceptable for `rule`, or None when it is fine."""
    if not value:
        return f"{rule.name} is not set; generate one (see README, Cluster install)" if required else None
    lowered = value.strip().lower()
    if lowered in KNOWN_PLACEHOLDERS or any(w in lowered for w in PLACEHOLDER_WORDS):
        return f"{rule.name} is a known placeholder value; generate a random one"
    if len(value) < rule.min_length:
        return f"{rule.name} is too short ({len(value)} characters, at least {rule.min_length})"
    return None


def redis_password_of(cfg: Mapping[str, str]) -> str | None:
    """REDIS_PASSWORD, else the password inside REDIS_URL (managed Redis URLs carry one)."""
    if cfg.get("REDIS_PASSWORD"):
        return cfg["REDIS_PASSWORD"]
    try:
        return urlsplit(cfg.get("REDIS_URL", "")).password
    except ValueError:
        return None


def check_secrets(cfg: Mapping[str, str], *, approval_key: bool) -> None:
    """Raise `SecretRefused` naming every unacceptable secret this function needs."""
    required = secrets_required(cfg)
    problems = [secret_problem(rule=REDIS_PASSWORD, value=redis_password_of(cfg), required=required)]
    if approval_key:
        problems.append(secret_problem(rule=APPROVAL_KEY, value=cfg.get(APPROVAL_KEY.name), required=required))
    found = [p for p in problems if p]
    if found:
        raise SecretRefused("refusing to start: " + "; ".join(found))
