"""A Source's dedupe policy as ingest applies it, and the duration syntax it uses.

`dedupe.maxActive` (default 24h) bounds how long a firing fingerprint stays active, so
a lost resolve cannot mute an alert forever; `dedupe.repeatAfter` re-emits an alert that
is still firing that long after its last emission; `dedupe.labels` narrows the labels
the fingerprint covers; `dedupe.enabled: false` emits every firing notification.
Durations use Prometheus' syntax (`30s`, `5m`, `1h30m`, `1d`, `1w`, `500ms`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..models.resources import Dedupe

DEFAULT_MAX_ACTIVE_S = 24 * 3600
_UNIT_S = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "y": 365 * 86400}
_PART = re.compile(r"(\d+)(ms|s|m|h|d|w|y)")
_WHOLE = re.compile(r"^(?:\d+(?:ms|s|m|h|d|w|y))+$")


class DurationError(ValueError):
    pass


def parse_duration(text: str) -> float:
    """Seconds in `text`, e.g. `1h30m` -> 5400.0; raises DurationError quoting `text`."""
    s = text.strip()
    if not _WHOLE.match(s):
        raise DurationError(f"{text!r} is not a duration (e.g. 30s, 5m, 1h30m, 1d)")
    return float(sum(int(n) * _UNIT_S[u] for n, u in _PART.findall(s)))


@dataclass(frozen=True)
class DedupePolicy:
    enabled: bool = True
    max_active_s: int = DEFAULT_MAX_ACTIVE_S
    repeat_after_s: int = 0
    labels: tuple[str, ...] = ()


def policy_of(dedupe: Dedupe | None) -> DedupePolicy:
    """The policy for a Source's `dedupe` block; raises DurationError naming the field."""
    if dedupe is None:
        return DedupePolicy()
    max_active, repeat = DEFAULT_MAX_ACTIVE_S, 0
    for field, raw in (("maxActive", dedupe.max_active), ("repeatAfter", dedupe.repeat_after)):
        if raw is None:
            continue
        try:
            seconds = parse_duration(raw)
        except DurationError as exc:
            raise DurationError(f"dedupe.{field}: {exc}") from None
        if seconds < 1:
            raise DurationError(f"dedupe.{field}: {raw!r} is shorter than one second")
        if field == "maxActive":
            max_active = int(seconds)
        else:
            repeat = int(seconds)
    return DedupePolicy(enabled=dedupe.enabled, max_active_s=max_active, repeat_after_s=repeat,
                        labels=tuple(dedupe.labels or ()))
