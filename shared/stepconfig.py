"""What the step functions read from their configuration at start(): approval links and
the step lease.

Kept apart from `approvals` and `stephost` (which re-export these): start() and
readiness run before the first event, and those modules bring the engine, the run
models and the template sandbox, which only handling an event needs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

APPROVAL_PATH = "/approvals/"
"""Where ingest serves the signed approval links."""
DEFAULT_APPROVAL_MIN = 60.0
DEFAULT_LEASE_S = 30.0


@dataclass(frozen=True)
class ApprovalSettings:
    key: bytes | None = None
    public_url: str = ""
    ttl_minutes: float = DEFAULT_APPROVAL_MIN

    @classmethod
    def from_cfg(cls, cfg: Mapping[str, str]) -> ApprovalSettings:
        key = cfg.get("CUTMAN_APPROVAL_KEY", "")
        return cls(key.encode() if key else None, cfg.get("CUTMAN_PUBLIC_URL", "").rstrip("/"),
                   float(cfg.get("CUTMAN_APPROVAL_MINUTES", str(DEFAULT_APPROVAL_MIN))))
