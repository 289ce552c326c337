"""kubectl label selectors (cutman.core.selectors): parsing and matching, pure."""

from __future__ import annotations

import pytest
from cutman.core.selectors import Op, parse_selector
from cutman.errors import BadRequest

LABELS = {"team": "db", "env": "prod", "tier": "backend"}


@pytest.mark.parametrize(("text", "matches"), [
    ("", True),
    ("team=db", True),
    ("team==db", True),
    ("team=web", False),
    ("team!=web", True),
    ("team!=db", False),
    ("missing!=x", True),
    ("team in (db, web)", True),
    ("team in (web,ops)", False),
    ("team notin (web)", True),
    ("env notin (prod,dev)", False),
    ("tier", True),
    ("missing", False),
    ("!missing", True),
    ("!team", False),
    ("team=db,env=prod", True),
    ("team=db,env=dev", False),
    ("team in (db,web),!missing,env", True),
    ("app.kubernetes.io/part-of!=x", True),
])
def test_matching(text: str, matches: bool) -> None:
    assert parse_selector(text).matches(LABELS) is matches


def test_parsed_shape() -> None:
    sel = parse_selector("a=1, b in (x,y), !c")
    assert [(r.key, r.op, r.values) for r in sel.requirements] == [
        ("a", Op.EQ, ("1",)), ("b", Op.IN, ("x", "y")), ("c", Op.ABSENT, ())]


@pytest.mark.parametrize("bad", ["a=b=c", "=x", "a in ()", "a in (x", "a b", "a=(x)"])
def test_bad_selectors_name_the_requirement(bad: str) -> None:
    with pytest.raises(BadRequest) as err:
        parse_selector(bad)
    assert err.value.field == "selector"
    assert "label selector" in err.value.message
