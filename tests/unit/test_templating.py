"""Go-style and native Jinja templates, missing values, the sandbox and the size cap."""

from __future__ import annotations

from typing import Any

import pytest
from cutman.core import templating
from cutman.core.templating import (
    MAX_RENDERED_BYTES,
    SegmentKind,
    TemplateError,
    check,
    is_truthy,
    render,
    render_value,
    scan,
)
from cutman.errors import Invalid
from hypothesis import given
from hypothesis import strategies as st

CTX: dict[str, Any] = {
    "source": {
        "name": "am",
        "namespace": "ops",
        "context": {"team": "sre"},
        "data": {"alert": {"alertname": "HighCPU"}},
    },
    "alert": {
        "status": "firing",
        "alertname": "HighCPU",
        "severity": "critical",
        "labels": {
            "pod": "web-1",
            "namespace": "shop",
            "app.kubernetes.io/name": "web",
            "items": "a label called items",
            "_private": "underscore label",
        },
        "annotations": {"summary": "CPU high"},
    },
    "steps": {
        "analyze": {"result": {"summary": "too many requests"}, "output": "{}", "success": True},
        "check-pods": {"output": "3 pods", "success": False, "result": None},
    },
    "workflow": {"name": "cpu", "namespace": "ops", "outputs": {"summary": "done"}},
    "env": {"PROMETHEUS_URL": "http://prometheus:9090"},
    "run": {"id": "r-1"},
    "pods": [{"name": "a", "ready": True}, {"name": "b", "ready": False}],
    "byname": {"z": 1, "a": 2},
    "empty": "",
    "zero": 0,
    "nothing": None,
    "no": False,
    "nolist": [],
}


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{ .source.data.alert.alertname }}", "HighCPU"),
        ("{{ .steps.analyze.result.summary }}", "too many requests"),
        ("{{ .workflow.outputs.summary }}", "done"),
        ("{{ .env.PROMETHEUS_URL }}", "http://prometheus:9090"),
        ("{{ .alert.labels.pod }}", "web-1"),
        ("{{.alert.labels.pod}}", "web-1"),
        ("pod {{ .alert.labels.pod }} in {{ .alert.labels.namespace }}", "pod web-1 in shop"),
        ("{{ $.alert.labels.pod }}", "web-1"),
        ("{{ .source.context.team }}", "sre"),
        ("{{ .run.id }}", "r-1"),
        ("{{ .steps.check-pods.output }}", "3 pods"),
        ('{{ index .alert.labels "app.kubernetes.io/name" }}', "web"),
        ('{{ index .steps "check-pods" "output" }}', "3 pods"),
        ('{{ (index .steps "analyze").result.summary }}', "too many requests"),
        ("{{ .alert.labels.items }}", "a label called items"),
        ('{{ index .alert.labels "_private" }}', "underscore label"),
        ("{{ .steps.analyze.success }}/{{ .steps.check-pods.success }}", "true/false"),
        ("{{ .nothing }}", ""),
        ("{{ .steps.analyze.result }}", '{"summary":"too many requests"}'),
        ("{{ .pods }}", '[{"name":"a","ready":true},{"name":"b","ready":false}]'),
        ("{{ 3 }} {{ 2.5 }} {{ true }} {{ nil }}", "3 2.5 true "),
        ('{{ `raw \\n "string"` }}', 'raw \\n "string"'),
        ('{{ "a }} b" }}', "a }} b"),
        ('{{ "{{ .alert.labels.pod }}" }}', "{{ .alert.labels.pod }}"),
        ("{{/* a Go comment with 'quotes' */}}x", "x"),
        ("a  {{- /* trimmed */ -}}  b", "ab"),
        ("{{- .alert.labels.pod -}}", "web-1"),
        ("x {{- .alert.labels.pod }} y", "xweb-1 y"),
        ("trailing newline\n", "trailing newline\n"),
    ],
)
def test_go_style_lookups(template: str, expected: str) -> None:
    assert render(template, CTX) == expected


