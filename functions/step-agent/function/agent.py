"""Running an agent step: resolve the model and tools, run the loop, shape the outcome.

The goal is a template over the run (alert, earlier steps' results). The answer becomes
the step's `result`, so later templates read `{{ .steps.<name>.result.summary }}`; the
tool calls, token usage and conversation are kept on the step for `cutman runs get`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from cutman.models.kinds import StepType

if TYPE_CHECKING:
    # The agent loop, its tools (pydantic models, httpx), the engine and the run models
    # are imported by execute(), on the first event: start() reads only the defaults.
    from cutman.agent.llm import LLM
    from cutman.core import engine
    from cutman.models.resources import Step
    from cutman.models.run import Run
    from cutman.stephost import StepSecrets

PROVIDERS = ("openai", "local")


@dataclass(frozen=True)
class Defaults:
    token_budget: int = 50_000
    tool_output_limit: int = 8 * 1024
    max_iterations: int = 10
    transcript_limit: int = 64 * 1024

    @classmethod
    def from_cfg(cls, cfg: Mapping[str, str]) -> Defaults:
        def num(key: str, default: int) -> int:
            raw = cfg.get(key)
            if not raw:
                return default
            if not raw.isdigit() or int(raw) < 1:
                raise ValueError(f"{key}={raw!r}: must be a positive whole number")
            return int(raw)

        return cls(num("CUTMAN_AGENT_TOKEN_BUDGET", cls.token_budget),
                   num("CUTMAN_TOOL_OUTPUT_LIMIT", cls.tool_output_limit),
                   num("CUTMAN_AGENT_MAX_ITERATIONS", cls.max_iterations),
                   num("CUTMAN_TRANSCRIPT_LIMIT", cls.transcript_limit))


class LLMFactory(Protocol):
    """The model a step talks to: the OpenAI-compatible endpoint of its llmConfig here;
    `cutman test` gives scripted answers instead (cutman.runtime.offline)."""

    def __call__(self, *, step: Step, endpoint: str, model: str, api_key: str | None) -> LLM: ...


def openai_chat(*, step: Step, endpoint: str, model: str, api_key: str | None) -> LLM:
    from cutman.agent.llm import OpenAIChat

    return OpenAIChat(endpoint=endpoint, model=model, api_key=api_key)


def _failed(error: str) -> engine.Outcome:
    from cutman.core import engine
    from cutman.models.run import StepPhase

    return engine.Outcome(StepPhase.FAILED, error=error)


class AgentExecutor:
    step_type = StepType.AGENT

    def __init__(self, defaults: Defaults | None = None, llm_factory: LLMFactory | None = None) -> None:
        self.defaults = defaults or Defaults()
        self.llm_factory = llm_factory or openai_chat

    def configure(self, cfg: Mapping[str, str]) -> None:
        self.defaults = Defaults.from_cfg(cfg)

    async def execute(self, *, run: Run, step: Step, secrets: StepSecrets) -> engine.Outcome:
        from cutman.agent import loop
        from cutman.agent.llm import OPENAI_ENDPOINT
        from cutman.agent.tools import registry
        from cutman.agent.tools.base import ToolContext
        from cutman.core import engine
        from cutman.core.context import build_context
        from cutman.core.templating import TemplateError, render
        from cutman.models.run import StepPhase
        from cutman.stephost import DEFAULT_STEP_TIMEOUT_MIN

        llm_cfg = run.spec.runtime.llm_config
        if llm_cfg is None or not llm_cfg.model:
            return _failed("runtime.llmConfig.model is required for agent steps")
        if llm_cfg.provider not in PROVIDERS:
            return _failed(f"runtime.llmConfig.provider {llm_cfg.provider!r} is not one of {', '.join(PROVIDERS)}")
        endpoint = llm_cfg.endpoint or (OPENAI_ENDPOINT if llm_cfg.provider == "openai" else None)
        if endpoint is None:
            return _failed("runtime.llmConfig.endpoint is required for a local provider")
        context = build_context(run)
        try:
            goal = render(step.goal or "", context)
            tools = registry.build(step.tools)
        except TemplateError as exc:
            return _failed(f"goal: {exc.message}")
        except ValueError as exc:
            return _failed(f"tools: {exc}")
        used = sum((s.usage or {}).get("total_tokens", 0) for s in run.steps if s.name != step.name)
        budget = loop.remaining_budget(run_budget=run.spec.runtime.token_budget, run_used=used,
                                       step_budget=step.token_budget or self.defaults.token_budget)
        limits = loop.Limits(
            max_iterations=step.max_iterations or self.defaults.max_iterations,
            timeout_s=(step.timeout_minutes or DEFAULT_STEP_TIMEOUT_MIN) * 60,
            token_budget=budget, tool_output_limit=self.defaults.tool_output_limit,
        )
        ctx = ToolContext(context, {**run.environment, **secrets.env}, secrets=tuple(secrets.values))
        llm = self.llm_factory(step=step, endpoint=endpoint, model=llm_cfg.model, api_key=secrets.api_key)
        try:
            res = await loop.run_agent(llm=llm, tools=tools, goal=goal, ctx=ctx, limits=limits)
        finally:
            await llm.close()
        return engine.Outcome(
            StepPhase.SUCCEEDED if res.error is None else StepPhase.FAILED,
            output=res.text, result=res.answer, error=res.error,
            tool_calls=tuple(res.tool_calls), usage=dict(res.usage),
            transcript=tuple(loop.trim_transcript(res.transcript, self.defaults.transcript_limit)),
        )
