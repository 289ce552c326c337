"""Polling for a condition with a deadline: the one loop every harness waits with.

A test waits on real processes and servers, so it polls; the failure names what it
waited for, how long, and (with `detail`) what the component under test said.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def wait_for(probe: Callable[[], Any], *, timeout: float = 20.0, what: str = "condition",
             interval: float = 0.05, detail: Callable[[], str] | None = None) -> Any:
    """`probe()`'s first truthy value; AssertionError after `timeout` seconds without one."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}" + (detail() if detail else ""))
