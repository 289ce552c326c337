"""Decide whether a Knative Trigger passes an event, as Knative's broker filter does.

The dev broker must route exactly like a cluster broker, or a workflow that works
locally breaks in a cluster. So this follows knative.dev/eventing's filter code:

- `spec.filters` (the Subscriptions API dialects) wins over `spec.filter.attributes`
  whenever it is non-empty; several entries are ANDed.
- Evaluation is three-valued (pass, fail, no filter): an empty filter object `{}`
  is "no filter", `not` of "no filter" stays "no filter", and only "fail" drops the
  event.
- `filter.attributes` is exact match per key; a value of "" means "the attribute is
  set to a non-empty value" (Knative's `TriggerAnyFilter`).
- Optional context attributes that are unset (subject, time, dataschema, ...) look like
  "" to every dialect; an absent extension fails every dialect.
- Values compare as their CloudEvents canonical strings (booleans `true`/`false`,
  times RFC 3339 in UTC), so an int extension 5 matches the string "5".

Knative's admission webhook rejects malformed filters; the dev broker has no webhook,
so `validate` does that job and `matches` raises `cutman.errors.Invalid` rather than
guessing. It is stricter than Knative on two points, because both hide mistakes: an
empty value in exact/prefix/suffix (the CRD says "must not be empty"; Knative's runtime
would skip that filter and pass everything) and `cesql`, which the dev broker does not
implement: a Trigger using it is rejected with an error naming the field, and the
broker logs that error and routes nothing to that Trigger.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from enum import Enum, StrEnum
from typing import Any

from cutman.errors import Invalid

ATTRIBUTE_NAME = re.compile(r"^[a-z][a-z0-9]*$")

# Context attributes Knative always finds on an event, "" when unset.
CONTEXT_ATTRIBUTES = frozenset(
    {
        "specversion",
        "type",
        "source",
        "subject",
        "id",
        "time",
        "dataschema",
        "schemaurl",
        "datacontenttype",
        "datamediatype",
        "datacontentencoding",
    }
)


class Dialect(StrEnum):
    EXACT = "exact"
    PREFIX = "prefix"
    SUFFIX = "suffix"
    ALL = "all"
    ANY = "any"
    NOT = "not"
    CESQL = "cesql"


MAP_DIALECTS = (Dialect.EXACT, Dialect.PREFIX, Dialect.SUFFIX)
LIST_DIALECTS = (Dialect.ALL, Dialect.ANY)


class Result(Enum):
    PASS = "pass"
    FAIL = "fail"
    NO_FILTER = "no_filter"

    def and_(self, other: Result) -> Result:
        if self is Result.NO_FILTER:
            return other
        if other is Result.NO_FILTER:
            return self
        return Result.PASS if self is other is Result.PASS else Result.FAIL

    def or_(self, other: Result) -> Result:
        if self is Result.NO_FILTER:
            return other
        if other is Result.NO_FILTER:
            return self
        return Result.PASS if Result.PASS in (self, other) else Result.FAIL


def matches(trigger_spec: Mapping[str, Any], attributes: Mapping[str, Any]) -> bool:
    """True when the Trigger `spec` lets an event with these attributes through.

    `attributes` holds the event's context attributes and extensions in one flat map
    (what `CloudEvent.get_attributes()` returns). Raises `cutman.errors.Invalid`
    (422, `field` names the offending path) for a filter `validate` refuses.
    """
    validate(trigger_spec)
    return evaluate(trigger_spec, attributes) is not Result.FAIL


def evaluate(trigger_spec: Mapping[str, Any], attributes: Mapping[str, Any]) -> Result:
    """The three-valued result; call `validate` first."""
    filters = trigger_spec.get("filters") or []
    if filters:
        result = Result.NO_FILTER
        for f in filters:
            result = result.and_(_dialect(f, attributes))
        return result
    wanted = (trigger_spec.get("filter") or {}).get("attributes") or {}
    return _attributes(wanted, attributes)


def validate(trigger_spec: Mapping[str, Any]) -> None:
    """Raise `Invalid` (with the field path) for a filter Knative would refuse."""
    filt = trigger_spec.get("filter")
    if filt is not None:
        if not isinstance(filt, Mapping):
            raise Invalid("filter must be an object", field="spec.filter")
        wanted = filt.get("attributes") or {}
        if not isinstance(wanted, Mapping):
            raise Invalid("filter.attributes must be a map", field="spec.filter.attributes")
        for name, value in wanted.items():
            _check_name(name, f"spec.filter.attributes.{name}")
            if not isinstance(value, str):
                raise Invalid(
                    "attribute filter values must be strings",
                    field=f"spec.filter.attributes.{name}",
                )
    filters = trigger_spec.get("filters")
    if filters is not None:
        _check_list(filters, "spec.filters", allow_empty=True)


def _check_list(filters: Any, path: str, *, allow_empty: bool) -> None:
    if not isinstance(filters, Sequence) or isinstance(filters, str):
        raise Invalid("must be a list of filter expressions", field=path)
    if not filters and not allow_empty:
        raise Invalid("must contain at least one filter expression", field=path)
    for i, f in enumerate(filters):
        _check_expression(f, f"{path}[{i}]")


def _check_expression(f: Any, path: str) -> None:
    if not isinstance(f, Mapping):
        raise Invalid("a filter expression must be an object", field=path)
    unknown = set(f) - set(Dialect)
    if unknown:
        raise Invalid(f"unknown filter dialect(s) {sorted(unknown)}", field=path)
    present = [d for d in Dialect if _is_set(d, f.get(d))]
    if len(present) > 1:
        raise Invalid(
            f"multiple dialects found ({', '.join(present)}), a filter can have only one",
            field=path,
        )
    if not present:
        return
    dialect = present[0]
    here = f"{path}.{dialect}"
    value = f[dialect]
    if dialect is Dialect.CESQL:
        raise Invalid(
            "cesql filters are not supported by the dev broker; "
            "use exact, prefix, suffix, all, any or not",
            field=here,
        )
    if dialect in MAP_DIALECTS:
        if not isinstance(value, Mapping) or len(value) != 1:
            raise Invalid("must hold exactly one attribute: value pair", field=here)
        ((name, expected),) = value.items()
        _check_name(name, f"{here}.{name}")
        if not isinstance(expected, str) or not expected:
            raise Invalid("the value must be a non-empty string", field=f"{here}.{name}")
    elif dialect in LIST_DIALECTS:
        _check_list(value, here, allow_empty=False)
    else:
        _check_expression(value, here)


def _check_name(name: Any, path: str) -> None:
    if not isinstance(name, str) or not ATTRIBUTE_NAME.match(name):
        raise Invalid(
            "attribute name must start with a letter and hold only lowercase letters and digits",
            field=path,
        )


def _is_set(dialect: Dialect, value: Any) -> bool:
    """Knative's test for a dialect being present: `not` when non-nil, others when non-empty."""
    if value is None:
        return False
    if dialect is Dialect.NOT:
        return True
    if isinstance(value, str | Mapping | Sequence):
        return len(value) > 0
    return True


