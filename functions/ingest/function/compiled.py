"""A Source's spec parsed once per change, not once per webhook.

Validating the spec (pydantic), compiling its matchers and building the dedupe policy
cost more than deciding a small webhook. The compiled config is still read from Redis
for every request (so an applied change takes effect at once); only when its spec
differs from the one parsed last for that Source is it parsed again. Status updates,
which rewrite the stored document without touching the spec, keep the cached parse.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    # The Source model (pydantic) and dedupe are imported by the first parse, not at start.
    from cutman.core.dedupe import DedupePolicy
    from cutman.core.matchers import Matcher
    from cutman.models.resources import SourceSpec

MAX_SOURCES = 4096


@dataclass(frozen=True)
class ParsedSource:
    spec: SourceSpec
    matchers: tuple[Matcher, ...]
    policy: DedupePolicy


class SourceCache:
    def __init__(self) -> None:
        self._parsed: dict[str, tuple[str, ParsedSource]] = {}

    def get(self, source: str, spec: dict[str, Any]) -> ParsedSource:
        text = json.dumps(spec, sort_keys=True, separators=(",", ":"))
        hit = self._parsed.get(source)
        if hit is not None and hit[0] == text:
            return hit[1]
        from cutman.core.dedupe import policy_of
        from cutman.core.matchers import parse_matchers
        from cutman.models.resources import SourceSpec

        model = SourceSpec.model_validate(spec)
        parsed = ParsedSource(model, tuple(parse_matchers(model.config.matchers)), policy_of(model.config.dedupe))
        if len(self._parsed) >= MAX_SOURCES:
            self._parsed.clear()
        self._parsed[source] = (text, parsed)
        return parsed
