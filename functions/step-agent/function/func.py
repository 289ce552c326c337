"""step-agent: runs LLM agent steps (an OpenAI-compatible model and read-only tools)."""

from __future__ import annotations

from cutman.stepfunction import StepFunction

from .agent import AgentExecutor


class StepAgent(StepFunction):
    component = "step-agent"


def new() -> StepAgent:
    return StepAgent(AgentExecutor())
