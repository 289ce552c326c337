"""Templates that build JSON documents: every value is inserted with JSON escaping.

A sink template such as `{"text": "{{ .alert.labels.x }}"}` used to be rendered as text,
so a label `", "admin": true, "x": "` added keys to the document sent, and a newline
made it invalid JSON (then sent as text/plain). A template whose literal text starts
with `{` or `[` is a JSON template (`is_json_template`): each `{{ … }}` inside a JSON
string literal renders as the string's escaped content, and each one outside a string
renders as one JSON value: numbers, booleans and null as themselves, mappings and lists
as JSON, text as a JSON string, and the output of `toJSON` or `quote` as is (it already
is JSON). So `{"count": {{ .n }}}` stays a document whatever `.n` holds. The rendered
text must parse as JSON or rendering fails with the reason: a document is never sent
broken.

Where an expression sits is decided on the template's syntax tree, walking its literal
text in document order and tracking JSON string quotes (and backslash escapes); both
branches of an `{{ if }}` are assumed to leave the quoting as they found it, which
`check_json_template` verifies for the template as a whole.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Mapping
from typing import Any

import jinja2
from jinja2 import nodes

from .gotemplate import SegmentKind, TemplateError, scan
from .templating import (
    JSONText,
    compile_tree,
    finalize,
    parse,
    register_filter,
    render,
    render_compiled,
    to_json,
)

__all__ = ["check_json_template", "is_json_template", "render_json_template", "render_template"]

_OPENS_DOCUMENT = re.compile(r'\{\s*(?:"|\}|$)|\[\s*(?:[-\d"{\[\]]|true\b|false\b|null\b|$)')
_IN_STRING = "_cm_json_in_string"
_AS_VALUE = "_cm_json_value"


def _in_string(value: Any) -> str:
    text = finalize(value)
    return json.dumps(str(text), ensure_ascii=False)[1:-1]


def _as_value(value: Any) -> str:
    if isinstance(value, JSONText):
        return str(value)
    if value is None or isinstance(value, jinja2.Undefined):
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return json.dumps(value) if math.isfinite(value) else json.dumps(str(value))
    if isinstance(value, Mapping | list | tuple):
        return to_json(value)
    return json.dumps(str(value), ensure_ascii=False)


def is_json_template(template: str) -> bool:
    """Whether the template's first literal text opens a JSON document.

    That is `{` then a key, `}` or a template block, or `[` then a JSON value, `]` or a
    block; so a text line such as "[cutman] run failed" stays text. Control blocks
    before it are skipped; an expression before it means the template builds its
    document some other way (`{{ . | toJSON }}`) and is rendered as text.
    """
    for seg in scan(template):
        if seg.kind in (SegmentKind.COMMENT, SegmentKind.CONTROL, SegmentKind.STATEMENT):
            continue
        if seg.kind in (SegmentKind.TEXT, SegmentKind.RAW):
            text = (seg.inner if seg.kind is SegmentKind.RAW else seg.source).strip()
            if not text:
                continue
            return _OPENS_DOCUMENT.match(text) is not None
        return False
    return False


def _scan_quotes(text: str, in_string: bool, escaped: bool) -> tuple[bool, bool]:
    for char in text:
        if escaped:
            escaped = False
        elif in_string and char == "\\":
            escaped = True
        elif char == '"':
            in_string = not in_string
    return in_string, escaped


def _filtered(node: nodes.Expr, name: str) -> nodes.Filter:
    return nodes.Filter(node, name, [], [], None, None, lineno=node.lineno)


@functools.lru_cache(maxsize=512)
def _compile_json(template: str) -> jinja2.Template:
    tree = parse(template)
    in_string = escaped = False
    for output in tree.find_all(nodes.Output):
        rewritten: list[nodes.Expr] = []
        for node in output.nodes:
            if isinstance(node, nodes.TemplateData):
                in_string, escaped = _scan_quotes(node.data, in_string, escaped)
                rewritten.append(node)
            else:
                rewritten.append(_filtered(node, _IN_STRING if in_string else _AS_VALUE))
        output.nodes = rewritten
    if in_string:
        raise TemplateError("a JSON string in the template is never closed", template=template)
    return compile_tree(tree)


def check_json_template(template: str) -> None:
    """Compile a template in JSON mode; TemplateError for what fails at every render."""
    _compile_json(template)


def render_json_template(template: str, context: Mapping[str, Any]) -> str:
    """Render a JSON template with JSON escaping; TemplateError if the result is not JSON."""
    text = render_compiled(_compile_json(template), template, context)
    try:
        json.loads(text)
    except ValueError as exc:
        raise TemplateError(f"does not render a JSON document: {exc}", template=template) from None
    return text


def render_template(template: str, context: Mapping[str, Any]) -> str:
    """A JSON template rendered with JSON escaping, any other template as text."""
    if is_json_template(template):
        return render_json_template(template, context)
    return render(template, context)


register_filter(_IN_STRING, _in_string)
register_filter(_AS_VALUE, _as_value)
