"""Kubernetes label selectors (`-l` of `cutman get`), parsed and matched without I/O.

The syntax is kubectl's: comma-separated requirements, each `k=v`, `k==v`, `k!=v`,
`k in (a,b)`, `k notin (a,b)`, `k` (exists) or `!k` (does not exist). Kept here rather
than taken from a library: the Python kubernetes client has no selector parser, and the
grammar is small enough that one pure function, tested, is less than a dependency.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from ..errors import BadRequest

_KEY = r"[A-Za-z0-9]([-A-Za-z0-9_./]*[A-Za-z0-9])?"
_VALUE = r"([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?"
_SET = re.compile(rf"^\s*(?P<key>{_KEY})\s+(?P<op>in|notin)\s*\((?P<values>[^)]*)\)\s*$")
_CMP = re.compile(rf"^\s*(?P<key>{_KEY})\s*(?P<op>==|!=|=)\s*(?P<value>{_VALUE})\s*$")
_EXISTS = re.compile(rf"^\s*(?P<neg>!?)\s*(?P<key>{_KEY})\s*$")


class Op(StrEnum):
    EQ = "="
    NE = "!="
    IN = "in"
    NOTIN = "notin"
    EXISTS = "exists"
    ABSENT = "!"


@dataclass(frozen=True)
class Requirement:
    key: str
    op: Op
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        value = labels.get(self.key)
        match self.op:
            case Op.EQ | Op.IN:
                return present and value in self.values
            case Op.NE | Op.NOTIN:
                return not present or value not in self.values
            case Op.EXISTS:
                return present
            case Op.ABSENT:
                return not present


@dataclass(frozen=True)
class Selector:
    requirements: tuple[Requirement, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(r.matches(labels) for r in self.requirements)


def _split(text: str) -> list[str]:
    """Split on commas outside parentheses."""
    parts, depth, cur = [], 0, ""
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    return parts


def parse_selector(text: str | None) -> Selector:
    """A selector from kubectl syntax; BadRequest names the requirement that does not parse."""
    if not text or not text.strip():
        return Selector()
    reqs: list[Requirement] = []
    for part in _split(text):
        if m := _SET.match(part):
            values = tuple(v.strip() for v in m["values"].split(",") if v.strip())
            if not values:
                raise BadRequest(f"label selector {part.strip()!r}: the set of values is empty", field="selector")
            reqs.append(Requirement(m["key"], Op(m["op"]), values))
        elif m := _CMP.match(part):
            reqs.append(Requirement(m["key"], Op.NE if m["op"] == "!=" else Op.EQ, (m["value"],)))
        elif m := _EXISTS.match(part):
            reqs.append(Requirement(m["key"], Op.ABSENT if m["neg"] else Op.EXISTS))
        else:
            raise BadRequest(f"label selector {part.strip()!r}: not k=v, k!=v, k in (a,b), k notin (a,b), k or !k",
                             field="selector")
    return Selector(tuple(reqs))
