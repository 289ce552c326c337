"""Pure alert logic: fingerprints and source filters.

The fingerprint is SHA-256 over the sorted label set, so the same alert from any
Alertmanager replica (or after a restart) dedupes to the same key. Alertmanager's own
64-bit fingerprint is kept beside it but not trusted for identity.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping


def fingerprint(labels: Mapping[str, str]) -> str:
    h = hashlib.sha256()
    for name in sorted(labels):
        h.update(name.encode())
        h.update(b"\x00")
        h.update(labels[name].encode())
        h.update(b"\x00")
    return h.hexdigest()


def passes_filters(labels: Mapping[str, str], filters: Mapping[str, list[str]]) -> bool:
    """The earlier system's `filters`: every listed label must have one of its values.

    An empty value list means the label must merely be present.
    """
    for name, allowed in filters.items():
        if name not in labels:
            return False
        if allowed and labels[name] not in allowed:
            return False
    return True
