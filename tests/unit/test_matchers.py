"""Alertmanager matcher syntax and semantics (shared/core/matchers.py)."""

from __future__ import annotations

import pytest
from cutman.core.matchers import MatcherError, Op, matches_all, parse_matcher, parse_matchers

LABELS = {"alertname": "HighCPU", "severity": "critical", "namespace": "prod-eu", "msg": 'say "hi"'}


@pytest.mark.parametrize(("text", "name", "op", "value"), [
    ('severity="critical"', "severity", Op.EQ, "critical"),
    ("severity=critical", "severity", Op.EQ, "critical"),
    ('  severity != "info" ', "severity", Op.NE, "info"),
    ('namespace=~"prod-.*"', "namespace", Op.RE, "prod-.*"),
    ('namespace!~"dev|test"', "namespace", Op.NRE, "dev|test"),
    (r'msg="say \"hi\""', "msg", Op.EQ, 'say "hi"'),
    (r'path="C:\\tmp"', "path", Op.EQ, "C:\\tmp"),
    (r'text="a\nb"', "text", Op.EQ, "a\nb"),
    ('env=""', "env", Op.EQ, ""),
    ('le="0.5"', "le", Op.EQ, "0.5"),
    ('a="x=y"', "a", Op.EQ, "x=y"),
])
def test_parses(text: str, name: str, op: Op, value: str) -> None:
    m = parse_matcher(text)
    assert (m.name, m.op, m.value) == (name, op, value)


@pytest.mark.parametrize(("text", "why"), [
    ("severity", "not a matcher"),
    ('="x"', "not a matcher"),
    ('9sev="x"', "not a valid label name"),
    ('sev="critical', "not closed"),
    ('sev="a"b"', "unescaped quote"),
    (r'sev="a\qb"', "invalid escape"),
    ('sev=~"(unclosed"', "invalid regular expression"),
    ('sev==x"', "unbalanced quote"),
])
def test_refuses_naming_the_string(text: str, why: str) -> None:
    with pytest.raises(MatcherError) as err:
        parse_matcher(text)
    assert repr(text) in str(err.value) and why in str(err.value)


def test_regexes_are_fully_anchored_like_alertmanager() -> None:
    assert parse_matcher('severity=~"crit"').matches(LABELS) is False
    assert parse_matcher('severity=~"crit.*"').matches(LABELS) is True
    assert parse_matcher('severity=~"warning|critical"').matches(LABELS) is True
    assert parse_matcher('severity!~"warning|critical"').matches(LABELS) is False
    assert parse_matcher('namespace=~"prod"').matches(LABELS) is False
    assert parse_matcher('namespace=~"a|prod-eu"').matches({"namespace": "prod-eu\n"}) is False


def test_missing_label_is_the_empty_string() -> None:
    assert parse_matcher('env=""').matches(LABELS) is True
    assert parse_matcher('env!=""').matches(LABELS) is False
    assert parse_matcher('severity!=""').matches(LABELS) is True
    assert parse_matcher('env=~".*"').matches(LABELS) is True
    assert parse_matcher('env=~".+"').matches(LABELS) is False
    assert parse_matcher('env!="prod"').matches(LABELS) is True


def test_quoted_values_compare_exactly() -> None:
    assert parse_matcher(r'msg="say \"hi\""').matches(LABELS) is True
    assert parse_matcher('msg="say hi"').matches(LABELS) is False


def test_all_must_match_and_empty_list_matches() -> None:
    ms = parse_matchers(['severity=~"critical|warning"', 'namespace!~"dev-.*"', 'alertname="HighCPU"'])
    assert matches_all(LABELS, ms) is True
    assert matches_all({**LABELS, "namespace": "dev-1"}, ms) is False
    assert matches_all({}, ()) is True


def test_str_round_trips() -> None:
    for text in ['a="x"', r'msg="say \"hi\""', 'n!~"a|b"', r'p="C:\\x"']:
        m = parse_matcher(text)
        assert parse_matcher(str(m)) == m
