"""Fingerprints and source filters: pure functions, no doubles."""

from __future__ import annotations

import hashlib

from cutman.core.alerts import fingerprint, passes_filters
from hypothesis import given
from hypothesis import strategies as st

labels_st = st.dictionaries(st.text(min_size=1, max_size=10), st.text(max_size=10), max_size=6)


def test_fingerprint_is_sha256_over_sorted_labels() -> None:
    expected = hashlib.sha256(b"alertname\x00A\x00pod\x00p1\x00").hexdigest()
    assert fingerprint({"pod": "p1", "alertname": "A"}) == expected


@given(labels_st)
def test_fingerprint_ignores_label_order(labels: dict[str, str]) -> None:
    assert fingerprint(dict(reversed(list(labels.items())))) == fingerprint(labels)


def test_fingerprint_separates_boundaries() -> None:
    assert fingerprint({"a": "bc"}) != fingerprint({"ab": "c"})
    assert fingerprint({"a": "1"}) != fingerprint({"a": "1", "b": ""})


def test_filters() -> None:
    labels = {"alertname": "HighCPU", "severity": "critical"}
    assert passes_filters(labels, {})
    assert passes_filters(labels, {"severity": ["critical", "warning"]})
    assert not passes_filters(labels, {"severity": ["warning"]})
    assert not passes_filters(labels, {"team": ["x"]})
    assert passes_filters(labels, {"alertname": []})
    assert not passes_filters(labels, {"severity": ["critical"], "alertname": ["Other"]})
