"""Deterministic names and ids, so a redelivered event maps to the same run and reply."""

from __future__ import annotations

import hashlib
import re

_DNS = re.compile(r"[^a-z0-9-]+")


def _digest(*parts: str, size: int = 10) -> str:
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:size]


def run_id(*, workflow: str, event_id: str) -> str:
    """Run start is keyed by (workflow, triggering event id): same inputs, same run."""
    name = workflow.split("/", 1)[-1][:40]
    return f"{name}-{_digest(workflow, event_id)}"


def reply_event_id(*, run: str, what: str) -> str:
    return f"{run}.{_digest(run, what, size=12)}"


def dns_name(*parts: str, limit: int = 63) -> str:
    """A DNS-1123 name from parts; too-long names keep a hash of the whole for uniqueness."""
    raw = "-".join(p for p in parts if p)
    name = _DNS.sub("-", raw.lower()).strip("-")
    name = re.sub("-{2,}", "-", name)
    if len(name) <= limit and name == raw:
        return name
    suffix = _digest(raw, size=8)
    return f"{name[: limit - len(suffix) - 1].rstrip('-')}-{suffix}"


_WORD = re.compile(r"[a-z0-9]+")


def object_name(*parts: str, limit: int = 63) -> str:
    """A DNS-1123 name that is unique per tuple of parts (namespace, workflow, step ...).

    Joining with '-' alone is ambiguous once a part holds a hyphen (namespace `a-b`,
    workflow `c` against namespace `a`, workflow `b-c`), so any part that is not a plain
    lowercase word, or a name over `limit`, gets a hash of the exact parts as its tail.
    Plain names keep their readable form: `cm-team-triage-step-look`. A hashed name has
    more hyphen-separated segments than parts, so it never equals a plain one."""
    joined = "-".join(parts)
    if all(_WORD.fullmatch(p) for p in parts) and len(joined) <= limit:
        return joined
    suffix = _digest(*parts, size=10)
    name = re.sub("-{2,}", "-", _DNS.sub("-", joined.lower())).strip("-")
    return f"{name[: limit - len(suffix) - 1].rstrip('-')}-{suffix}"
