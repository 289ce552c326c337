"""Printing what `get` found, the kubectl way: table, wide, json, yaml or name.

A list in json/yaml is a `kind: List` of items, one object is the object itself, as
`kubectl get -o json` prints them. Tables have upper-case headers, columns separated by
three spaces, `--no-headers` drops the header line, `-A` adds a NAMESPACE column.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import yaml

from .. import clock


class Format(StrEnum):
    TABLE = "table"
    WIDE = "wide"
    JSON = "json"
    YAML = "yaml"
    NAME = "name"


@dataclass(frozen=True)
class Column:
    header: str
    value: Callable[[dict[str, Any]], Any]
    wide: bool = False


def table(rows: Sequence[Sequence[Any]], header: Sequence[str] | None) -> str:
    cells = [[str(c) for c in r] for r in rows]
    every = ([list(header)] if header else []) + cells
    if not every:
        return ""
    widths = [max(len(r[i]) for r in every) for i in range(len(every[0]))]
    return "\n".join("   ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in every)


def dump(value: Any, fmt: Format) -> str:
    if fmt is Format.YAML:
        return yaml.safe_dump(value, sort_keys=False, allow_unicode=True, width=120).rstrip("\n")
    return json.dumps(value, indent=2, default=str)


def as_list(items: list[dict[str, Any]]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "List", "items": items, "metadata": {"resourceVersion": ""}}


def render(
    items: list[dict[str, Any]], *, fmt: Format, columns: Sequence[Column], name: Callable[[dict[str, Any]], str],
    single: bool = False, headers: bool = True, namespace: Callable[[dict[str, Any]], str] | None = None,
) -> str:
    """`items` as the format asks; `namespace` set (with -A) adds the NAMESPACE column."""
    if fmt in (Format.JSON, Format.YAML):
        return dump(items[0] if single and items else as_list(items), fmt)
    if fmt is Format.NAME:
        return "\n".join(name(i) for i in items)
    cols = [c for c in columns if fmt is Format.WIDE or not c.wide]
    rows = [[_cell(c.value(i)) for c in cols] for i in items]
    header = [c.header for c in cols]
    if namespace is not None:
        header = ["NAMESPACE", *header]
        rows = [[namespace(i), *r] for i, r in zip(items, rows)]
    return table(rows, header if headers else None)


def _cell(value: Any) -> str:
    if value is None or value == "":
        return "<none>"
    return str(value)


def age(ts: str | float | None, *, now: datetime | None = None) -> str:
    """kubectl's short age: 42s, 5m, 3h, 2d (or <unknown>)."""
    if ts is None or ts == "":
        return "<unknown>"
    try:
        then = datetime.fromtimestamp(float(ts), UTC) if _is_number(ts) else clock.parse(str(ts))
    except ValueError:
        return "<unknown>"
    secs = max(0, int(((now or datetime.now(UTC)) - then).total_seconds()))
    if secs < 120:
        return f"{secs}s"
    if secs < 120 * 60:
        return f"{secs // 60}m"
    if secs < 48 * 3600:
        return f"{secs // 3600}h"
    return f"{secs // 86400}d"


def _is_number(value: str | float) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


def timestamp(epoch: str | float | None) -> str:
    if epoch is None or epoch == "":
        return "-"
    return datetime.fromtimestamp(float(epoch), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def dig(doc: dict[str, Any], *path: str) -> Any:
    cur: Any = doc
    for p in path:
        if not isinstance(cur, dict):
            return None
        cur = cur.get(p)
    return cur


def condition(doc: dict[str, Any], kind: str = "Ready") -> dict[str, Any]:
    for c in dig(doc, "status", "conditions") or []:
        if isinstance(c, dict) and c.get("type") == kind:
            return c
    return {}
