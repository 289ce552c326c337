"""User-defined tools: a workflow's own `command`, run like a cli step.

The model's arguments are never spliced into the command: they become the template
values `{{ .args.<name> }}`, which shellsafe turns into quoted environment variables,
exactly as alert labels in a cli step. The parameters a tool takes are declared in
`parameters` (name -> description); anything else the model sends is refused.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, create_model

from ...core.shellsafe import command_env, compile_command
from ...core.templating import TemplateError
from ...subproc import BASE_ENV, SHELL, run_capped
from .base import Tool, ToolContext, ToolError

PARAM_RE = re.compile(r"^[a-z][a-z0-9_]{0,40}$")


class CommandTool(Tool):
    name = "command"
    description = "a workflow-defined command"

    def __init__(self, *, tool_name: str, command: str, description: str | None,
                 parameters: dict[str, str]) -> None:
        for p in parameters:
            if not PARAM_RE.match(p):
                raise ValueError(f"tool {tool_name}: parameter {p!r} must be lowercase letters, digits, '_'")
        self.tool_name = tool_name
        self.compiled = compile_command(command)
        self.text = description or f"Run the workflow's {tool_name} command."
        self.parameters = parameters
        fields: dict[str, Any] = {p: (str, ...) for p in parameters}
        self._model = create_model(
            f"{tool_name}_params", __config__=ConfigDict(extra="forbid"), **fields,
        )

    def params_model(self) -> type[BaseModel]:
        return self._model  # type: ignore[no-any-return]

    def parameters_schema(self) -> dict[str, Any]:
        return {"type": "object", "additionalProperties": False, "required": list(self.parameters),
                "properties": {p: {"type": "string", "description": d} for p, d in self.parameters.items()}}

    def schema(self, name: str) -> dict[str, Any]:
        out = super().schema(name)
        out["function"]["description"] = self.text
        return out

    async def run(self, params: Any, ctx: ToolContext) -> str:
        context = {**ctx.template_context, "args": params.model_dump()}
        try:
            extra = command_env(self.compiled, context)
        except TemplateError as exc:
            raise ToolError(f"template: {exc.message}") from None
        env = {**BASE_ENV, **ctx.env, **extra}
        res = await run_capped([SHELL, "-c", self.compiled.script], env=env,
                               timeout_s=ctx.timeout_s, cap=ctx.output_limit)
        if res.start_error or res.timed_out:
            raise ToolError(res.start_error or f"{self.tool_name} timed out")
        if res.exit_code != 0:
            raise ToolError(f"{self.tool_name} exited {res.exit_code}: {res.stderr.strip()[-500:]}\n{res.stdout}")
        return res.stdout + (f"\n[stderr]\n{res.stderr}" if res.stderr.strip() else "")
