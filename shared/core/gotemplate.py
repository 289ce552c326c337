"""Go template syntax read as Jinja2: the block scanner and the Go-to-Jinja translation.

Workflow, Source and Sink manifests written for the earlier system use Go template
syntax (`{{ .alert.labels.pod | default "x" }}`, `{{ if eq .alert.severity "critical" }}`);
ARCHITECTURE section 3 promises that they keep working. Each `{{ … }}` block is
tokenized and translated to Jinja2 (string literals are never rewritten), so native
Jinja (`{{ alert.labels.pod }}`, `{% if %}`) keeps working unchanged next to it. This
module only rewrites source text; compiling and rendering it, sandboxed, is
`templating.py`, which is also the public entry point. TemplateError lives here because
the scanner and the translator raise it too, and templating.py imports this module.

Go-style rules: `.a.b` looks up keys (`a["b"]`; a key missing from a mapping is missing,
never a method); `$.a` is the root; inside `{{ range }}`, `.` and `.a` refer to the
current item (sorted values for a mapping). Functions: eq (several right-hand values
mean "any of"), ne, lt, le, gt, ge, and, or, not, index, len, default, toJSON/toJson,
upper, lower, trim, quote. `default` has sprig's meaning for Go and Jinja alike: missing,
None, false, 0, "" and empty collections take the fallback. Not supported: Go variables
(`$x :=`), `with`, `define`, `template`, `block`, `break`, `continue`, `printf`.
Dotted names starting with "_" are refused here, when translated.
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import NoReturn

from ..errors import Invalid

_EXCERPT_CHARS = 60
_DOT = "_cm_dot"
RANGE_FILTER = "_cm_range"  # the filter `{{ range }}` becomes; templating.py defines it


class TemplateError(Invalid):
    """A template that cannot be compiled or rendered: names the template and the reason."""

    def __init__(
        self, detail: str, *, template: str, line: int | None = None, field: str | None = None
    ) -> None:
        where = f" line {line}" if line else ""
        super().__init__(f'template "{_excerpt(template)}"{where}: {detail}', field=field)
        self.detail = detail
        self.template = template
        self.line = line


def _excerpt(template: str) -> str:
    flat = " ".join(template.split())
    return flat if len(flat) <= _EXCERPT_CHARS else flat[: _EXCERPT_CHARS - 1] + "…"


# --- block scanner ---------------------------------------------------------------


class SegmentKind(enum.Enum):
    TEXT = "text"
    OUTPUT = "output"  # {{ expression }}
    CONTROL = "control"  # {{ if }}, {{ else }}, {{ end }}, {{ range }}, ...
    STATEMENT = "statement"  # {% ... %}
    COMMENT = "comment"  # {# ... #} and {{/* ... */}}
    RAW = "raw"  # {% raw %}...{% endraw %}; inner is the literal text


@dataclass(frozen=True)
class Segment:
    kind: SegmentKind
    source: str
    inner: str
    line: int
    trim_left: bool = False
    trim_right: bool = False


_OPEN = re.compile(r"\{[{%#]")
_RAW = re.compile(r"-?\s*raw\s*-?")
_ENDRAW = re.compile(r"\{%-?\s*endraw\s*-?%\}")
_GO_COMMENT = re.compile(r"\{\{-?\s*/\*.*?\*/\s*-?\}\}", re.DOTALL)
_CONTROL = re.compile(
    r"\s*(if|else|end|range|with|define|template|block|break|continue)"  # Go actions
    r"(?=\s|$)"
)


def scan(template: str) -> list[Segment]:
    """Split a template into text and `{{ }}`/`{% %}`/`{# #}` blocks (strings respected)."""
    segments: list[Segment] = []
    pos = 0
    while (match := _OPEN.search(template, pos)) is not None:
        start = match.start()
        if start > pos:
            segments.append(_segment(SegmentKind.TEXT, template, pos, start, template[pos:start]))
        opener = template[start + 1]
        if opener == "{" and (go_comment := _GO_COMMENT.match(template, start)):
            end = go_comment.end()
            segments.append(_segment(SegmentKind.COMMENT, template, start, end, ""))
        elif opener == "#":
            close = template.find("#}", start + 2)
            if close < 0:
                _unclosed(template, start, "{#")
            end = close + 2
            segments.append(_segment(SegmentKind.COMMENT, template, start, end, ""))
        else:
            close = _find_close(template, start + 2, "}}" if opener == "{" else "%}")
            if close < 0:
                _unclosed(template, start, "{" + opener)
            end = close + 2
            inner = template[start + 2 : close]
            if opener == "%" and _RAW.fullmatch(inner):
                endraw = _ENDRAW.search(template, end)
                if endraw is None:
                    _unclosed(template, start, "{% raw %}")
                raw = template[end : endraw.start()]
                end = endraw.end()
                segments.append(_segment(SegmentKind.RAW, template, start, end, raw))
            else:
                kind = SegmentKind.STATEMENT if opener == "%" else SegmentKind.OUTPUT
                body = inner.removeprefix("-")
                body = body.removesuffix("-")
                if kind is SegmentKind.OUTPUT and _CONTROL.match(body):
                    kind = SegmentKind.CONTROL
                segments.append(_segment(kind, template, start, end, body))
        pos = end
    if pos < len(template):
        segments.append(_segment(SegmentKind.TEXT, template, pos, len(template), template[pos:]))
    return segments


def _segment(kind: SegmentKind, template: str, start: int, end: int, inner: str) -> Segment:
    source = template[start:end]
    block = kind is not SegmentKind.TEXT
    return Segment(
        kind,
        source,
        inner,
        template.count("\n", 0, start) + 1,
        trim_left=block and source[2:3] == "-",
        trim_right=block and source[-3:-2] == "-",
    )


def _find_close(text: str, i: int, close: str) -> int:
    depth, quote = 0, ""
    while i < len(text):
        char = text[i]
        if quote:
            if char == "\\" and quote != "`":
                i += 1
            elif char == quote:
                quote = ""
        elif char in "\"'`":
            quote = char
        elif char == "{":
            depth += 1
        elif char == "}" and depth:
            depth -= 1
        elif text.startswith(close, i):
            return i
        i += 1
    return -1


def _unclosed(template: str, start: int, what: str) -> NoReturn:
    line = template.count("\n", 0, start) + 1
    raise TemplateError(f"{what} is never closed", template=template, line=line)


# --- Go expression translation ---------------------------------------------------


class _Tk(enum.Enum):
    WS = "ws"
    STR = "str"
    NUM = "num"
    FIELD = "field"
    VAR = "var"
    NAME = "name"
    OP = "op"


@dataclass(frozen=True)
class _Tok:
    kind: _Tk
    text: str
    attached: bool = False  # a .field glued to ")", "]", a string or a number


_TOKEN = re.compile(
    r"""(?P<ws>\s+)
    |(?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)
    |(?P<num>0[xXoObB][0-9a-fA-F_]+|\d[\d_]*(?:\.\d+)?(?:[eE][+-]?\d+)?)
    |(?P<field>(?:\.[A-Za-z_]\w*(?:-\w+)*)+|\.)
    |(?P<var>\$\w*(?:\.[A-Za-z_]\w*(?:-\w+)*)*)
    |(?P<name>[A-Za-z_]\w*(?:\.\w+)*)
    |(?P<op>\*\*|//|==|!=|<=|>=|:=|.)""",
    re.VERBOSE | re.DOTALL,
)
_IDENT = re.compile(r"[A-Za-z_]\w*")


