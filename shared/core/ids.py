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
