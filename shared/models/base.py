"""Base model for everything users write in YAML: camelCase names, unknown fields refused.

A typo in a manifest (`comand:` for `command:`) must fail loudly at apply time, naming
the field, instead of silently doing nothing at 3 a.m.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic.alias_generators import to_camel


class Spec(BaseModel):
    """A strict, camelCase model of user-written configuration."""

    model_config = ConfigDict(
        extra="forbid", alias_generator=to_camel, populate_by_name=True, frozen=True, defer_build=True
    )

    def dump(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


class Loose(BaseModel):
    """A camelCase model that keeps fields it does not know (Kubernetes metadata, status)."""

    model_config = ConfigDict(
        extra="allow", alias_generator=to_camel, populate_by_name=True, frozen=True, defer_build=True
    )

    def dump(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


def describe_errors(exc: ValidationError, *, prefix: str = "") -> list[str]:
    """Turn pydantic errors into lines like `spec.steps[0].comand: unknown field`."""
    lines = []
    for err in exc.errors():
        parts: list[str] = []
        for loc in err["loc"]:
            if isinstance(loc, int):
                parts.append(f"[{loc}]")
            elif loc in ("function-after", "function-before", "function-wrap") or loc.startswith(("function-", "tagged-union", "union_tag")):
                continue
            else:
                parts.append(("." if parts else "") + loc)
        where = prefix + "".join(parts)
        msg = "unknown field" if err["type"] == "extra_forbidden" else err["msg"]
        msg = msg.removeprefix("Value error, ")
        lines.append(f"{where}: {msg}" if where else msg)
    return lines
