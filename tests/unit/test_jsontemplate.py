"""JSON templates: values are JSON-escaped by where they sit, and the result is always JSON."""

from __future__ import annotations

import json
from typing import Any

import pytest
from cutman.core import engine
from cutman.core.jsontemplate import (
    check_json_template,
    is_json_template,
    render_json_template,
    render_template,
)
from cutman.core.templating import TemplateError
from cutman.models.resources import WorkflowSpec
from cutman.models.run import RunPhase, StepPhase
from hypothesis import given
from hypothesis import strategies as st

INJECTIONS = ['", "admin": true, "x": "', "line1\nline2", '\\', '\\"', "}", '"}, {"a": 1', "\x00\x1f\u2028",
              "{{ 7*7 }}", "</script>", "]]", "null", "1, \"k\": 2"]


@pytest.mark.parametrize("value", INJECTIONS)
def test_a_label_never_adds_a_key_or_breaks_the_document(value: str) -> None:
    out = render_template('{"text": "{{ .x }}", "bare": {{ .x }}, "mixed": "pre {{ .x }} post"}', {"x": value})
    assert json.loads(out) == {"text": value, "bare": value, "mixed": f"pre {value} post"}


@given(st.text(), st.text())
def test_any_values_round_trip(a: str, b: str) -> None:
    template = '[{"a": "{{ .a }}"}, {{ .b }}, "{{ .a }}{{ .b }}", {"n": {{ .n }}}]'
    assert json.loads(render_json_template(template, {"a": a, "b": b, "n": 3})) == [{"a": a}, b, a + b, {"n": 3}]


@pytest.mark.parametrize(("value", "expected"), [
    (5, 5), (2.5, 2.5), (True, True), (None, None), ([1, "a"], [1, "a"]), ({"k": [1]}, {"k": [1]}),
    ("5", "5"), (float("nan"), "nan"),
])
def test_bare_values_are_json_values(value: Any, expected: Any) -> None:
    assert json.loads(render_json_template('{"v": {{ .v }}}', {"v": value})) == {"v": expected}


def test_missing_values_are_null_bare_and_empty_in_strings() -> None:
    assert json.loads(render_template('{"a": {{ .nope }}, "b": "{{ .nope.deeper }}"}', {})) == {"a": None, "b": ""}


def test_to_json_and_quote_are_inserted_as_json() -> None:
    ctx = {"labels": {"pod": 'we"b'}, "x": 'a"b'}
    out = render_template('{"labels": {{ .labels | toJSON }}, "q": {{ .x | quote }}, "s": "{{ .labels | toJSON }}"}', ctx)
    assert json.loads(out) == {"labels": {"pod": 'we"b'}, "q": 'a"b', "s": '{"pod":"we\\"b"}'}


def test_ranges_and_conditions_build_valid_documents() -> None:
    ctx = {"alerts": [{"name": 'a"b'}, {"name": "c\nd"}], "on": True}
    out = render_template('{"items": [{{ range .alerts }}{"n": "{{ .name }}"},{{ end }} null],'
                          ' "on": {{ if .on }}"yes {{ .alerts }}"{{ else }}null{{ end }}}', ctx)
    assert json.loads(out) == {"items": [{"n": 'a"b'}, {"n": "c\nd"}, None],
                               "on": "yes " + json.dumps(ctx["alerts"], separators=(",", ":"))}


@pytest.mark.parametrize(("template", "expected"), [
    ('{"a": 1}', True), ('  [1]', True), ('{{/* c */}}{"a": 1}', True), ('{{ if .x }}{"a": 1}{{ end }}', True),
    ('{{ . | toJSON }}', False), ('text {{ .x }}', False), ("", False), ('{{ .x }} {"a": 1}', False),
    ("[cutman] {{ .x }} failed", False), ("{x} {{ .y }}", False), ('{"a": {{ .x }}}', True), ("[{{ .x }}]", True),
    ('{ {{ if .x }}"a": 1{{ end }} }', True), ("[true, {{ .x }}]", True), ("[trueish]", False),
])
def test_json_templates_are_those_that_open_a_document(template: str, expected: bool) -> None:
    assert is_json_template(template) is expected


def test_text_templates_are_rendered_as_before() -> None:
    assert render_template('alert {{ .x }} "quoted"', {"x": 'a"b\n'}) == 'alert a"b\n "quoted"'


def test_an_unclosed_string_is_refused_at_check() -> None:
    with pytest.raises(TemplateError, match="never closed"):
        check_json_template('{"a": "{{ .x }}}')


def test_a_template_that_cannot_render_json_fails_with_the_reason() -> None:
    with pytest.raises(TemplateError, match="does not render a JSON document"):
        render_json_template('{"a": {{ .x }} {{ .x }}}', {"x": 1})


def test_escaped_quotes_in_the_template_keep_the_string_open() -> None:
    out = render_template('{"a": "say \\"{{ .x }}\\" now"}', {"x": '", "b": "'})
    assert json.loads(out) == {"a": 'say "", "b": "" now'}


def test_workflow_outputs_that_are_json_documents_escape_values() -> None:
    spec = WorkflowSpec.model_validate({
        "steps": [{"name": "a", "type": "cli", "command": "true"}],
        "outputs": [{"name": "doc", "value": '{"pod": "{{ .alert.labels.pod }}"}'},
                    {"name": "text", "value": "pod {{ .alert.labels.pod }}"}]})
    pod = '", "admin": true, "x": "\n'
    run = engine.new_run(run_id="r", workflow="ns/wf", spec=spec, event_id="e", event_type="t", source="ns/s",
                         source_context={}, alert={"labels": {"pod": pod}}, data=None,
                         now="2026-12-01T10:00:00.000Z")
    run = engine.begin_step(run=run, step="a", now="2026-12-01T10:00:00.500Z")
    done = engine.complete_step(run=run, step="a", outcome=engine.Outcome(StepPhase.SUCCEEDED),
                                now="2026-12-01T10:00:01.000Z").run
    assert done.phase is RunPhase.SUCCEEDED, done.error
    assert json.loads(done.outputs["doc"]) == {"pod": pod}
    assert done.outputs["text"] == f"pod {pod}"
