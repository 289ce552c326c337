"""JSON depth and size limits at decode: the path and the reason in every refusal."""

from __future__ import annotations

import json

import pytest
from cutman.core import jsonlimits
from cutman.core.jsonlimits import MAX_DEPTH, TooDeep, check_depth, deep_path, loads
from cutman.errors import BadRequest, PayloadTooLarge
from hypothesis import given
from hypothesis import strategies as st


def chain(levels: int) -> str:
    return '{"a": [' * (levels // 2) + "1" + "]}" * (levels // 2)


def test_within_the_limit_decodes() -> None:
    assert loads(chain(MAX_DEPTH)) == json.loads(chain(MAX_DEPTH))


@pytest.mark.parametrize("levels", [MAX_DEPTH + 2, 500, 20_000])
def test_too_deep_names_the_path(levels: int) -> None:
    with pytest.raises(TooDeep) as caught:
        loads(chain(levels).encode())
    assert caught.value.status == 400
    assert f"nested deeper than {MAX_DEPTH} levels" in caught.value.message
    assert caught.value.field is not None and caught.value.field.startswith("a[0].a[0].a")


def test_scanner_and_walk_agree_on_the_path() -> None:
    doc = {"x y": [{"k": 1}, {"k": [[[[{"deep": [[[]]]}]]]]}]}
    text = json.dumps(doc)
    with pytest.raises(TooDeep) as caught:
        check_depth(doc, max_depth=6)
    assert caught.value.field == deep_path(text, 6) == '["x y"][1].k[0][0][0]'


@given(st.recursive(st.integers() | st.text(max_size=3),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
                    max_leaves=30),
       st.integers(min_value=1, max_value=6))
def test_scanner_finds_a_path_exactly_when_the_walk_refuses(doc: object, limit: int) -> None:
    text = json.dumps(doc)
    try:
        check_depth(doc, max_depth=limit)
        refused = None
    except TooDeep as exc:
        refused = exc.field or ""
    found = deep_path(text, limit)
    assert (found is None) == (refused is None)
    if refused is not None:
        assert found == refused


def test_size_limit_is_413() -> None:
    with pytest.raises(PayloadTooLarge, match="at most 10 are accepted"):
        loads(b'{"a": "0123456789"}', max_bytes=10)


def test_not_json_is_400() -> None:
    with pytest.raises(BadRequest, match="body is not JSON"):
        loads(b"{nope")


def test_long_paths_are_abbreviated() -> None:
    key = "k" * 100
    with pytest.raises(TooDeep) as caught:
        check_depth(json.loads(f'{{"{key}":' * 10 + "1" + "}" * 10), max_depth=5)
    assert caught.value.field is not None and len(caught.value.field) <= jsonlimits._MAX_PATH_CHARS
    assert "…" in caught.value.field


def test_an_agent_answer_too_deep_to_store_is_refused() -> None:
    from cutman.agent.answer import AnswerError, parse_answer

    with pytest.raises(AnswerError, match="nested deeper than"):
        parse_answer('{"summary": "x", "extra": ' + "[" * 300 + "]" * 300 + "}")
    with pytest.raises(AnswerError, match="not a JSON object"):
        parse_answer('{"summary": ' + "[" * 50_000 + "]" * 50_000 + "}")
