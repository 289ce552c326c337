"""Secret masking: the secret, its common encodings, and long enough prefixes and suffixes."""

from __future__ import annotations

import base64
import json
from urllib.parse import quote, quote_plus

import pytest
from cutman.core.masking import MASK, PARTIAL_MIN, forms, mask_text, mask_value
from hypothesis import given
from hypothesis import strategies as st

PW = "hunter2/p@ss word+=-suffix"


@pytest.mark.parametrize("leak", [
    PW, base64.b64encode(PW.encode()).decode(), base64.b64encode(PW.encode()).decode().rstrip("="),
    base64.urlsafe_b64encode(PW.encode()).decode(), PW.encode().hex(), PW.encode().hex().upper(),
    quote(PW, safe=""), quote_plus(PW), json.dumps(PW)[1:-1],
    PW.removesuffix("-suffix"), PW[:PARTIAL_MIN], PW[-PARTIAL_MIN:], PW[3:],
    base64.b64encode((PW + "\n").encode()).decode()[:-4],
])
def test_transforms_and_partials_are_masked(leak: str) -> None:
    out = mask_text(f"before {leak} after", [PW])
    assert out == f"before {MASK} after", out


def test_base64_of_the_secret_with_a_newline_keeps_at_most_its_last_characters() -> None:
    leaked = base64.b64encode((PW + "\n").encode()).decode()
    out = mask_text(leaked, [PW])
    assert out.startswith(MASK) and len(out) - len(MASK) <= 4


def test_short_secrets_are_masked_whole_but_not_partially() -> None:
    assert mask_text("pin 1234 and 12", ["1234"]) == f"pin {MASK} and 12"
    assert mask_text(base64.b64encode(b"1234").decode(), ["1234"]) == MASK


def test_unrelated_text_is_untouched() -> None:
    text = "hunter2 is a classic; p@ss is not the secret"
    assert mask_text(text, [PW]) == text


def test_mask_value_masks_keys_and_nested_strings() -> None:
    value = {PW: [PW[:10], {"x": quote(PW, safe="")}], "n": 1}
    assert mask_value(value, [PW]) == {MASK: [MASK, {"x": MASK}], "n": 1}


@given(st.text(min_size=1, max_size=40), st.text(max_size=30), st.text(max_size=30))
def test_no_form_survives_masking(secret: str, before: str, after: str) -> None:
    for form in forms(secret):
        out = mask_text(before + form + after, [secret])
        assert form not in out or form in MASK


def test_overlapping_matches_merge_into_one_mask() -> None:
    assert mask_text(PW + PW, [PW]) == MASK
