"""Which Source serves a webhook path, remembered for a second instead of read per request.

Every webhook read the route (`cm:routes`) and then the Source's compiled config: two
Redis round trips before any work. The config is still read for every request, so an
applied change takes effect at once; the route is taken from here while it is younger
than `ttl_s` and the config read for it still claims the path (`claims`). So a Source
that moved to another path, or was deleted, is noticed at its next webhook; only a path
handed between two Sources that both still claim it (the first claimant left and came
back) is seen up to `ttl_s` late.
"""

from __future__ import annotations

import time
from typing import Any

DEFAULT_TTL_S = 1.0
MAX_PATHS = 4096


def claims(cfg: dict[str, Any], path: str) -> bool:
    """Whether a Source's compiled config claims `path` (its `path`, or an api Source's `endpoint`)."""
    config = (cfg.get("spec") or {}).get("config") or {}
    return path in (config.get("path"), config.get("endpoint"))


class RouteCache:
    def __init__(self, ttl_s: float = DEFAULT_TTL_S) -> None:
        self.ttl_s = ttl_s
        self._routes: dict[str, tuple[str, float]] = {}

    def get(self, path: str) -> str | None:
        hit = self._routes.get(path)
        if hit is None or hit[1] < time.monotonic():
            return None
        return hit[0]

    def put(self, path: str, source: str) -> None:
        if len(self._routes) >= MAX_PATHS:
            self._routes.clear()
        self._routes[path] = (source, time.monotonic() + self.ttl_s)

    def forget(self, path: str) -> None:
        self._routes.pop(path, None)
