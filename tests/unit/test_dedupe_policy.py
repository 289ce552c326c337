"""Durations and the dedupe policy of a Source (shared/core/dedupe.py)."""

from __future__ import annotations

import pytest
from cutman.core.dedupe import DEFAULT_MAX_ACTIVE_S, DurationError, parse_duration, policy_of
from cutman.models.resources import Dedupe


@pytest.mark.parametrize(("text", "seconds"), [
    ("30s", 30), ("5m", 300), ("1h", 3600), ("1h30m", 5400), ("1d", 86400), ("2w", 1209600),
    ("500ms", 0.5), ("1m30s", 90), (" 10m ", 600),
])
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "5", "m", "5 m", "1.5h", "-1h", "5min", "1h 30m"])
def test_bad_durations_are_refused(text: str) -> None:
    with pytest.raises(DurationError, match="is not a duration"):
        parse_duration(text)


def test_policy_defaults_and_fields() -> None:
    assert policy_of(None).max_active_s == DEFAULT_MAX_ACTIVE_S == 24 * 3600
    p = policy_of(Dedupe.model_validate({"repeatAfter": "4h", "maxActive": "2d", "labels": ["alertname"]}))
    assert (p.repeat_after_s, p.max_active_s, p.labels, p.enabled) == (14400, 172800, ("alertname",), True)
    assert policy_of(Dedupe.model_validate({"enabled": False})).enabled is False


def test_policy_names_the_field() -> None:
    with pytest.raises(DurationError, match=r"dedupe\.repeatAfter: 'soon'"):
        policy_of(Dedupe.model_validate({"repeatAfter": "soon"}))
    with pytest.raises(DurationError, match=r"dedupe\.maxActive: .*shorter than one second"):
        policy_of(Dedupe.model_validate({"maxActive": "10ms"}))
