"""The reconciler's apply-time checks of agent steps (llmConfig, goal, tools)."""

from __future__ import annotations

from typing import Any

import pytest
from cutman.errors import Invalid
from cutman.models.resources import Workflow
from cutman.runtime.loader import submodule

checks = submodule("reconciler", "checks")


def workflow(step: dict[str, Any], llm: dict[str, Any] | None = None) -> Workflow:
    runtime = {"llmConfig": llm} if llm is not None else {}
    return Workflow.model_validate({"apiVersion": "cutman.dev/v1alpha1", "kind": "Workflow",
                                    "metadata": {"name": "wf"}, "spec": {"runtime": runtime, "steps": [step]}})


LOCAL = {"provider": "local", "endpoint": "http://llm:8000/v1", "model": "m"}
AGENT = {"name": "a", "type": "agent", "goal": "why {{ .alert.alertname }}", "tools": ["kubectl", "promql"]}


def test_valid_agent_workflow_is_accepted() -> None:
    checks.check_resource(workflow(AGENT, LOCAL))
    checks.check_resource(workflow({"name": "c", "type": "conditional", "condition": "{{ .x }}", "agent": AGENT},
                                   {"provider": "openai", "model": "gpt-4o-mini", "apiKeySecret": "llm"}))


@pytest.mark.parametrize(("step", "llm", "field", "message"), [
    (AGENT, None, "spec.runtime.llmConfig.model", "agent steps need spec.runtime.llmConfig.model"),
    (AGENT, {**LOCAL, "provider": "bedrock"}, "spec.runtime.llmConfig.provider", "'bedrock' is not openai or local"),
    (AGENT, {"provider": "local", "model": "m"}, "spec.runtime.llmConfig.endpoint", "required for the local provider"),
    ({**AGENT, "goal": "{{ .x"}, LOCAL, None, "goal"),
    ({**AGENT, "tools": ["kubctl"]}, LOCAL, "spec.steps[0].tools", "unknown tool 'kubctl'"),
    ({**AGENT, "tools": [{"name": "t", "command": "echo {{ .args.x"}]}, LOCAL, "spec.steps[0].tools", "command:"),
    ({"name": "c", "type": "conditional", "condition": "true", "agent": {**AGENT, "tools": ["nope"]}}, LOCAL,
     "spec.steps[0].tools", "unknown tool 'nope'"),
])
def test_bad_agent_steps_are_refused_naming_the_field(step: dict[str, Any], llm: dict[str, Any] | None,
                                                      field: str | None, message: str) -> None:
    with pytest.raises(Invalid) as exc:
        checks.check_resource(workflow(step, llm))
    assert message in exc.value.message
    if field:
        assert exc.value.field == field