def _tokenize(text: str) -> list[_Tok]:
    toks: list[_Tok] = []
    for match in _TOKEN.finditer(text):
        kind = _Tk(match.lastgroup)
        prev = toks[-1] if toks else None
        attached = (
            kind is _Tk.FIELD
            and prev is not None
            and (prev.kind in (_Tk.STR, _Tk.NUM) or prev.text in (")", "]", "}"))
        )
        toks.append(_Tok(kind, match.group(), attached))
    return toks


class _GoSyntax(Exception):
    """Not Go syntax: the block is passed to Jinja as written (fields still rewritten)."""


class _Refused(Exception):
    """Go syntax that cannot be supported: reported to the user as is."""


def _arity(name: str, args: list[str], least: int, most: int | None = None) -> list[str]:
    if len(args) < least or (most is not None and len(args) > most):
        raise _GoSyntax(f"wrong number of arguments for {name}: {len(args)}")
    return args


def _compare(op: str) -> Callable[[list[str]], str]:
    def emit(args: list[str]) -> str:
        left, right = _arity(op, args, 2, 2)
        return f"({left} {op} {right})"

    return emit


def _filter(name: str) -> Callable[[list[str]], str]:
    def emit(args: list[str]) -> str:
        return f"({_arity(name, args, 1, 1)[0]} | {name})"

    return emit


