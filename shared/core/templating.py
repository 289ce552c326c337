"""Template rendering in the earlier system's Go-style syntax, on a sandboxed Jinja2.

This is the public entry point: check, render, render_value and is_truthy, with
TemplateError for every failure. Go syntax is first translated to Jinja by
`gotemplate.py` (which documents the Go-style rules and owns the block scanner, `scan`,
re-exported here); this module compiles the result and renders it in a sandbox.

Missing values render as "" even when chained; None renders as "", booleans as
true/false, mappings and lists as compact JSON. Alert data is untrusted and templates
are rendered inside the functions that hold credentials, so rendering is sandboxed:
dotted names starting with "_" are refused when compiled, the immutable sandbox refuses
private attributes and mutating methods at render time, `*`/`**` cannot build huge
values, and output is capped at MAX_RENDERED_BYTES. Templates come from the CR author,
who can still write slow loops; the cap bounds what data can inflate.
"""

from __future__ import annotations

import datetime
import functools
import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any, NoReturn

import jinja2
from jinja2 import nodes
from jinja2.exceptions import SecurityError, TemplateRuntimeError, TemplateSyntaxError
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment
from pydantic import BaseModel

from .gotemplate import RANGE_FILTER, Segment, SegmentKind, TemplateError, Translator, scan

__all__ = [
    "MAX_RENDERED_BYTES",
    "Segment",
    "SegmentKind",
    "TemplateError",
    "check",
    "is_truthy",
    "render",
    "render_value",
    "scan",
]

MAX_RENDERED_BYTES = 256 * 1024
_MAX_EXPONENT = 1024
_FALSY = frozenset({"", "false", "0", "no", "none", "null", "nil", "<no value>"})


# --- the sandbox -----------------------------------------------------------------


class _Sandbox(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset({"*", "**"})

    def getitem(self, obj: Any, argument: Any) -> Any:
        if isinstance(obj, Mapping):
            try:
                return obj[argument]
            except (KeyError, TypeError):
                return self.undefined(obj=obj, name=argument)
        return super().getitem(obj, argument)

    def unsafe_undefined(self, obj: Any, attribute: str) -> NoReturn:
        raise SecurityError(f"attribute {attribute!r} of {type(obj).__name__} is refused")

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                sized = isinstance(seq, str | list | tuple) and isinstance(times, int)
                if sized and len(seq) * times > MAX_RENDERED_BYTES:
                    raise SecurityError("repetition would exceed the size cap")
        if operator == "**" and isinstance(right, int) and right > _MAX_EXPONENT:
            raise SecurityError(f"exponent above {_MAX_EXPONENT}")
        return super().call_binop(context, operator, left, right)


class JSONText(str):
    """Text that already is a JSON value (toJSON, quote): JSON templates insert it as is."""


def _json_default(value: Any) -> Any:
    if isinstance(value, jinja2.Undefined):
        return None
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, set | frozenset):
        return sorted(value, key=str)
    return str(value)


def to_json(value: Any) -> str:
    return JSONText(json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=_json_default))


def finalize(value: Any) -> Any:
    if value is None or isinstance(value, jinja2.Undefined):
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Mapping | list | tuple):
        return to_json(value)
    return value


def _is_empty(value: Any) -> bool:
    if value is None or isinstance(value, jinja2.Undefined) or value is False:
        return True
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value == 0
    return isinstance(value, str | Mapping | list | tuple | set) and len(value) == 0


def _default(value: Any, fallback: Any = "", boolean: bool = True) -> Any:
    missing = _is_empty(value) if boolean else isinstance(value, jinja2.Undefined)
    return fallback if missing else value


def _quote(value: Any) -> str:
    if value is None or isinstance(value, jinja2.Undefined):
        return ""
    return JSONText(json.dumps(str(finalize(value)), ensure_ascii=False))


def _range(value: Any) -> Iterable[Any]:
    if value is None or isinstance(value, jinja2.Undefined):
        return ()
    if isinstance(value, str):
        raise TemplateRuntimeError("cannot range over a string")
    if isinstance(value, Mapping):
        try:
            return [value[key] for key in sorted(value)]
        except TypeError:
            return list(value.values())
    if not isinstance(value, Iterable):
        raise TemplateRuntimeError(f"cannot range over {type(value).__name__}")
    return value


_ENV = _Sandbox(
    autoescape=False,
    undefined=jinja2.ChainableUndefined,
    finalize=finalize,
    keep_trailing_newline=True,
)
_ENV.filters.update(
    {
        "default": _default,
        "d": _default,
        "toJSON": to_json,
        "toJson": to_json,
        "quote": _quote,
        RANGE_FILTER: _range,
    }
)


# --- public API --------------------------------------------------------------------


def parse(template: str) -> nodes.Template:
    """The sandbox's checked syntax tree of a template (a fresh tree: callers may rewrite it)."""
    translator = Translator(template)
    source = translator.run()
    try:
        tree = _ENV.parse(source)
    except TemplateSyntaxError as exc:
        hint = translator.hints.get(exc.lineno or 0)
        detail = exc.message or "syntax error"
        detail += f" (read as Go syntax: {hint})" if hint and hint not in detail else ""
        raise TemplateError(detail, template=template, line=exc.lineno) from None
    for node in tree.find_all(nodes.Getattr):
        if node.attr.startswith("_"):
            raise TemplateError(
                f"attribute {node.attr!r} is refused: names starting with '_' are private",
                template=template,
                line=node.lineno,
            )
    return tree


def register_filter(name: str, fn: Callable[..., Any]) -> None:
    """Add a filter to the sandbox (jsontemplate's escaping filters)."""
    _ENV.filters[name] = fn


def compile_tree(tree: nodes.Template) -> jinja2.Template:
    return _ENV.from_string(tree)


@functools.lru_cache(maxsize=1024)
def _compile(template: str) -> jinja2.Template:
    return compile_tree(parse(template))


def check(template: str) -> None:
    """Compile a template, raising TemplateError for what would fail at every render."""
    _compile(template)


def render(template: str, context: Mapping[str, Any]) -> str:
    """Render one template; any failure inside it becomes a TemplateError."""
    return render_compiled(_compile(template), template, context)


def render_compiled(compiled: jinja2.Template, template: str, context: Mapping[str, Any]) -> str:
    """Render a compiled template with the output cap; failures become TemplateError."""
    chunks: list[str] = []
    size = 0
    try:
        for chunk in compiled.generate(dict(context)):
            size += len(chunk.encode("utf-8", "surrogatepass"))
            if size > MAX_RENDERED_BYTES:
                raise TemplateError(
                    f"rendered output exceeds {MAX_RENDERED_BYTES} bytes", template=template
                )
            chunks.append(chunk)
    except TemplateError:
        raise
    except Exception as exc:  # a sandbox boundary: anything inside is the template's fault
        message = exc.message if isinstance(exc, jinja2.TemplateError) else None
        detail = message or f"{type(exc).__name__}: {exc}"
        raise TemplateError(detail, template=template) from exc
    return "".join(chunks)


def render_value(value: Any, context: Mapping[str, Any]) -> Any:
    """Render every string inside nested mappings and lists; keys and non-strings stay."""
    if isinstance(value, str):
        return render(value, context)
    if isinstance(value, Mapping):
        return {key: render_value(item, context) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [render_value(item, context) for item in value]
    return value


def is_truthy(rendered: str) -> bool:
    """Whether a rendered condition counts as true (Go's "<no value>" and "nil" are false)."""
    return rendered.strip().lower() not in _FALSY
