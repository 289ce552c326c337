"""Approval-gated steps, and only they, are routed to the writer Services when enabled."""

from __future__ import annotations

from cutman.core.planning import plan_namespace
from cutman.core.writer_routing import route_approved_steps, writers_enabled
from cutman.models.resources import Workflow


def workflow() -> Workflow:
    return Workflow.model_validate({
        "apiVersion": "cutman.dev/v1alpha1", "kind": "Workflow", "metadata": {"name": "wf", "namespace": "team"},
        "spec": {"steps": [
            {"name": "look", "type": "cli", "command": "kubectl get pods"},
            {"name": "fix", "type": "cli", "command": "kubectl rollout restart deploy/web", "approvalRequired": True},
            {"name": "think", "type": "agent", "goal": "why", "approvalRequired": True},
        ]},
    })


def subscribers(objects: list[dict]) -> dict[str, str]:  # type: ignore[type-arg]
    return {o["metadata"]["name"]: o["spec"]["subscriber"]["ref"]["name"] for o in objects if o["kind"] == "Trigger"
            and o["metadata"]["labels"].get("cutman.dev/role") == "step"}


def test_only_gated_steps_move_to_the_writers() -> None:
    wf = workflow()
    plan = plan_namespace(namespace="team", installation="cutman", workflows=[wf], sources=[], sinks=[])
    before = subscribers(list(plan.objects))
    after = subscribers(route_approved_steps(plan.objects, [wf]))
    assert before == {"cm-team-wf-step-look": "cutman-step-cli", "cm-team-wf-step-fix": "cutman-step-cli",
                      "cm-team-wf-step-think": "cutman-step-agent"}
    assert after == {"cm-team-wf-step-look": "cutman-step-cli", "cm-team-wf-step-fix": "cutman-step-cli-writer",
                     "cm-team-wf-step-think": "cutman-step-agent-writer"}
    assert subscribers(list(plan.objects)) == before, "the plan itself is not modified"


def test_the_opt_in_is_explicit() -> None:
    assert not writers_enabled({}) and not writers_enabled({"CUTMAN_STEP_WRITERS": "no"})
    assert writers_enabled({"CUTMAN_STEP_WRITERS": "true"})
