"""Trigger filter semantics, checked against Knative's broker filter behaviour.

Pure: plain dicts in, booleans out; nothing of ours is replaced by a double.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from cutman.core.trigger_filter import canonical, lookup, matches, validate
from cutman.errors import Invalid
from hypothesis import given
from hypothesis import strategies as st

EVENT: dict[str, Any] = {
    "specversion": "1.0",
    "id": "e-1",
    "source": "/cutman/ingest",
    "type": "dev.cutman.step.requested",
    "subject": "run-42",
    "time": datetime(2024, 5, 1, 12, 0, 0, 250000, tzinfo=UTC),
    "datacontenttype": "application/json; charset=utf-8",
    "workflow": "default/triage",
    "step": "analyze",
    "retries": 3,
    "urgent": True,
}


def spec(**kwargs: Any) -> dict[str, Any]:
    return {"broker": "default", "subscriber": {"uri": "http://x"}, **kwargs}


def with_filters(*filters: dict[str, Any]) -> dict[str, Any]:
    return spec(filters=list(filters))


# -- filter.attributes -------------------------------------------------------------


def test_no_filter_at_all_passes_everything() -> None:
    assert matches(spec(), EVENT)
    assert matches(spec(filter={}), EVENT)
    assert matches(spec(filter={"attributes": {}}), EVENT)
    assert matches(spec(filters=[]), EVENT)


def test_attributes_match_exactly_on_every_key() -> None:
    wanted = {"type": "dev.cutman.step.requested", "workflow": "default/triage"}
    assert matches(spec(filter={"attributes": wanted}), EVENT)
    assert not matches(spec(filter={"attributes": {**wanted, "step": "other"}}), EVENT)
    assert not matches(spec(filter={"attributes": {"type": "dev.cutman.step"}}), EVENT)


def test_attribute_match_is_case_sensitive() -> None:
    assert not matches(spec(filter={"attributes": {"step": "Analyze"}}), EVENT)


def test_empty_attribute_value_means_set_to_anything() -> None:
    assert matches(spec(filter={"attributes": {"step": ""}}), EVENT)
    assert matches(spec(filter={"attributes": {"subject": ""}}), EVENT)


def test_empty_attribute_value_fails_when_absent_or_unset() -> None:
    assert not matches(spec(filter={"attributes": {"phase": ""}}), EVENT)
    without_subject = {k: v for k, v in EVENT.items() if k != "subject"}
    assert not matches(spec(filter={"attributes": {"subject": ""}}), without_subject)


def test_attribute_on_missing_extension_fails() -> None:
    assert not matches(spec(filter={"attributes": {"phase": "succeeded"}}), EVENT)


def test_non_string_extensions_compare_as_canonical_strings() -> None:
    assert matches(spec(filter={"attributes": {"retries": "3", "urgent": "true"}}), EVENT)
    assert not matches(spec(filter={"attributes": {"urgent": "True"}}), EVENT)


def test_time_compares_as_rfc3339_utc() -> None:
    assert matches(spec(filter={"attributes": {"time": "2024-05-01T12:00:00.25Z"}}), EVENT)


# -- Subscriptions API dialects ----------------------------------------------------


def test_exact() -> None:
    assert matches(with_filters({"exact": {"step": "analyze"}}), EVENT)
    assert not matches(with_filters({"exact": {"step": "analyz"}}), EVENT)
    assert not matches(with_filters({"exact": {"phase": "x"}}), EVENT)


def test_prefix() -> None:
    assert matches(with_filters({"prefix": {"type": "dev.cutman."}}), EVENT)
    assert matches(with_filters({"prefix": {"type": "dev.cutman.step.requested"}}), EVENT)
    assert not matches(with_filters({"prefix": {"type": "cutman"}}), EVENT)
    assert not matches(with_filters({"prefix": {"phase": "s"}}), EVENT)


def test_suffix() -> None:
    assert matches(with_filters({"suffix": {"type": ".requested"}}), EVENT)
    assert not matches(with_filters({"suffix": {"type": ".finished"}}), EVENT)
    assert not matches(with_filters({"suffix": {"phase": "d"}}), EVENT)


def test_unset_context_attribute_is_empty_string_for_prefix() -> None:
    without_subject = {k: v for k, v in EVENT.items() if k != "subject"}
    assert not matches(with_filters({"prefix": {"subject": "run"}}), without_subject)
    assert matches(with_filters({"not": {"prefix": {"subject": "run"}}}), without_subject)


def test_all() -> None:
    both = {"all": [{"exact": {"step": "analyze"}}, {"prefix": {"workflow": "default/"}}]}
    assert matches(with_filters(both), EVENT)
    one_wrong = {"all": [{"exact": {"step": "analyze"}}, {"prefix": {"workflow": "prod/"}}]}
    assert not matches(with_filters(one_wrong), EVENT)


def test_any() -> None:
    one = {"any": [{"exact": {"step": "nope"}}, {"suffix": {"workflow": "/triage"}}]}
    assert matches(with_filters(one), EVENT)
    none = {"any": [{"exact": {"step": "nope"}}, {"suffix": {"workflow": "/other"}}]}
    assert not matches(with_filters(none), EVENT)


def test_not() -> None:
    assert matches(with_filters({"not": {"exact": {"step": "other"}}}), EVENT)
    assert not matches(with_filters({"not": {"exact": {"step": "analyze"}}}), EVENT)


def test_not_of_an_absent_extension_passes() -> None:
    assert matches(with_filters({"not": {"exact": {"phase": "failed"}}}), EVENT)


def test_deep_nesting() -> None:
    expression = {
        "any": [
            {"all": [{"exact": {"type": "dev.cutman.run.finished"}}, {"exact": {"phase": "x"}}]},
            {
                "all": [
                    {"prefix": {"type": "dev.cutman.step."}},
                    {"not": {"any": [{"exact": {"step": "a"}}, {"exact": {"step": "b"}}]}},
                ]
            },
        ]
    }
    assert matches(with_filters(expression), EVENT)
    assert not matches(with_filters(expression), {**EVENT, "step": "a"})


def test_top_level_filters_are_anded() -> None:
    assert matches(
        with_filters({"exact": {"step": "analyze"}}, {"prefix": {"type": "dev."}}), EVENT
    )
    assert not matches(
        with_filters({"exact": {"step": "analyze"}}, {"prefix": {"type": "io."}}), EVENT
    )


def test_empty_filter_object_is_no_filter() -> None:
    assert matches(with_filters({}), EVENT)
    assert matches(with_filters({"not": {}}), EVENT)
    assert not matches(with_filters({}, {"exact": {"step": "other"}}), EVENT)


def test_reconciler_start_trigger_shape() -> None:
    start = with_filters(
        {"exact": {"cmsource": "default/am"}},
        {
            "any": [
                {"exact": {"type": "dev.cutman.alert.firing"}},
                {"exact": {"type": "dev.cutman.source.event"}},
            ]
        },
    )
    firing = {**EVENT, "type": "dev.cutman.alert.firing", "cmsource": "default/am"}
    assert matches(start, firing)
    assert not matches(start, {**firing, "type": "dev.cutman.alert.resolved"})
    assert not matches(start, {**firing, "cmsource": "default/other"})


# -- precedence --------------------------------------------------------------------


def test_filters_take_precedence_over_filter_attributes() -> None:
    both = spec(
        filter={"attributes": {"step": "something-else"}},
        filters=[{"exact": {"step": "analyze"}}],
    )
    assert matches(both, EVENT)
    reverse = spec(filter={"attributes": {"step": "analyze"}}, filters=[{"exact": {"step": "x"}}])
    assert not matches(reverse, EVENT)


def test_empty_filters_fall_back_to_filter_attributes() -> None:
    assert not matches(spec(filter={"attributes": {"step": "x"}}, filters=[]), EVENT)
    assert matches(spec(filter={"attributes": {"step": "analyze"}}, filters=[]), EVENT)


# -- attribute lookup --------------------------------------------------------------


def test_lookup_aliases_and_media_type() -> None:
    assert lookup(EVENT, "datamediatype") == "application/json"
    assert lookup({**EVENT, "dataschema": "http://s"}, "schemaurl") == "http://s"
    assert lookup(EVENT, "dataschema") == ""
    assert lookup(EVENT, "phase") is None


def test_canonical_time_drops_trailing_zeros_and_uses_z() -> None:
    assert canonical(datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)) == "2024-01-02T03:04:05Z"
    assert canonical(datetime(2024, 1, 2, 3, 4, 5, 120000, tzinfo=UTC)) == (
        "2024-01-02T03:04:05.12Z"
    )


# -- validation (what Knative's webhook rejects, plus what the dev broker lacks) ----


@pytest.mark.parametrize(
    ("filters", "field"),
    [
        ([{"cesql": "type = 'x'"}], "spec.filters[0].cesql"),
        ([{"exact": {"type": "a"}, "prefix": {"type": "b"}}], "spec.filters[0]"),
        ([{"exact": {"type": "a", "source": "b"}}], "spec.filters[0].exact"),
        ([{"exact": {"type": ""}}], "spec.filters[0].exact.type"),
        ([{"prefix": {"Type": "x"}}], "spec.filters[0].prefix.Type"),
        ([{"all": [{"suffix": {"type": ""}}]}], "spec.filters[0].all[0].suffix.type"),
        ([{"not": {"any": [{"cesql": "true"}]}}], "spec.filters[0].not.any[0].cesql"),
        ([{"regex": {"type": ".*"}}], "spec.filters[0]"),
        ([{"all": "nope"}], "spec.filters[0].all"),
        ("exact", "spec.filters"),
    ],
)
def test_invalid_filters_are_rejected_with_their_path(filters: Any, field: str) -> None:
    with pytest.raises(Invalid) as raised:
        matches(spec(filters=filters), EVENT)
    assert raised.value.field == field
    assert raised.value.status == 422


def test_cesql_error_says_it_is_unsupported() -> None:
    with pytest.raises(Invalid, match="cesql filters are not supported"):
        validate(spec(filters=[{"cesql": "true"}]))


@pytest.mark.parametrize(
    "attributes",
    [{"Type": "x"}, {"type": 3}, {"9lives": "x"}],
)
def test_invalid_attribute_filters_are_rejected(attributes: dict[str, Any]) -> None:
    with pytest.raises(Invalid):
        matches(spec(filter={"attributes": attributes}), EVENT)


# -- properties --------------------------------------------------------------------

names = st.sampled_from(["type", "source", "subject", "step", "workflow", "phase"])
values = st.text(alphabet="abc./-", min_size=1, max_size=6)
leaves = st.builds(
    lambda dialect, name, value: {dialect: {name: value}},
    st.sampled_from(["exact", "prefix", "suffix"]),
    names,
    values,
)
expressions = st.recursive(
    leaves,
    lambda inner: st.one_of(
        st.builds(lambda xs: {"all": xs}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda xs: {"any": xs}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda x: {"not": x}, inner),
    ),
    max_leaves=8,
)
events = st.fixed_dictionaries(
    {"type": values, "source": values, "id": st.just("1"), "specversion": st.just("1.0")},
    optional={"subject": values, "step": values, "workflow": values},
)


@given(expressions, events)
def test_not_inverts_every_valid_expression(
    expression: dict[str, Any], event: dict[str, Any]
) -> None:
    assert matches(with_filters({"not": expression}), event) != matches(
        with_filters(expression), event
    )


@given(expressions, expressions, events)
def test_all_and_any_agree_with_boolean_logic(
    a: dict[str, Any], b: dict[str, Any], event: dict[str, Any]
) -> None:
    ma, mb = matches(with_filters(a), event), matches(with_filters(b), event)
    assert matches(with_filters({"all": [a, b]}), event) == (ma and mb)
    assert matches(with_filters({"any": [a, b]}), event) == (ma or mb)
    assert matches(with_filters(a, b), event) == (ma and mb)
