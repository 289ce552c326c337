"""Masking secret values out of anything a step stores (output, stderr, result, error).

A step may echo a secret it was given; the run document, the events and the logs must
still never hold it, nor an easy transform of it. Each secret is masked as itself and
as its common encodings: base64 (standard and URL-safe, with and without padding), hex
(lower and upper case), URL-encoding (`quote` and `quote_plus`) and JSON string
escaping. A form of at least `PARTIAL_MIN` characters is also masked where only a
prefix or a suffix of it appears, so `${PW%-suffix}`, `cut -c1-12` or `echo $PW | base64`
(whose trailing newline changes only the last characters) are caught too. Short
secrets (under `PARTIAL_MIN`) are masked whole, in every form: a leaked short secret is
still a leaked secret.

Matching is linear in the text: each long form is found by its first and last
`PARTIAL_MIN` characters, then extended as far as the text agrees with the form.
Overlapping matches merge into one `***`.
"""

from __future__ import annotations

import base64
import functools
import json
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, quote_plus

MASK = "***"
PARTIAL_MIN = 8


@functools.lru_cache(maxsize=1024)
def forms(secret: str) -> frozenset[str]:
    """The secret and the encodings of it that masking looks for."""
    raw = secret.encode("utf-8", "surrogatepass")
    b64 = base64.b64encode(raw).decode()
    b64url = base64.urlsafe_b64encode(raw).decode()
    out = {secret, b64, b64.rstrip("="), b64url, b64url.rstrip("="), raw.hex(), raw.hex().upper(),
           quote(secret, safe=""), quote_plus(secret, safe=""), json.dumps(secret)[1:-1],
           json.dumps(secret, ensure_ascii=False)[1:-1]}
    return frozenset(f for f in out if f)


def _find_all(text: str, needle: str) -> Iterable[int]:
    start = text.find(needle)
    while start >= 0:
        yield start
        start = text.find(needle, start + 1)


def _spans(text: str, form: str) -> Iterable[tuple[int, int]]:
    if len(form) < PARTIAL_MIN:
        yield from ((i, i + len(form)) for i in _find_all(text, form))
        return
    for i in _find_all(text, form[:PARTIAL_MIN]):  # a prefix of the form, extended forwards
        k = PARTIAL_MIN
        while k < len(form) and i + k < len(text) and text[i + k] == form[k]:
            k += 1
        yield i, i + k
    for i in _find_all(text, form[-PARTIAL_MIN:]):  # a suffix of the form, extended backwards
        end, k = i + PARTIAL_MIN, PARTIAL_MIN
        while k < len(form) and end - k - 1 >= 0 and text[end - k - 1] == form[-k - 1]:
            k += 1
        yield end - k, end


def mask_text(text: str, secrets: Iterable[str]) -> str:
    spans = sorted(span for s in {s for s in secrets if s} for f in forms(s) for span in _spans(text, f))
    if not spans:
        return text
    out: list[str] = []
    pos = 0
    start, end = spans[0]
    for s, e in spans[1:]:
        if s <= end:
            end = max(end, e)
            continue
        out += [text[pos:start], MASK]
        pos, start, end = end, s, e
    out += [text[pos:start], MASK, text[end:]]
    return "".join(out)


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