def _dialect(f: Mapping[str, Any], attributes: Mapping[str, Any]) -> Result:
    for dialect in Dialect:
        value: Any = f.get(dialect)
        if not _is_set(dialect, value):
            continue
        if dialect is Dialect.EXACT:
            return _attributes(value, attributes)
        if dialect is Dialect.PREFIX:
            return _compare(value, attributes, str.startswith)
        if dialect is Dialect.SUFFIX:
            return _compare(value, attributes, str.endswith)
        if dialect is Dialect.ALL:
            result = Result.NO_FILTER
            for sub in value:
                result = result.and_(_dialect(sub, attributes))
                if result is Result.FAIL:
                    break
            return result
        if dialect is Dialect.ANY:
            result = Result.NO_FILTER
            for sub in value:
                result = result.or_(_dialect(sub, attributes))
                if result is Result.PASS:
                    break
            return result
        if dialect is Dialect.NOT:
            inner = _dialect(value, attributes)
            return {Result.PASS: Result.FAIL, Result.FAIL: Result.PASS}.get(inner, inner)
        raise Invalid(f"{dialect} is not supported by the dev broker")
    return Result.NO_FILTER


def _attributes(wanted: Mapping[str, str], attributes: Mapping[str, Any]) -> Result:
    for name, expected in wanted.items():
        actual = lookup(attributes, name)
        if actual is None or (expected == "" and actual == ""):
            return Result.FAIL
        if expected != "" and expected != actual:
            return Result.FAIL
    return Result.PASS


def _compare(
    wanted: Mapping[str, str], attributes: Mapping[str, Any], test: Callable[[str, str], bool]
) -> Result:
    for name, expected in wanted.items():
        actual = lookup(attributes, name)
        if actual is None or not test(actual, expected):
            return Result.FAIL
    return Result.PASS


def lookup(attributes: Mapping[str, Any], name: str) -> str | None:
    """The attribute as Knative sees it: canonical string, "" if an unset context
    attribute, None if an absent extension."""
    if name == "schemaurl":
        name = "dataschema"
    if name == "datamediatype":
        value = attributes.get("datacontenttype")
        return "" if value is None else canonical(value).split(";", 1)[0].strip()
    value = attributes.get(name)
    if value is None:
        return "" if name in CONTEXT_ATTRIBUTES else None
    return canonical(value)


def canonical(value: Any) -> str:
    """CloudEvents canonical string form of an attribute value (RFC 3339 UTC for times)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        utc = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
        fraction = f"{utc.microsecond:06d}".rstrip("0")
        return utc.strftime("%Y-%m-%dT%H:%M:%S") + (f".{fraction}" if fraction else "") + "Z"
    return str(value)
