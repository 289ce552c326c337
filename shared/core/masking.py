"""Masking secret values out of anything a step stores (output, stderr, result, error).

A step may echo a secret it was given; the run document, the events and the logs must
still never hold it. Values are replaced by `***`, longest first so that a secret that
contains another is masked whole. Very short values (under 4 characters) are masked too:
a leaked short secret is still a leaked secret.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

MASK = "***"


def mask_text(text: str, secrets: Iterable[str]) -> str:
    for value in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(value, MASK)
    return text


def mask_value(value: Any, secrets: Iterable[str]) -> Any:
    """Mask every string inside a JSON-like value (dict keys included)."""
    values = tuple(secrets)
    if not values:
        return value
    if isinstance(value, str):
        return mask_text(value, values)
    if isinstance(value, dict):
        return {mask_text(str(k), values): mask_value(v, values) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_value(v, values) for v in value]
    return value
