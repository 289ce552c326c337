"""Which tool a step's `tools` entry names: a built-in, or a workflow-defined command.

`build` is what step-agent calls; `problems` is what the reconciler calls at apply time
so a misspelled tool is refused when applied, not at 3 a.m.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from ...core.templating import TemplateError
from ...models.resources import ToolSpec
from .base import Tool
from .command import CommandTool
from .curl import Curl
from .kubectl import Kubectl
from .promql import Promql

TOOL_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")
BUILTINS: dict[str, Callable[[ToolSpec], Tool]] = {
    "kubectl": lambda spec: Kubectl(),
    "promql": lambda spec: Promql(spec.endpoint),
    "curl": lambda spec: Curl(spec.allowed_hosts),
}


def _spec(entry: str | ToolSpec) -> ToolSpec:
    return ToolSpec(name=entry) if isinstance(entry, str) else entry


def build(entries: list[str | ToolSpec]) -> dict[str, Tool]:
    """name -> tool; ValueError naming the entry when one cannot be built."""
    tools: dict[str, Tool] = {}
    for entry in entries:
        spec = _spec(entry)
        if not TOOL_NAME.match(spec.name):
            raise ValueError(f"tool name {spec.name!r} must be letters, digits, '_' or '-' (max 64)")
        if spec.name in tools:
            raise ValueError(f"tool {spec.name!r} is listed twice")
        if spec.command:
            if spec.name in BUILTINS:
                raise ValueError(f"tool {spec.name!r} is built in; give the command tool another name")
            try:
                tools[spec.name] = CommandTool(tool_name=spec.name, command=spec.command,
                                               description=spec.description, parameters=spec.parameters)
            except TemplateError as exc:
                raise ValueError(f"tool {spec.name}: command: {exc.message}") from None
        elif spec.name in BUILTINS:
            tools[spec.name] = BUILTINS[spec.name](spec)
        else:
            raise ValueError(f"unknown tool {spec.name!r} (built in: {', '.join(BUILTINS)}; "
                             "or give it a `command`)")
    return tools


def problems(entries: list[str | ToolSpec]) -> str | None:
    try:
        build(entries)
    except ValueError as exc:
        return str(exc)
    return None