_FUNCS: dict[str, Callable[[list[str]], str]] = {
    "eq": lambda a: "(" + " or ".join(f"{a[0]} == {b}" for b in _arity("eq", a, 2)[1:]) + ")",
    "ne": _compare("!="),
    "lt": _compare("<"),
    "le": _compare("<="),
    "gt": _compare(">"),
    "ge": _compare(">="),
    "and": lambda a: "(" + " and ".join(_arity("and", a, 1)) + ")",
    "or": lambda a: "(" + " or ".join(_arity("or", a, 1)) + ")",
    "not": lambda a: f"(not {_arity('not', a, 1, 1)[0]})",
    "index": lambda a: f"({_arity('index', a, 1)[0]})" + "".join(f"[{k}]" for k in a[1:]),
    "len": _filter("length"),
    "default": lambda a: f"({_arity('default', a, 2, 2)[1]} | default({a[0]}))",
    "toJSON": _filter("toJSON"),
    "toJson": _filter("toJSON"),
    "upper": _filter("upper"),
    "lower": _filter("lower"),
    "trim": _filter("trim"),
    "quote": _filter("quote"),
}
_LITERALS = {"true": "true", "false": "false", "nil": "none"}


def _path(root: str, keys: Iterable[str]) -> str:
    for key in keys:
        if key.startswith("_"):
            raise _Refused(f"field {key!r} is refused: names starting with '_' are private")
        root += f"[{json.dumps(key)}]"
    return root


def _field(text: str, dot: str | None) -> str:
    keys = [k for k in text.split(".") if k]
    if dot is not None:
        return _path(dot, keys)
    if not keys:
        raise _Refused("'.' alone means the current item and is only allowed inside {{ range }}")
    if not _IDENT.fullmatch(keys[0]) or keys[0].startswith("_"):
        raise _Refused(f"top-level name {keys[0]!r} is not an identifier; use index")
    return _path(keys[0], keys[1:])


def _var(text: str) -> str:
    if not text.startswith("$."):
        raise _Refused(f"Go variables ({text}) are not supported; use $.field or .field")
    return _field(text[1:], None)


def _literal(text: str) -> str:
    return json.dumps(text[1:-1]) if text.startswith("`") else text


class _GoParser:
    def __init__(self, toks: list[_Tok], dot: str | None) -> None:
        self.toks = [t for t in toks if t.kind is not _Tk.WS]
        self.dot = dot
        self.i = 0

    def parse(self) -> str:
        out = self.pipeline()
        if self.i < len(self.toks):
            raise _GoSyntax(f"unexpected {self.toks[self.i].text!r}")
        return out

    def peek(self) -> str | None:
        return self.toks[self.i].text if self.i < len(self.toks) else None

    def pipeline(self) -> str:
        out = self.command(None)
        while self.peek() == "|":
            self.i += 1
            out = self.command(out)
        return out

    def command(self, piped: str | None) -> str:
        operands: list[tuple[str, bool]] = []
        while self.peek() not in (None, "|", ")"):
            operands.append(self.operand())
        if not operands:
            raise _GoSyntax("missing command")
        (head, is_func), rest = operands[0], operands[1:]
        if any(func for _, func in rest):
            raise _GoSyntax("function used as a value")
        if is_func:
            return _FUNCS[head]([arg for arg, _ in rest] + ([piped] if piped else []))
        if rest or piped is not None:
            raise _GoSyntax(f"{head} is not a function")
        return head

    def operand(self) -> tuple[str, bool]:
        tok = self.toks[self.i]
        self.i += 1
        if tok.kind is _Tk.STR:
            out = _literal(tok.text)
        elif tok.kind is _Tk.NUM:
            out = tok.text
        elif tok.kind is _Tk.FIELD and not tok.attached:
            out = _field(tok.text, self.dot)
        elif tok.kind is _Tk.VAR:
            out = _var(tok.text)
        elif tok.kind is _Tk.NAME:
            if tok.text in _FUNCS:
                return tok.text, True
            out = _LITERALS.get(tok.text, tok.text)
        elif tok.text == "(":
            out = f"({self.pipeline()})"
            if self.peek() != ")":
                raise _GoSyntax("missing ')'")
            self.i += 1
            while self.i < len(self.toks) and self.toks[self.i].attached:
                out = _path(out, self.toks[self.i].text.split(".")[1:])
                self.i += 1
        else:
            raise _GoSyntax(f"unexpected {tok.text!r}")
        return out, False