@pytest.mark.parametrize(
    "template",
    [
        "{{ .missing }}",
        "{{ .missing.a.b.c }}",
        "{{ .alert.labels.nope }}",
        "{{ .alert.labels.nope.deeper }}",
        "{{ .steps.absent.result.summary }}",
        "{{ missing.a.b }}",
        "{{ .missing | upper }}",
        "{{ .missing | lower | trim }}",
        "{{ .missing | quote }}",
        '{{ index .missing "x" }}',
        "{{ .nothing.field }}",
    ],
)
def test_missing_values_render_empty(template: str) -> None:
    assert render(template, CTX) == ""


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ('{{ .missing | default "fallback" }}', "fallback"),
        ('{{ .missing.a.b | default "fallback" }}', "fallback"),
        ('{{ .empty | default "fallback" }}', "fallback"),
        ('{{ .nothing | default "fallback" }}', "fallback"),
        ('{{ .no | default "fallback" }}', "fallback"),
        ('{{ .zero | default "fallback" }}', "fallback"),
        ('{{ .nolist | default "fallback" }}', "fallback"),
        ('{{ .alert.labels.pod | default "fallback" }}', "web-1"),
        ('{{ default "fallback" .missing }}', "fallback"),
        ('{{ default "fallback" .alert.severity }}', "critical"),
        ("{{ .missing | default .alert.labels.pod }}", "web-1"),
        ('{{ .missing | default "x" | upper }}', "X"),
        ('{{ missing | default("native") }}', "native"),
        ('{{ empty | default("native") }}', "native"),
        ('{{ empty | default("native", false) }}', ""),
        ("{{ .alert.labels.pod | toJSON }}", '"web-1"'),
        ("{{ .alert.annotations | toJson }}", '{"summary":"CPU high"}'),
        ("{{ .missing | toJSON }}", "null"),
        ("{{ .nothing | toJSON }}", "null"),
        ("{{ toJSON .pods }}", '[{"name":"a","ready":true},{"name":"b","ready":false}]'),
        ('{{ "ü\\n" | toJSON }}', '"ü\\n"'),
        ("{{ .alert.labels.pod | upper }}", "WEB-1"),
        ('{{ "MiXed" | lower }}', "mixed"),
        ('{{ "  padded \\n" | trim }}', "padded"),
        ("{{ .alert.labels.pod | quote }}", '"web-1"'),
        ('{{ "say \\"hi\\"" | quote }}', '"say \\"hi\\""'),
        ("{{ upper .alert.labels.pod }}", "WEB-1"),
        ("{{ len .pods }} {{ .pods | len }}", "2 2"),
    ],
)
def test_pipelines(template: str, expected: str) -> None:
    assert render(template, CTX) == expected


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{ if .alert.labels.pod }}yes{{ end }}", "yes"),
        ("{{ if .missing }}yes{{ end }}", ""),
        ("{{ if .missing.a.b }}yes{{ else }}no{{ end }}", "no"),
        ("{{ if .empty }}yes{{ else }}no{{ end }}", "no"),
        ('{{ if eq .alert.severity "critical" }}page{{ else }}ticket{{ end }}', "page"),
        ('{{ if eq .alert.severity "warning" }}page{{ else }}ticket{{ end }}', "ticket"),
        ('{{ if eq .alert.severity "warning" "critical" }}any{{ end }}', "any"),
        ('{{ if ne .alert.status "resolved" }}open{{ end }}', "open"),
        ('{{ if eq .missing "x" }}y{{ else }}n{{ end }}', "n"),
        (
            (
                '{{ if eq .alert.severity "info" }}i{{ else if eq .alert.severity "critical" }}c'
                "{{ else }}o{{ end }}"
            ),
            "c",
        ),
        ('{{ if and .alert.labels.pod (eq .alert.status "firing") }}both{{ end }}', "both"),
        ("{{ if or .missing .alert.labels.pod }}either{{ end }}", "either"),
        ("{{ if not .missing }}absent{{ end }}", "absent"),
        ("{{ if lt 1 2 }}lt{{ end }}{{ if ge 2 2 }}ge{{ end }}{{ if gt 1 2 }}gt{{ end }}", "ltge"),
        ('{{ if .alert.severity == "critical" }}jinja-ish{{ end }}', "jinja-ish"),
        ("{{ range .pods }}[{{ .name }}]{{ end }}", "[a][b]"),
        (
            "{{ range .pods }}{{ . }};{{ end }}",
            '{"name":"a","ready":true};{"name":"b","ready":false};',
        ),
        ("{{ range .pods }}{{ if .ready }}{{ .name }} up{{ end }}{{ end }}", "a up"),
        ("{{ range .pods }}{{ $.alert.labels.pod }}/{{ .name }} {{ end }}", "web-1/a web-1/b "),
        ("{{ range .byname }}{{ . }}{{ end }}", "21"),
        ("{{ range .missing }}x{{ else }}none{{ end }}", "none"),
        ("{{ range .nolist }}x{{ else }}none{{ end }}", "none"),
        ("{{ range .pods }}{{ range .pods }}x{{ end }}{{ .name }}{{ end }}", "ab"),
        ("{{ range .pods }}{{ loop.index }}{{ end }}", "12"),
        ("{{- if true -}}\n  kept\n{{- end -}}\n", "kept"),
        ("{{ if true }}\nline\n{{ end }}\n", "\nline\n\n"),
    ],
)
def test_control_flow(template: str, expected: str) -> None:
    assert render(template, CTX) == expected


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{ alert.labels.pod }}", "web-1"),
        ("{{ alert.labels['app.kubernetes.io/name'] }}", "web"),
        ('{{ steps["check-pods"].output }}', "3 pods"),
        ("{% for p in pods %}{{ p.name }}{% if not loop.last %},{% endif %}{% endfor %}", "a,b"),
        (
            "{% for k, v in alert.annotations.items() %}{{ k }}={{ v }}{% endfor %}",
            "summary=CPU high",
        ),
        ("{% if alert.severity == 'critical' %}c{% endif %}", "c"),
        ("{{ alert.labels.pod ~ '-' ~ alert.labels.namespace }}", "web-1-shop"),
        ("{{ pods | map(attribute='name') | join(',') }}", "a,b"),
        ("{{ 'x' if alert.labels.pod else 'y' }}", "x"),
        ("{# a comment #}ok", "ok"),
        ("{% raw %}{{ .alert.labels.pod }}{% endraw %}", "{{ .alert.labels.pod }}"),
        ("{{ .alert.labels.pod ~ '/' ~ .alert.labels.namespace }}", "web-1/shop"),
        ("{{ .alert.labels.pod | replace('-', '_') }}", "web_1"),
        ("{{ range(3) | list | length }}", "3"),
        ('{% if .alert.severity == "critical" %}c{% endif %}', "c"),
        ("{%- for p in .pods -%} {{ p.name }} {%- endfor %}", "ab"),
        ('{% set who = .alert.labels.pod ~ "!" %}{{ who }}', "web-1!"),
    ],
)
def test_native_jinja_and_mixtures(template: str, expected: str) -> None:
    assert render(template, CTX) == expected


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{{ ''.__class__ }}", "attribute '__class__' is refused"),
        ("{{ .alert.__class__ }}", "field '__class__' is refused"),
        ("{{ .alert.labels.__len__ }}", "field '__len__' is refused"),
        ("{{ cycler.__init__.__globals__ }}", "attribute '__globals__' is refused"),
        ("{{ lipsum.__globals__['os'] }}", "attribute '__globals__' is refused"),
        ("{% set x = ''.__class__.__mro__ %}", "is refused"),
        ("{{ self._TemplateReference__context }}", "is refused"),
    ],
)
def test_private_names_are_refused_when_compiled(template: str, message: str) -> None:
    with pytest.raises(TemplateError, match=message):
        check(template)
    with pytest.raises(TemplateError, match=message):
        render(template, CTX)


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ('{{ index .alert.status "__class__" }}', "'__class__' of str is refused"),
        ("{{ alert.labels.clear() }}", "'clear' of dict is refused"),
        ("{{ pods.append(1) }}", "'append' of list is refused"),
        ("{{ alert.labels | attr('__class__') }}", "refused"),
        ("{{ range(10000000) | list }}", "(?i)range too big"),
        ('{{ "a" * 10000000 }}', "repetition would exceed the size cap"),
        ("{{ 2 ** 100000 }}", "exponent above 1024"),
    ],
)
def test_sandbox_refusals_at_render(template: str, message: str) -> None:
    check(template)
    with pytest.raises(TemplateError, match=message):
        render(template, CTX)


