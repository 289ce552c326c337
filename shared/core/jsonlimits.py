"""Decoding untrusted JSON with depth and size limits, refusing with the path that broke them.

Alert bodies, Source events and CloudEvent data are stored in the run document and read
back by every step, the CLI and the API. The readers have tighter limits than Python's
`json`: pydantic's JSON parser stops at 200 levels, so a webhook field nested 200 deep
used to be accepted and then made the run unreadable for everyone, and about 1000 levels
raise RecursionError (a 500 that Alertmanager retries forever). `MAX_DEPTH` leaves room
for the levels the run document adds above the untrusted value, so whatever is accepted
here can always be read back. Events between our own functions wrap an accepted value in
a few more levels (event data, structured mode, the run document), so their readers
allow `MAX_INTERNAL_DEPTH`.

`loads` (bytes in) and `check_depth` (an already decoded value, e.g. from the CloudEvents
SDK) raise BadRequest naming the JSON path (`alerts[0].labels.x[3]`) and the reason.
Pure, no I/O; the depth walk is iterative so it cannot itself overflow the stack.
"""

from __future__ import annotations

import json
import re
from typing import Any

from ..errors import BadRequest, PayloadTooLarge

MAX_DEPTH = 64
MAX_INTERNAL_DEPTH = MAX_DEPTH + 16  # our own events wrap an accepted value in a few levels
MAX_BYTES = 4 * 1024 * 1024
_MAX_PATH_CHARS = 240
_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{},:]', re.DOTALL)
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")


def _step(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    if _IDENT.fullmatch(key):
        return f"{path}.{key}" if path else key
    return f"{path}[{json.dumps(key, ensure_ascii=False)[:80]}]"


class TooDeep(BadRequest):
    """A JSON value nested deeper than the limit (400, names the path)."""


def _too_deep(what: str, path: str, max_depth: int) -> TooDeep:
    if len(path) > _MAX_PATH_CHARS:
        path = path[: _MAX_PATH_CHARS - 61] + "…" + path[-60:]
    return TooDeep(
        f"{what}: {path or 'the document'} is nested deeper than {max_depth} levels",
        field=path or None,
    )


def _exceeds(value: Any, max_depth: int) -> bool:
    """The fast pass: containers only, no paths, exact type checks (ingest runs it on every
    webhook; about a sixth of json.loads' own time on a 1 MB Alertmanager body)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    pop, push = stack.pop, stack.append
    while stack:
        item, depth = pop()
        if depth > max_depth:
            return True
        below = depth + 1
        for child in item.values() if type(item) is dict else item:
            kind = type(child)
            if kind is dict or kind is list or kind is tuple:
                push((child, below))
    return False


def check_depth(value: Any, *, what: str = "body", max_depth: int = MAX_DEPTH) -> None:
    """Refuse a decoded JSON value nested more than `max_depth` containers deep."""
    if not isinstance(value, dict | list | tuple) or not _exceeds(value, max_depth):
        return
    stack: list[tuple[Any, int, str]] = [(value, 1, "")]
    while stack:
        item, depth, path = stack.pop()
        if isinstance(item, dict):
            children: list[tuple[str | int, Any]] = list(item.items())
        elif isinstance(item, list | tuple):
            children = list(enumerate(item))
        else:
            continue
        if depth > max_depth:
            raise _too_deep(what, path, max_depth)
        stack.extend((child, depth + 1, _step(path, key)) for key, child in reversed(children))


def deep_path(text: str, max_depth: int) -> str | None:
    """The path where `text` first opens more than `max_depth` containers, without parsing it.

    For documents too deep for `json.loads` itself; stops at the first offending bracket.
    """
    stack: list[list[Any]] = []  # [kind, key or index, pending key]
    for token in _TOKEN.finditer(text):
        tok = token.group()
        top = stack[-1] if stack else None
        if tok in "[{":
            if len(stack) >= max_depth:
                return _render(stack)
            stack.append([tok, 0 if tok == "[" else None, None])
        elif tok in "]}":
            if stack:
                stack.pop()
        elif tok == ",":
            if top is not None and top[0] == "[":
                top[1] += 1
        elif tok == ":":
            if top is not None and top[0] == "{":
                top[1] = top[2]
        elif top is not None and top[0] == "{":
            try:
                top[2] = json.loads(tok)
            except ValueError:
                top[2] = tok.strip('"')
    return None


def _render(stack: list[list[Any]]) -> str:
    path = ""
    for kind, key, _ in stack:
        if key is None:
            break
        path = _step(path, key if kind == "[" else str(key))
    return path


def exceeds(value: Any, max_depth: int) -> bool:
    """Whether `value` nests more than `max_depth` containers (no path; see check_depth)."""
    return isinstance(value, dict | list | tuple) and _exceeds(value, max_depth)


def loads(raw: bytes | str, *, what: str = "body", max_depth: int = MAX_DEPTH,
          max_bytes: int = MAX_BYTES, check: bool = True) -> Any:
    """`json.loads` with a size and a depth limit; BadRequest/PayloadTooLarge say which and where.

    `check=False` leaves the depth walk to a caller that knows the document's shape
    (ingest: only a webhook's unknown fields can nest; see alertmanager.decode); the
    documents too deep for `json.loads` itself are still refused here."""
    size = len(raw)
    if size > max_bytes:
        raise PayloadTooLarge(f"{what} is {size} bytes; at most {max_bytes} are accepted")
    try:
        value = json.loads(raw)
    except RecursionError:
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
        raise _too_deep(what, deep_path(text, max_depth) or "", max_depth) from None
    except ValueError as exc:
        raise BadRequest(f"{what} is not JSON: {exc}") from None
    if check:
        check_depth(value, what=what, max_depth=max_depth)
    return value
