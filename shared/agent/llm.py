"""The LLM port and its adapter for any OpenAI-compatible chat completions endpoint.

The loop talks to `LLM`; `OpenAIChat` speaks the wire protocol through the `openai`
client (OpenAI itself, vLLM, Ollama, LiteLLM, ...). Library errors are wrapped into
`LLMError` here so the loop never sees the client's exception types.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Protocol

OPENAI_ENDPOINT = "https://api.openai.com/v1"


class LLMError(Exception):
    pass


@dataclass(frozen=True)
class ToolCall:
    id: str
    name: str
    arguments: str


@dataclass(frozen=True)
class Reply:
    content: str | None
    tool_calls: tuple[ToolCall, ...]
    prompt_tokens: int
    completion_tokens: int

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def as_message(self) -> dict[str, Any]:
        """The assistant message to append to the conversation."""
        msg: dict[str, Any] = {"role": "assistant", "content": self.content}
        if self.tool_calls:
            msg["tool_calls"] = [
                {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
                for c in self.tool_calls
            ]
        return msg


class LLM(Protocol):
    async def chat(self, *, messages: list[dict[str, Any]], tools: list[dict[str, Any]],
                   force_answer: bool, max_tokens: int | None, timeout_s: float) -> Reply: ...

    async def close(self) -> None: ...


class OpenAIChat:
    def __init__(self, *, endpoint: str, model: str, api_key: str | None) -> None:
        import openai  # deferred: half a second of imports, paid only where a model is called

        self.model = model
        self._client = openai.AsyncOpenAI(base_url=endpoint, api_key=api_key or "unused", max_retries=1)

    async def chat(self, *, messages: list[dict[str, Any]], tools: list[dict[str, Any]],
                   force_answer: bool, max_tokens: int | None, timeout_s: float) -> Reply:
        kwargs: dict[str, Any] = {}
        if tools:
            kwargs.update(tools=tools, tool_choice="none" if force_answer else "auto")
        if max_tokens is not None:
            kwargs["max_tokens"] = max_tokens
        import openai

        try:
            resp = await self._client.chat.completions.create(
                model=self.model, messages=messages, timeout=timeout_s, **kwargs,  # type: ignore[arg-type]
            )
        except openai.APIStatusError as exc:
            raise LLMError(f"model endpoint answered {exc.status_code}: {_brief(exc.message)}") from None
        except openai.APIError as exc:
            raise LLMError(f"model endpoint failed: {type(exc).__name__}: {_brief(str(exc))}") from None
        if not resp.choices:
            raise LLMError("model endpoint returned no choices")
        msg = resp.choices[0].message
        calls: list[ToolCall] = []
        for call in msg.tool_calls or []:
            fn = getattr(call, "function", None)
            if fn is not None:
                calls.append(ToolCall(call.id, str(fn.name), str(fn.arguments or "")))
        usage = resp.usage
        return Reply(msg.content, tuple(calls), usage.prompt_tokens if usage else 0,
                     usage.completion_tokens if usage else 0)

    async def close(self) -> None:
        await self._client.close()


def _brief(text: str) -> str:
    text = " ".join(text.split())
    return text[:300]


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), default=str)
