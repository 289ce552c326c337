"""The agent loop: ask the model, run the tools it calls, until it answers.

Bounded in every direction: `max_iterations` model calls (the last one is told to
answer and offered no tools), a wall-clock deadline, a token budget, and tool output
cut to a limit before it enters the conversation. A tool failure or a malformed call is
reported to the model as the tool's result; only the model endpoint failing, the budget
or the deadline running out, or no valid answer on the last turn fail the step.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..core import jsonlimits
from ..core.masking import mask_text
from ..errors import BadRequest, PayloadTooLarge
from ..subproc import cut_marker
from .answer import SCHEMA_HINT, AnswerError, parse_answer
from .llm import LLM, LLMError, Reply, ToolCall
from .tools.base import Tool, ToolContext, ToolError

SYSTEM = (
    "You are cutman, an SRE assistant investigating an alert. Use the tools to gather "
    "evidence (they are read-only), then answer. " + SCHEMA_HINT
)
LAST_TURN = "This is your last turn: no more tools. " + SCHEMA_HINT
MAX_TOOL_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Limits:
    max_iterations: int = 10
    timeout_s: float = 600.0
    token_budget: int = 50_000
    tool_output_limit: int = 8 * 1024
    max_answer_tokens: int = 4096


@dataclass
class AgentResult:
    answer: dict[str, Any] | None = None
    text: str = ""
    error: str | None = None
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    usage: dict[str, int] = field(default_factory=lambda: {"prompt_tokens": 0, "completion_tokens": 0,
                                                           "total_tokens": 0, "calls": 0})
    transcript: list[dict[str, Any]] = field(default_factory=list)

    def count(self, reply: Reply) -> None:
        self.usage["prompt_tokens"] += reply.prompt_tokens
        self.usage["completion_tokens"] += reply.completion_tokens
        self.usage["total_tokens"] += reply.total_tokens
        self.usage["calls"] += 1


MARKER_ROOM = len(cut_marker(10**15).encode())


def cap(text: str, limit: int) -> str:
    """Cut to `limit` bytes with a marker; a tool that already cut (and marked) is kept."""
    data = text.encode()
    if len(data) <= limit or (len(data) <= limit + MARKER_ROOM and text.endswith(" cut by cutman]")):
        return text
    return data[:limit].decode("utf-8", errors="ignore") + cut_marker(len(data) - limit)


def trim_transcript(messages: list[dict[str, Any]], limit: int, *, keep: int = 200) -> list[dict[str, Any]]:
    """The conversation as stored on the run: oldest long contents shortened until the
    whole fits in `limit` bytes of JSON (the system prompt and the goal are kept)."""
    out = [dict(m) for m in messages]
    size = len(json.dumps(out))
    for msg in out[2:]:
        if size <= limit:
            break
        content = msg.get("content")
        if isinstance(content, str) and len(content) > keep:
            cut = content[:keep] + f"\n[... {len(content) - keep} characters not stored]"
            size -= len(json.dumps(content)) - len(json.dumps(cut))
            msg["content"] = cut
    return out


def remaining_budget(*, run_budget: int | None, run_used: int, step_budget: int) -> int:
    """Tokens this step may spend: its own budget, within what the run has left."""
    if run_budget is None:
        return step_budget
    return max(0, min(step_budget, run_budget - run_used))


async def run_agent(*, llm: LLM, tools: dict[str, Tool], goal: str, ctx: ToolContext, limits: Limits,
                    clock: Callable[[], float] = time.monotonic) -> AgentResult:
    out = AgentResult()
    out.transcript = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": goal}]
    schemas = [tool.schema(name) for name, tool in tools.items()]
    deadline = clock() + limits.timeout_s
    for turn in range(1, limits.max_iterations + 1):
        left = limits.token_budget - out.usage["total_tokens"]
        if left <= 0:
            out.error = (f"token budget of {limits.token_budget} exhausted "
                         f"({out.usage['total_tokens']} used) before an answer")
            return out
        if clock() >= deadline:
            out.error = f"timed out after {limits.timeout_s / 60:g} minutes without an answer"
            return out
        last = turn == limits.max_iterations
        if last:
            out.transcript.append({"role": "user", "content": LAST_TURN})
        try:
            reply = await llm.chat(messages=out.transcript, tools=schemas, force_answer=last,
                                   max_tokens=min(left, limits.max_answer_tokens),
                                   timeout_s=max(1.0, deadline - clock()))
        except LLMError as exc:
            out.error = str(exc)
            return out
        out.count(reply)
        out.transcript.append(reply.as_message())
        if reply.tool_calls and not last:
            for call in reply.tool_calls:
                result = await _call(call, tools, ctx, limits, max(1.0, deadline - clock()), out)
                out.transcript.append({"role": "tool", "tool_call_id": call.id, "content": result})
            continue
        try:
            out.answer = parse_answer(reply.content)
        except AnswerError as exc:
            if last:
                out.error = f"no valid answer by the last iteration: {exc}"
                out.text = reply.content or ""
                return out
            out.transcript.append({"role": "user", "content": f"Your answer was not accepted: {exc}. {SCHEMA_HINT}"})
            continue
        out.text = reply.content or ""
        return out
    raise AssertionError("unreachable: the last iteration always returns")


async def _call(call: ToolCall, tools: dict[str, Tool], ctx: ToolContext, limits: Limits,
                time_left: float, out: AgentResult) -> str:
    started = time.monotonic()
    record: dict[str, Any] = {"name": call.name, "arguments": call.arguments}
    try:
        tool = tools.get(call.name)
        if tool is None:
            raise ToolError(f"no tool named {call.name!r}; available: {', '.join(tools) or 'none'}")
        try:
            args = jsonlimits.loads(call.arguments or "{}", what="arguments")
        except (jsonlimits.TooDeep, PayloadTooLarge) as exc:
            raise ToolError(exc.message) from None
        except BadRequest:
            raise ToolError("arguments are not valid JSON") from None
        if not isinstance(args, dict):
            raise ToolError("arguments must be a JSON object")
        record["arguments"] = args
        params = tool.parse(args)
        scoped = ToolContext(ctx.template_context, ctx.env, min(time_left, MAX_TOOL_TIMEOUT_S),
                             limits.tool_output_limit, ctx.secrets)
        text = cap(mask_text(await tool.run(params, scoped), ctx.secrets), limits.tool_output_limit)
        record.update(ok=True)
    except ToolError as exc:
        text = cap(mask_text(f"error: {exc}", ctx.secrets), limits.tool_output_limit)
        record.update(ok=False, error=str(exc)[:500])
    record.update(durationSeconds=round(time.monotonic() - started, 3), outputBytes=len(text.encode()))
    out.tool_calls.append(record)
    return text