class _Open(enum.Enum):
    """An open Go block, valued by the Jinja tag that closes it."""

    IF = "endif"
    RANGE = "endfor"


class Translator:
    def __init__(self, template: str) -> None:
        self.template = template
        self.opened: list[tuple[_Open, int]] = []
        self.hints: dict[int, str] = {}

    @property
    def dot(self) -> str | None:
        depth = sum(1 for kind, _ in self.opened if kind is _Open.RANGE)
        return f"{_DOT}{depth}" if depth else None

    def run(self) -> str:
        out: list[str] = []
        for seg in scan(self.template):
            try:
                out.append(self.segment(seg))
            except _Refused as exc:
                raise TemplateError(str(exc), template=self.template, line=seg.line) from None
        if self.opened:
            kind, line = self.opened[-1]
            raise TemplateError(
                f"{{{{ {kind.name.lower()} }}}} has no {{{{ end }}}}",
                template=self.template,
                line=line,
            )
        return "".join(out)

    def segment(self, seg: Segment) -> str:
        if seg.kind is SegmentKind.OUTPUT:
            return _tag("{{", self.expression(_tokenize(seg.inner), seg.line), "}}", seg)
        if seg.kind is SegmentKind.CONTROL:
            return self.control(seg)
        if seg.kind is SegmentKind.COMMENT and seg.source.startswith("{{"):
            return _tag("{#", "", "#}", seg)
        if seg.kind is SegmentKind.STATEMENT:
            open_, close = 2 + seg.trim_left, len(seg.source) - 2 - seg.trim_right
            return seg.source[:open_] + self.fields(_tokenize(seg.inner)) + seg.source[close:]
        return seg.source

    def expression(self, toks: list[_Tok], line: int) -> str:
        if not any(t.kind is not _Tk.WS for t in toks):
            raise _Refused("empty expression")
        try:
            return _GoParser(toks, self.dot).parse()
        except _GoSyntax as exc:
            self.hints[line] = str(exc)
        return self.fields(toks)

    def fields(self, toks: list[_Tok]) -> str:
        """Jinja as written, with Go fields (`.a.b`, `$.a`) made into lookups."""
        parts: list[str] = []
        for tok in toks:
            if tok.kind is _Tk.FIELD and not tok.attached:
                parts.append(_field(tok.text, self.dot))
            elif tok.kind is _Tk.VAR:
                parts.append(_var(tok.text))
            else:
                parts.append(_literal(tok.text) if tok.kind is _Tk.STR else tok.text)
        return "".join(parts)

    def control(self, seg: Segment) -> str:
        toks = _tokenize(seg.inner)
        words = [t for t in toks if t.kind is not _Tk.WS]
        keyword, rest = words[0].text, toks[toks.index(words[0]) + 1 :]
        if keyword == "if":
            body = f"if {self.expression(rest, seg.line)}"
            self.opened.append((_Open.IF, seg.line))
        elif keyword == "range":
            if any(t.text == ":=" for t in rest):
                raise _Refused("range with variables is not supported; use {{ . }} in the body")
            items = self.expression(rest, seg.line)
            self.opened.append((_Open.RANGE, seg.line))
            body = f"for {self.dot} in ({items}) | {RANGE_FILTER}"
        elif keyword == "else" and self.opened:
            top = self.opened[-1][0]
            if len(words) == 1:
                body = "else"
            elif words[1].text == "if" and top is _Open.IF:
                body = f"elif {self.expression(rest[rest.index(words[1]) + 1 :], seg.line)}"
            else:
                raise _Refused(f"{{{{ {seg.inner.strip()} }}}} is not supported")
        elif keyword == "end" and self.opened and len(words) == 1:
            body = self.opened.pop()[0].value
        elif keyword in ("else", "end"):
            raise _Refused(f"{{{{ {keyword} }}}} without an open {{{{ if }}}} or {{{{ range }}}}")
        else:
            raise _Refused(f"Go {keyword!r} is not supported; use if/range or native Jinja")
        return _tag("{%", body, "%}", seg)


def _tag(open_: str, body: str, close: str, seg: Segment) -> str:
    newlines = "\n" * (seg.source.count("\n") - body.count("\n"))
    left = "-" if seg.trim_left else ""
    right = "-" if seg.trim_right else ""
    return f"{open_}{left} {body}{newlines} {right}{close}"
