"""Alertmanager label matchers (`name="v"`, `name!="v"`, `name=~"re"`, `name!~"re"`).

A Source's `matchers` use the syntax of Alertmanager's routes and silences, so a team
can copy a route's matchers into a Source. Semantics follow Alertmanager:

- a missing label is the empty string (`env=""` matches alerts without `env`);
- regexes are fully anchored, `^(?:re)$`, so `sev=~"crit"` does not match `critical`;
- values may be quoted, with the escapes `\\"`, `\\\\` and `\\n`; unquoted values are
  taken as written, trimmed.

Regexes are compiled with Python's `re`, close to but not identical with Go's RE2:
patterns RE2 refuses are usually refused here too, and both anchor the same way.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

_NAME = re.compile(r"^[A-Za-z_:][A-Za-z0-9_:]*$")
_MATCHER = re.compile(r"^\s*([^\s=!~\"]+)\s*(=~|!~|!=|=)\s*(.*?)\s*$", re.DOTALL)
_ESCAPES = {"\\": "\\", '"': '"', "n": "\n"}


class Op(StrEnum):
    EQ = "="
    NE = "!="
    RE = "=~"
    NRE = "!~"


class MatcherError(ValueError):
    """A matcher string that does not parse; the message quotes it and says why."""


@dataclass(frozen=True)
class Matcher:
    name: str
    op: Op
    value: str
    pattern: re.Pattern[str] | None = None

    def matches(self, labels: Mapping[str, str]) -> bool:
        got = labels.get(self.name, "")
        if self.pattern is not None:
            hit = self.pattern.fullmatch(got) is not None
            return hit if self.op is Op.RE else not hit
        return (got == self.value) if self.op is Op.EQ else (got != self.value)

    def __str__(self) -> str:
        escaped = self.value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        return f'{self.name}{self.op.value}"{escaped}"'


def _unquote(raw: str, text: str) -> str:
    if not raw.startswith('"'):
        if '"' in raw:
            raise MatcherError(f"{text!r}: unbalanced quote in the value")
        return raw
    if len(raw) < 2 or not raw.endswith('"'):
        raise MatcherError(f"{text!r}: the value's opening quote is not closed")
    body, out, i = raw[1:-1], [], 0
    while i < len(body):
        c = body[i]
        if c == "\\":
            if i + 1 >= len(body) or body[i + 1] not in _ESCAPES:
                raise MatcherError(f"{text!r}: invalid escape in the value (use \\\", \\\\ or \\n)")
            out.append(_ESCAPES[body[i + 1]])
            i += 2
            continue
        if c == '"':
            raise MatcherError(f"{text!r}: unescaped quote inside the value")
        out.append(c)
        i += 1
    return "".join(out)


def parse_matcher(text: str) -> Matcher:
    """One matcher, e.g. `severity=~"critical|warning"`; raises MatcherError naming `text`."""
    m = _MATCHER.match(text)
    if m is None:
        raise MatcherError(f"{text!r}: not a matcher (expected name=\"value\", !=, =~ or !~)")
    name, op, raw = m.group(1), Op(m.group(2)), m.group(3)
    if not _NAME.match(name):
        raise MatcherError(f"{text!r}: {name!r} is not a valid label name")
    value = _unquote(raw, text)
    pattern = None
    if op in (Op.RE, Op.NRE):
        try:
            pattern = re.compile(f"(?:{value})")
        except re.error as exc:
            raise MatcherError(f"{text!r}: invalid regular expression: {exc}") from None
    return Matcher(name=name, op=op, value=value, pattern=pattern)


def parse_matchers(texts: Sequence[str]) -> tuple[Matcher, ...]:
    return tuple(parse_matcher(t) for t in texts)


def matches_all(labels: Mapping[str, str], matchers: Sequence[Matcher]) -> bool:
    """True when every matcher matches (an empty list matches everything)."""
    return all(m.matches(labels) for m in matchers)
