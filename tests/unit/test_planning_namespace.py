"""plan_namespace over many CR combinations: pure, no doubles. Every planned object is
checked against the real Knative Trigger schema (tests/fixtures/knative-schemas)."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from cutman.core.planning import STATUS_TRIGGER, plan_namespace
from cutman.core.trigger_filter import matches
from cutman.models.resources import Sink, Source, Workflow

from tests.k8s_schema import errors, knative_schemas

NS = "team"


def wf(name: str = "triage", *, ns: str = NS, steps: tuple[str, ...] = ("a",), kinds: tuple[str, ...] = (),
       sinks: tuple[str, ...] = (), uid: str | None = None) -> Workflow:
    shapes = {
        "cli": lambda n: {"name": n, "type": "cli", "command": "true"},
        "agent": lambda n: {"name": n, "type": "agent", "goal": "why", "timeoutMinutes": 30},
        "conditional": lambda n: {"name": n, "type": "conditional", "condition": "{{ true }}",
                                  "agent": {"name": "inner", "type": "agent", "goal": "g"}},
    }
    kinds = kinds or ("cli",) * len(steps)
    meta: dict[str, Any] = {"name": name, "namespace": ns}
    if uid:
        meta["uid"] = uid
    return Workflow.model_validate({
        "apiVersion": "cutman.dev/v1alpha1", "kind": "Workflow", "metadata": meta,
        "spec": {"steps": [shapes[k](s) for s, k in zip(steps, kinds, strict=True)], "sinks": list(sinks)},
    })


def src(name: str, workflow: str, ns: str = NS) -> Source:
    return Source.model_validate({
        "apiVersion": "cutman.dev/v1alpha1", "kind": "Source", "metadata": {"name": name, "namespace": ns},
        "spec": {"type": "webhook", "config": {"path": f"/{name}"}, "triggerWorkflow": workflow},
    })


def snk(name: str, ns: str = NS) -> Sink:
    return Sink.model_validate({
        "apiVersion": "cutman.dev/v1alpha1", "kind": "Sink", "metadata": {"name": name, "namespace": ns},
        "spec": {"type": "stdout"},
    })


def names(plan: Any) -> set[str]:
    return {o["metadata"]["name"] for o in plan.objects}


def valid(plan: Any) -> None:
    schema = knative_schemas()[("eventing.knative.dev/v1", "Trigger")]
    for obj in plan.objects:
        assert obj["apiVersion"] == "eventing.knative.dev/v1" and obj["kind"] == "Trigger"
        assert errors(schema, obj) == [], obj["metadata"]["name"]
        assert obj["metadata"]["namespace"] == NS


def test_empty_namespace_owns_nothing() -> None:
    plan = plan_namespace(namespace=NS, workflows=[], sources=[src("am", "triage")], sinks=[snk("s")])
    assert plan.objects == ()
    assert plan.source_problems == {f"{NS}/am": (f"workflow 'triage' does not exist in namespace {NS}",)}


@pytest.mark.parametrize(
    ("n_steps", "n_sources", "n_sinks", "missing_sinks"),
    list(itertools.product([1, 3], [0, 1, 2], [0, 2], [0, 1])),
)
def test_combinations_plan_one_trigger_per_reference(
    n_steps: int, n_sources: int, n_sinks: int, missing_sinks: int
) -> None:
    steps = tuple(f"s{i}" for i in range(n_steps))
    sink_names = tuple(f"k{i}" for i in range(n_sinks))
    ghosts = tuple(f"ghost{i}" for i in range(missing_sinks))
    plan = plan_namespace(
        namespace=NS,
        workflows=[wf(steps=steps, sinks=sink_names + ghosts)],
        sources=[src(f"am{i}", "triage") for i in range(n_sources)],
        sinks=[snk(n) for n in sink_names],
    )
    valid(plan)
    assert len(plan.objects) == n_steps + n_sources + n_sinks + missing_sinks + 1
    assert STATUS_TRIGGER in names(plan)
    problems = plan.workflow_problems.get(f"{NS}/triage", ())
    assert len(problems) == missing_sinks
    assert plan.source_problems == {}


def test_step_kinds_route_to_their_functions_and_delivery_timeouts() -> None:
    plan = plan_namespace(
        namespace=NS,
        workflows=[wf(steps=("look", "think", "maybe"), kinds=("cli", "agent", "conditional"))],
        sources=[src("am", "triage")], sinks=[],
    )
    valid(plan)
    by = {o["metadata"]["name"]: o["spec"] for o in plan.objects}
    assert by["cm-triage-step-look"]["subscriber"]["ref"]["name"] == "cutman-step-cli"
    assert by["cm-triage-step-think"]["subscriber"]["ref"]["name"] == "cutman-step-agent"
    assert by["cm-triage-step-maybe"]["subscriber"]["ref"]["name"] == "cutman-step-agent"
    assert by["cm-triage-step-think"]["delivery"]["timeout"] == "PT1830S"
    assert by["cm-triage-start-am"]["subscriber"]["ref"]["name"] == "cutman-step-cli"


def test_two_workflows_share_one_status_trigger_and_sources_pick_theirs() -> None:
    plan = plan_namespace(
        namespace=NS,
        workflows=[wf("one"), wf("two")],
        sources=[src("a", "one"), src("b", "two"), src("c", "three")],
        sinks=[],
    )
    valid(plan)
    assert [n for n in names(plan) if n == STATUS_TRIGGER] == [STATUS_TRIGGER]
    assert {"cm-one-start-a", "cm-two-start-b"} <= names(plan)
    assert not [n for n in names(plan) if n.endswith("-c")]
    assert plan.source_problems == {f"{NS}/c": (f"workflow 'three' does not exist in namespace {NS}",)}


def test_other_namespaces_are_not_planned_here() -> None:
    plan = plan_namespace(
        namespace=NS, workflows=[wf("mine"), wf("theirs", ns="other")],
        sources=[src("a", "theirs", ns="other")], sinks=[snk("x", ns="other")],
    )
    assert {o["metadata"]["labels"]["cutman.dev/workflow"] for o in plan.objects} == {"mine", ""}


def test_status_trigger_routes_every_run_finished_to_the_reconciler() -> None:
    plan = plan_namespace(namespace=NS, workflows=[wf()], sources=[], sinks=[])
    status = next(o for o in plan.objects if o["metadata"]["name"] == STATUS_TRIGGER)
    assert status["spec"]["subscriber"]["ref"]["name"] == "cutman-reconciler"
    assert matches(status["spec"], {"type": "dev.cutman.run.finished", "workflow": f"{NS}/x"})
    assert not matches(status["spec"], {"type": "dev.cutman.step.requested"})
    assert "ownerReferences" not in status["metadata"]


def test_owner_references_only_with_a_uid() -> None:
    local = plan_namespace(namespace=NS, workflows=[wf()], sources=[], sinks=[])
    cluster = plan_namespace(namespace=NS, workflows=[wf(uid="u-1")], sources=[], sinks=[])
    step = next(o for o in cluster.objects if o["metadata"]["name"] == "cm-triage-step-a")
    assert step["metadata"]["ownerReferences"] == [{
        "apiVersion": "cutman.dev/v1alpha1", "kind": "Workflow", "name": "triage", "uid": "u-1",
        "controller": True, "blockOwnerDeletion": False,
    }]
    strip = [{**o, "metadata": {k: v for k, v in o["metadata"].items() if k != "ownerReferences"}}
             for o in cluster.objects]
    assert tuple(strip) == local.objects


def test_plan_is_independent_of_input_order() -> None:
    wfs = [wf(f"w{i}", sinks=("k",)) for i in range(4)]
    srcs = [src(f"s{i}", f"w{i}") for i in range(4)]
    a = plan_namespace(namespace=NS, workflows=wfs, sources=srcs, sinks=[snk("k")])
    b = plan_namespace(namespace=NS, workflows=wfs[::-1], sources=srcs[::-1], sinks=[snk("k")])
    assert a == b
    assert len(a.keys()) == len(a.objects) == 4 * 3 + 1


def test_schedule_sources_get_ping_sources_valid_under_the_knative_schema() -> None:
    nightly = Source.model_validate({
        "apiVersion": "cutman.dev/v1alpha1", "kind": "Source",
        "metadata": {"name": "nightly", "namespace": NS, "uid": "u-2"},
        "spec": {"type": "schedule", "config": {"cron": "0 3 * * *", "timezone": "Europe/Paris"},
                 "triggerWorkflow": "triage"},
    })
    plan = plan_namespace(namespace=NS, workflows=[wf()], sources=[nightly, src("am", "triage")], sinks=[])
    pings = [o for o in plan.objects if o["kind"] == "PingSource"]
    assert [p["metadata"]["name"] for p in pings] == ["cm-ping-nightly"]
    schema = knative_schemas()[("sources.knative.dev/v1", "PingSource")]
    assert errors(schema, pings[0]) == []
    assert "cm-triage-start-nightly" in names(plan)
    valid_triggers = [o for o in plan.objects if o["kind"] == "Trigger"]
    trigger_schema = knative_schemas()[("eventing.knative.dev/v1", "Trigger")]
    assert all(errors(trigger_schema, t) == [] for t in valid_triggers)


def kube_src(name: str, resource: str, selector: str | None = None) -> Source:
    config: dict[str, Any] = {"resource": resource}
    if selector is not None:
        config["labelSelector"] = selector
    return Source.model_validate({
        "apiVersion": "cutman.dev/v1alpha1", "kind": "Source",
        "metadata": {"name": name, "namespace": NS, "uid": "u-3"},
        "spec": {"type": "kubernetes", "config": config, "triggerWorkflow": "triage"},
    })


def test_kubernetes_sources_get_api_server_sources_valid_under_the_knative_schema() -> None:
    plan = plan_namespace(namespace=NS, workflows=[wf()], sinks=[], sources=[
        kube_src("pods", "Pod", "app=web, tier==db,canary"), kube_src("deploys", "apps/v1/Deployment")])
    watchers = {o["metadata"]["name"]: o for o in plan.objects if o["kind"] == "ApiServerSource"}
    assert set(watchers) == {"cm-watch-pods", "cm-watch-deploys"}
    schema = knative_schemas()[("sources.knative.dev/v1", "ApiServerSource")]
    for obj in watchers.values():
        assert errors(schema, obj) == [], obj["metadata"]["name"]
        assert obj["spec"]["serviceAccountName"] == "cutman-source-watcher"
        assert obj["spec"]["mode"] == "Resource"
        assert obj["metadata"]["ownerReferences"][0]["kind"] == "Source"
    pods = watchers["cm-watch-pods"]["spec"]
    assert pods["resources"] == [{"apiVersion": "v1", "kind": "Pod", "selector": {
        "matchLabels": {"app": "web", "tier": "db"},
        "matchExpressions": [{"key": "canary", "operator": "Exists"}]}}]
    assert pods["sink"]["uri"] == f"/sources/{NS}/pods"
    assert watchers["cm-watch-deploys"]["spec"]["resources"] == [{"apiVersion": "apps/v1", "kind": "Deployment"}]
    assert plan.source_problems == {}


def test_unusable_label_selector_is_a_source_problem_not_an_object() -> None:
    plan = plan_namespace(namespace=NS, workflows=[wf()], sinks=[],
                          sources=[kube_src("pods", "Pod", "tier in (a,b)")])
    assert not [o for o in plan.objects if o["kind"] == "ApiServerSource"]
    assert "labelSelector term 'tier in (a'" in plan.source_problems[f"{NS}/pods"][0]
