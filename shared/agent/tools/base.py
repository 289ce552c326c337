"""What every agent tool is: a name, a description, a parameters model and `run`.

A tool validates its arguments with its pydantic model before doing anything, so a
malformed call from the model becomes an error message the model can read, never an
exception in the loop. Tools are read-only: none of them changes the cluster.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pydantic import BaseModel, ValidationError

from ...models.base import describe_errors


class ToolError(Exception):
    """A failure the model should read (bad arguments, unreachable endpoint, refusal)."""


@dataclass(frozen=True)
class ToolContext:
    """What a tool may use: the run's template context, its environment and limits."""

    template_context: dict[str, Any]
    env: dict[str, str] = field(default_factory=dict)
    timeout_s: float = 60.0
    output_limit: int = 8 * 1024
    secrets: tuple[str, ...] = ()


class Tool(ABC):
    name: ClassVar[str]
    description: ClassVar[str]

    @abstractmethod
    def params_model(self) -> type[BaseModel]: ...

    def parameters_schema(self) -> dict[str, Any]:
        return self.params_model().model_json_schema()

    def schema(self, name: str) -> dict[str, Any]:
        return {"type": "function", "function": {
            "name": name, "description": self.description, "parameters": self.parameters_schema(),
        }}

    def parse(self, arguments: dict[str, Any]) -> BaseModel:
        try:
            return self.params_model().model_validate(arguments)
        except ValidationError as exc:
            raise ToolError("invalid arguments: " + "; ".join(describe_errors(exc))) from None

    @abstractmethod
    async def run(self, params: Any, ctx: ToolContext) -> str: ...
