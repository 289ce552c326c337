"""Fixtures of the integration tests' harnesses."""

from __future__ import annotations

from tests.integration.sink_harness import receiver

__all__ = ["receiver"]
