"""Trigger planning over CR combinations: pure, no doubles."""

from __future__ import annotations

from typing import Any

import pytest
from cutman.core.ids import dns_name, object_name
from cutman.core.planning import plan_triggers
from cutman.core.trigger_filter import matches
from cutman.models.resources import Sink, Source, Workflow


def wf(name: str = "triage", ns: str = "default", steps: list[dict[str, Any]] | None = None,
       sinks: list[str] | None = None) -> Workflow:
    return Workflow.model_validate({
        "apiVersion": "cutman.dev/v1alpha1", "kind": "Workflow", "metadata": {"name": name, "namespace": ns},
        "spec": {"steps": steps or [{"name": "a", "type": "cli", "command": "true"},
                                    {"name": "b", "type": "cli", "command": "true"}],
                 "sinks": sinks or []},
    })


def src(name: str = "am", ns: str = "default", workflow: str = "triage") -> Source:
    return Source.model_validate({
        "apiVersion": "cutman.dev/v1alpha1", "kind": "Source", "metadata": {"name": name, "namespace": ns},
        "spec": {"type": "webhook", "config": {"path": f"/{name}"}, "triggerWorkflow": workflow},
    })


def sink(name: str = "console", ns: str = "default") -> Sink:
    return Sink.model_validate({
        "apiVersion": "cutman.dev/v1alpha1", "kind": "Sink", "metadata": {"name": name, "namespace": ns},
        "spec": {"type": "stdout"},
    })


def by_name(plan: Any) -> dict[str, dict[str, Any]]:
    return {t["metadata"]["name"]: t for t in plan.triggers}


