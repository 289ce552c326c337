"""step-agent: runs LLM agent steps.

The agent loop lands with the workflow-engine issue. Until then the reconciler refuses
workflows with agent steps at apply time, so this function is only reached by a run
pinned before that check existed; it fails the step with a clear reason instead of
leaving the run hanging.
"""

from __future__ import annotations

from collections.abc import Mapping

from cutman.core import engine
from cutman.models.resources import Step, StepType
from cutman.models.run import Run, StepPhase
from cutman.stepfunction import StepFunction
from cutman.stephost import StepSecrets


class NotYetAgent:
    step_type = StepType.AGENT

    def configure(self, cfg: Mapping[str, str]) -> None:
        pass

    async def execute(self, *, run: Run, step: Step, secrets: StepSecrets) -> engine.Outcome:
        return engine.Outcome(StepPhase.FAILED, error="agent steps are not available in this cutman version")


class StepAgent(StepFunction):
    component = "step-agent"


def new() -> StepAgent:
    return StepAgent(NotYetAgent())