def test_underscore_keys_are_data_not_attributes() -> None:
    assert render('{{ index .alert.labels "__class__" }}', CTX) == ""
    assert render("{{ alert.labels['_private'] }}", CTX) == "underscore label"


def test_alert_data_is_never_template_code() -> None:
    hostile = {
        "alert": {"labels": {"pod": "{{ ''.__class__ }}{% for x in range(9) %}x{% endfor %}"}}
    }
    assert render("{{ .alert.labels.pod }}", hostile) == hostile["alert"]["labels"]["pod"]


@given(st.text())
def test_any_string_value_renders_verbatim(value: str) -> None:
    assert render("{{ .v }}", {"v": value}) == value
    assert render("<{{ v }}>", {"v": value}) == f"<{value}>"


@given(st.text(alphabet=st.characters(blacklist_characters="{}%#\r")))
def test_text_without_delimiters_is_unchanged(text: str) -> None:
    assert render(text, {}) == text


def test_template_line_endings_are_normalised_but_values_are_not() -> None:
    assert render("a\r\nb\rc{{ .v }}", {"v": "\r\n"}) == "a\nb\nc\r\n"


def test_size_cap() -> None:
    exact = "x" * MAX_RENDERED_BYTES
    assert render("{{ .v }}", {"v": exact}) == exact
    with pytest.raises(TemplateError, match=f"exceeds {MAX_RENDERED_BYTES} bytes"):
        render("{{ .v }}!", {"v": exact})
    with pytest.raises(TemplateError, match="exceeds"):
        render("{% for i in range(99999) %}0123456789{% endfor %}", {})
    with pytest.raises(TemplateError, match="exceeds"):
        render("{{ .v }}", {"v": "é" * (MAX_RENDERED_BYTES // 2 + 1)})


@pytest.mark.parametrize(
    ("template", "message", "line"),
    [
        ("{{ if .x }}open", r"\{\{ if \}\} has no \{\{ end \}\}", 1),
        ("ok\n{{ end }}", r"\{\{ end \}\} without an open", 2),
        ("{{ range .pods }}{{ else if .x }}{{ end }}", "is not supported", 1),
        ("a\nb\n{{ .x ) }}", "unexpected '\\)'", 3),
        ('{{ .x | defualt "y" }}', "defualt is not a function", 1),
        ("{{ eq .x }}", "wrong number of arguments for eq", 1),
        ("{{ . }}", "only allowed inside", 1),
        ("{{ $ }}", "Go variables", 1),
        ("{{ $x := .alert }}", r"Go variables \(\$x\) are not supported", 1),
        ("{{ range $i, $p := .pods }}{{ end }}", "range with variables is not supported", 1),
        ("{{ with .alert }}{{ end }}", "Go 'with' is not supported", 1),
        ('{{ template "x" }}', "Go 'template' is not supported", 1),
        ("{{ }}", "empty expression", 1),
        ("x\n{{ .alert", r"\{\{ is never closed", 2),
        ("{# never closed", r"\{# is never closed", 1),
        ("{% raw %}never closed", "raw", 1),
        ("{% if x %}", "Unexpected end of template", 1),
        ("x\n\n{{ if .a }}\n{{ .b | }}\n{{ end }}", "got 'end of print statement'", 4),
        ('{{ .a "b" }}', "a is not a function", 1),
    ],
)
def test_check_names_the_problem_and_line(template: str, message: str, line: int) -> None:
    with pytest.raises(TemplateError, match=message) as caught:
        check(template)
    assert caught.value.line == line
    assert f"line {line}:" in caught.value.message
    assert caught.value.template == template


def test_error_is_invalid_with_a_short_excerpt() -> None:
    template = "{{ .x | nope 1 }}" + " padding" * 40
    with pytest.raises(TemplateError) as caught:
        check(template)
    error = caught.value
    assert isinstance(error, Invalid)
    assert error.status == 422
    assert error.message.startswith('template "{{ .x | nope 1 }} padding')
    assert "…" in error.message
    assert len(error.message) < 200
    assert error.body()["error"] == "invalid"


def test_runtime_errors_become_template_errors() -> None:
    with pytest.raises(TemplateError, match="ZeroDivisionError"):
        render("{{ 1 / 0 }}", {})
    with pytest.raises(TemplateError, match="cannot range over a string"):
        render("{{ range .alert.status }}x{{ end }}", CTX)
    with pytest.raises(TemplateError, match="undefined"):
        render("{{ .missing + 1 }}", CTX)


def test_compiled_templates_are_cached() -> None:
    template = "{{ .alert.labels.pod }} cached-test"
    render(template, CTX)
    before = templating._compile.cache_info()
    for _ in range(5):
        assert render(template, CTX) == "web-1 cached-test"
    after = templating._compile.cache_info()
    assert after.hits - before.hits == 5
    assert after.misses == before.misses


@pytest.mark.parametrize(
    ("rendered", "truthy"),
    [
        ("", False),
        ("   ", False),
        ("false", False),
        ("False", False),
        (" FALSE\n", False),
        ("0", False),
        ("no", False),
        ("No", False),
        ("none", False),
        ("None", False),
        ("null", False),
        ("nil", False),
        ("<no value>", False),
        ("<No Value>", False),
        ("true", True),
        ("1", True),
        ("yes", True),
        ("critical", True),
        ("0.0", True),
        ("false positive", True),
        ("[]", True),
    ],
)
def test_is_truthy(rendered: str, truthy: bool) -> None:
    assert is_truthy(rendered) is truthy


def test_conditions_render_then_test() -> None:
    assert is_truthy(render('{{ eq .alert.severity "critical" }}', CTX))
    assert not is_truthy(render('{{ eq .alert.severity "info" }}', CTX))
    assert not is_truthy(render("{{ .steps.check-pods.success }}", CTX))
    assert not is_truthy(render("{{ .missing.deep }}", CTX))


def test_render_value_renders_nested_strings_only() -> None:
    config = {
        "channel": "#{{ .source.context.team }}",
        "blocks": [{"text": "{{ .alert.annotations.summary }}"}, 3, None, True],
        "pretty": True,
        "{{ .not.a.key }}": ("{{ .run.id }}",),
    }
    assert render_value(config, CTX) == {
        "channel": "#sre",
        "blocks": [{"text": "CPU high"}, 3, None, True],
        "pretty": True,
        "{{ .not.a.key }}": ["r-1"],
    }
    assert render_value("{{ .run.id }}", CTX) == "r-1"
    assert render_value(7, CTX) == 7


def test_scan_splits_blocks_and_keeps_strings_whole() -> None:
    segments = scan(
        'a {{ "}}" }} {% if x %}{# c #}{{/* g */}}{% raw %}{{ x }}{% endraw %}{{ end }}'
    )
    assert [s.kind for s in segments] == [
        SegmentKind.TEXT,
        SegmentKind.OUTPUT,
        SegmentKind.TEXT,
        SegmentKind.STATEMENT,
        SegmentKind.COMMENT,
        SegmentKind.COMMENT,
        SegmentKind.RAW,
        SegmentKind.CONTROL,
    ]
    assert segments[1].source == '{{ "}}" }}'
    assert segments[6].inner == "{{ x }}"
    trimmed = scan("{{- .x -}}")[0]
    assert (trimmed.trim_left, trimmed.trim_right, trimmed.inner) == (True, True, " .x ")