def test_start_step_and_sink_triggers() -> None:
    plan = plan_triggers(installation="cutman", workflows=[wf(sinks=["console"])], sources=[src()], sinks=[sink()])
    t = by_name(plan)
    assert set(t) == {"cm-default-triage-start-am", "cm-default-triage-step-a", "cm-default-triage-step-b", "cm-default-triage-sink-console"}
    start = t["cm-default-triage-start-am"]["spec"]
    assert start["subscriber"] == {"ref": {"apiVersion": "serving.knative.dev/v1", "kind": "Service",
                                           "name": "cutman-step-cli", "namespace": "cutman"},
                                   "uri": "/start/default/triage"}
    assert t["cm-default-triage-step-b"]["spec"]["filter"]["attributes"] == {
        "type": "dev.cutman.step.requested", "workflow": "default/triage", "step": "b"}
    assert t["cm-default-triage-sink-console"]["spec"]["subscriber"]["uri"] == "/sinks/default/console"
    sink_spec = t["cm-default-triage-sink-console"]["spec"]
    assert matches(sink_spec, {"type": "dev.cutman.run.finished", "workflow": "default/triage"})
    assert matches(sink_spec, {"type": "dev.cutman.run.awaitingapproval", "workflow": "default/triage"})
    assert not matches(sink_spec, {"type": "dev.cutman.run.finished", "workflow": "default/other"})
    assert not matches(sink_spec, {"type": "dev.cutman.step.requested", "workflow": "default/triage"})
    assert plan.problems == {}
    for trig in plan.triggers:
        assert trig["metadata"]["namespace"] == "cutman"
        assert trig["metadata"]["labels"]["cutman.dev/namespace"] == "default"
        assert trig["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "cutman"
        assert trig["metadata"]["labels"]["cutman.dev/workflow"] == "triage"


def test_start_trigger_filters_select_only_its_source_and_start_types() -> None:
    start = by_name(plan_triggers(installation="cutman", workflows=[wf()], sources=[src()], sinks=[]))["cm-default-triage-start-am"]["spec"]
    firing = {"type": "dev.cutman.alert.firing", "cmsource": "default/am"}
    assert matches(start, firing)
    assert matches(start, {**firing, "type": "dev.cutman.source.event"})
    assert not matches(start, {**firing, "type": "dev.cutman.alert.resolved"})
    assert not matches(start, {**firing, "cmsource": "default/other"})


def test_sources_of_other_workflows_or_namespaces_are_ignored() -> None:
    plan = plan_triggers(installation="cutman", workflows=[wf()], sources=[src("x", workflow="other"), src("y", ns="prod")], sinks=[])
    assert not [n for n in plan.names() if "start" in n]


def test_missing_sink_is_a_problem_but_trigger_is_planned() -> None:
    plan = plan_triggers(installation="cutman", workflows=[wf(sinks=["nope"])], sources=[], sinks=[sink("console")])
    assert plan.problems == {"default/triage": ("sink 'nope' does not exist in namespace default",)}
    assert "cm-default-triage-sink-nope" in plan.names()


def test_agent_and_conditional_steps_go_to_step_agent() -> None:
    steps = [{"name": "a", "type": "agent", "goal": "g"},
             {"name": "c", "type": "conditional", "condition": "x",
              "agent": {"name": "n", "type": "cli", "command": "true"}}]
    t = by_name(plan_triggers(installation="cutman", workflows=[wf(steps=steps)], sources=[src()], sinks=[]))
    assert t["cm-default-triage-start-am"]["spec"]["subscriber"]["ref"]["name"] == "cutman-step-agent"
    assert t["cm-default-triage-step-a"]["spec"]["subscriber"]["ref"]["name"] == "cutman-step-agent"
    assert t["cm-default-triage-step-c"]["spec"]["subscriber"]["ref"]["name"] == "cutman-step-cli"


def test_step_delivery_timeout_follows_step_timeout() -> None:
    steps = [{"name": "a", "type": "cli", "command": "true", "timeoutMinutes": 2}]
    t = by_name(plan_triggers(installation="cutman", workflows=[wf(steps=steps)], sources=[], sinks=[]))
    assert t["cm-default-triage-step-a"]["spec"]["delivery"]["timeout"] == "PT150S"


@pytest.mark.parametrize("minutes", [0.1, 1, 2, 9.5, 10, 30, None])
def test_step_retries_outlast_the_lease_and_attempts_fit_the_service(minutes: float | None) -> None:
    """A 409 (step still running) is retried until the lease (timeout + 60 s) is over."""
    from cutman.core.planning import STEP_LEASE_MARGIN_S, STEP_SERVICE_TIMEOUT_S

    steps = [{"name": "a", "type": "cli", "command": "true", **({"timeoutMinutes": minutes} if minutes else {})}]
    d = by_name(plan_triggers(installation="cutman", workflows=[wf(steps=steps)], sources=[],
                              sinks=[]))["cm-default-triage-step-a"]["spec"]["delivery"]
    step_s = (minutes or 10) * 60
    assert d["backoffPolicy"] == "exponential" and d["backoffDelay"] == "PT1S"
    assert 2 ** d["retry"] - 1 >= step_s + STEP_LEASE_MARGIN_S, d
    assert 2 ** (d["retry"] - 1) - 1 < max(step_s + STEP_LEASE_MARGIN_S, 31), "no more retries than needed"
    assert int(d["timeout"][2:-1]) <= STEP_SERVICE_TIMEOUT_S


def test_names_are_dns_1123_and_bounded() -> None:
    long = "w" * 60
    steps = [{"name": "Step_With_Underscore", "type": "cli", "command": "true"}]
    plan = plan_triggers(installation="cutman", workflows=[wf(name=long, steps=steps)], sources=[src(workflow=long)], sinks=[])
    for name in plan.names():
        assert len(name) <= 63
        assert dns_name(name) == name
    assert object_name("cm", "a", "step", "X_y") != object_name("cm", "a", "step", "x-y")
    assert object_name("cm", "a-b", "c") != object_name("cm", "a", "b-c")
    assert object_name("cm", "a", "b") == "cm-a-b"


def test_plan_is_deterministic_and_complete_for_many_workflows() -> None:
    wfs = [wf(name=f"w{i}", sinks=["console"]) for i in range(5)]
    srcs = [src(f"s{i}", workflow=f"w{i}") for i in range(5)]
    a = plan_triggers(installation="cutman", workflows=wfs, sources=srcs, sinks=[sink()])
    b = plan_triggers(installation="cutman", workflows=list(reversed(wfs)), sources=list(reversed(srcs)), sinks=[sink()])
    assert a.triggers == b.triggers
    assert len(a.triggers) == 5 * 4
