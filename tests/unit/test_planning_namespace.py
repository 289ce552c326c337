"""plan_namespace over many CR combinations: pure, no doubles. Every planned object is
checked against the real Knative Trigger schema (tests/fixtures/knative-schemas), and
lives in the installation namespace whatever the CRs' namespace (the namespace model)."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from cutman.core.planning import plan_namespace, status_trigger_name
from cutman.core.trigger_filter import matches
from cutman.models.resources import Sink, Source, Workflow

from tests.k8s_schema import errors, knative_schemas

NS = "team"
INSTALL = "cutman"
STATUS_TRIGGER = status_trigger_name(NS)


def plan_namespace_(**kw: Any) -> Any:
    return plan_namespace(installation=INSTALL, **kw)


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
        assert obj["metadata"]["namespace"] == INSTALL
        assert obj["metadata"]["labels"]["cutman.dev/namespace"] == NS
        assert obj["spec"]["broker"] == "default"
        assert obj["spec"]["subscriber"]["ref"]["namespace"] == INSTALL


def test_empty_namespace_owns_nothing() -> None:
    plan = plan_namespace_(namespace=NS, workflows=[], sources=[src("am", "triage")], sinks=[snk("s")])
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
    plan = plan_namespace_(
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
    plan = plan_namespace_(
        namespace=NS,
        workflows=[wf(steps=("look", "think", "maybe"), kinds=("cli", "agent", "conditional"))],
        sources=[src("am", "triage")], sinks=[],
    )
    valid(plan)
    by = {o["metadata"]["name"]: o["spec"] for o in plan.objects}
    assert by["cm-team-triage-step-look"]["subscriber"]["ref"]["name"] == "cutman-step-cli"
    assert by["cm-team-triage-step-think"]["subscriber"]["ref"]["name"] == "cutman-step-agent"
    assert by["cm-team-triage-step-maybe"]["subscriber"]["ref"]["name"] == "cutman-step-agent"
    # a 30-minute agent step: one attempt cannot outlive the Service (600 s), retries cover the lease
    assert by["cm-team-triage-step-think"]["delivery"]["timeout"] == "PT600S"
    assert by["cm-team-triage-step-think"]["delivery"]["retry"] == 11
    assert by["cm-team-triage-start-am"]["subscriber"]["ref"]["name"] == "cutman-step-cli"


def test_two_workflows_share_one_status_trigger_and_sources_pick_theirs() -> None:
    plan = plan_namespace_(
        namespace=NS,
        workflows=[wf("one"), wf("two")],
        sources=[src("a", "one"), src("b", "two"), src("c", "three")],
        sinks=[],
    )
    valid(plan)
    assert [n for n in names(plan) if n == STATUS_TRIGGER] == [STATUS_TRIGGER]
    assert {"cm-team-one-start-a", "cm-team-two-start-b"} <= names(plan)
    assert not [n for n in names(plan) if n.endswith("-c")]
    assert plan.source_problems == {f"{NS}/c": (f"workflow 'three' does not exist in namespace {NS}",)}


def test_other_namespaces_are_not_planned_here() -> None:
    plan = plan_namespace_(
        namespace=NS, workflows=[wf("mine"), wf("theirs", ns="other")],
        sources=[src("a", "theirs", ns="other")], sinks=[snk("x", ns="other")],
    )
    assert {o["metadata"]["labels"].get("cutman.dev/workflow") for o in plan.objects} == {"mine", None}


def test_status_trigger_routes_every_run_finished_to_the_reconciler() -> None:
    plan = plan_namespace_(namespace=NS, workflows=[wf()], sources=[], sinks=[])
    status = next(o for o in plan.objects if o["metadata"]["name"] == STATUS_TRIGGER)
    assert status["spec"]["subscriber"]["ref"]["name"] == "cutman-reconciler"
    assert matches(status["spec"], {"type": "dev.cutman.run.finished", "workflow": f"{NS}/x"})
    assert not matches(status["spec"], {"type": "dev.cutman.run.finished", "workflow": f"{NS}-b/x"})
    assert not matches(status["spec"], {"type": "dev.cutman.run.finished", "workflow": "other/x"})
    assert not matches(status["spec"], {"type": "dev.cutman.step.requested", "workflow": f"{NS}/x"})
    assert matches(status["spec"], {"type": "dev.cutman.sink.delivered", "workflow": f"{NS}/x"})
    assert not matches(status["spec"], {"type": "dev.cutman.sink.delivered", "workflow": "other/x"})
    assert "ownerReferences" not in status["metadata"]


def test_no_cross_namespace_owner_references() -> None:
    plan = plan_namespace_(namespace=NS, workflows=[wf(uid="u-1")], sources=[], sinks=[])
    assert all("ownerReferences" not in o["metadata"] for o in plan.objects)


def test_owner_references_only_with_a_uid_in_the_installation_namespace() -> None:
    local = plan_namespace(namespace=INSTALL, installation=INSTALL, sources=[], sinks=[],
                           workflows=[wf(ns=INSTALL)])
    cluster = plan_namespace(namespace=INSTALL, installation=INSTALL, sources=[], sinks=[],
                             workflows=[wf(ns=INSTALL, uid="u-1")])
    step = next(o for o in cluster.objects if o["metadata"]["name"] == "cm-cutman-triage-step-a")
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
    a = plan_namespace_(namespace=NS, workflows=wfs, sources=srcs, sinks=[snk("k")])
    b = plan_namespace_(namespace=NS, workflows=wfs[::-1], sources=srcs[::-1], sinks=[snk("k")])
    assert a == b
    assert len(a.keys()) == len(a.objects) == 4 * 3 + 1


def test_schedule_sources_get_ping_sources_valid_under_the_knative_schema() -> None:
    nightly = Source.model_validate({
        "apiVersion": "cutman.dev/v1alpha1", "kind": "Source",
        "metadata": {"name": "nightly", "namespace": NS, "uid": "u-2"},
        "spec": {"type": "schedule", "config": {"cron": "0 3 * * *", "timezone": "Europe/Paris"},
                 "triggerWorkflow": "triage"},
    })
    plan = plan_namespace_(namespace=NS, workflows=[wf()], sources=[nightly, src("am", "triage")], sinks=[])
    pings = [o for o in plan.objects if o["kind"] == "PingSource"]
    assert [p["metadata"]["name"] for p in pings] == ["cm-team-ping-nightly"]
    assert pings[0]["metadata"]["namespace"] == INSTALL
    assert pings[0]["spec"]["sink"]["ref"]["namespace"] == INSTALL
    schema = knative_schemas()[("sources.knative.dev/v1", "PingSource")]
    assert errors(schema, pings[0]) == []
    assert "cm-team-triage-start-nightly" in names(plan)
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
    plan = plan_namespace_(namespace=NS, workflows=[wf()], sinks=[], sources=[
        kube_src("pods", "Pod", "app=web, tier==db,canary"), kube_src("deploys", "apps/v1/Deployment")])
    watchers = {o["metadata"]["name"]: o for o in plan.objects if o["kind"] == "ApiServerSource"}
    assert set(watchers) == {"cm-team-watch-pods", "cm-team-watch-deploys"}
    schema = knative_schemas()[("sources.knative.dev/v1", "ApiServerSource")]
    for obj in watchers.values():
        assert errors(schema, obj) == [], obj["metadata"]["name"]
        assert obj["spec"]["serviceAccountName"] == "cutman-source-watcher"
        assert obj["spec"]["mode"] == "Resource"
        assert obj["metadata"]["namespace"] == INSTALL
        assert obj["spec"]["namespaceSelector"] == {"matchLabels": {"kubernetes.io/metadata.name": NS}}
        assert obj["spec"]["sink"]["ref"]["namespace"] == INSTALL
    pods = watchers["cm-team-watch-pods"]["spec"]
    assert pods["resources"] == [{"apiVersion": "v1", "kind": "Pod", "selector": {
        "matchLabels": {"app": "web", "tier": "db"},
        "matchExpressions": [{"key": "canary", "operator": "Exists"}]}}]
    assert pods["sink"]["uri"] == f"/sources/{NS}/pods"
    assert watchers["cm-team-watch-deploys"]["spec"]["resources"] == [{"apiVersion": "apps/v1", "kind": "Deployment"}]
    assert plan.source_problems == {}


def test_unusable_label_selector_is_a_source_problem_not_an_object() -> None:
    plan = plan_namespace_(namespace=NS, workflows=[wf()], sinks=[],
                          sources=[kube_src("pods", "Pod", "tier in (a,b)")])
    assert not [o for o in plan.objects if o["kind"] == "ApiServerSource"]
    assert "labelSelector term 'tier in (a'" in plan.source_problems[f"{NS}/pods"][0]


def plan_all(namespaces: list[str], *, sources: bool = True) -> list[dict[str, Any]]:
    """The union of the plans of many CR namespaces holding the same CR names."""
    out: list[dict[str, Any]] = []
    for ns in namespaces:
        out += plan_namespace(
            namespace=ns, installation=INSTALL,
            workflows=[wf(ns=ns, steps=("investigate-alert", "fix"), sinks=("console",))],
            sources=[src("am", "triage", ns=ns)] if sources else [], sinks=[snk("console", ns=ns)],
        ).objects
    return out


def test_same_names_in_many_namespaces_never_collide() -> None:
    """Namespaces chosen to collide under naive '-' joining and truncation."""
    namespaces = ["team", "team-a", "a", "a-b", "b", "punchingfist-system", "x" * 63, "x" * 62 + "y"]
    objects = plan_all(namespaces)
    schema = knative_schemas()[("eventing.knative.dev/v1", "Trigger")]
    assert len(objects) == len(namespaces) * 5
    assert len({o["metadata"]["name"] for o in objects}) == len(objects)
    for obj in objects:
        name = obj["metadata"]["name"]
        assert len(name) <= 63 and ids_ok(name), name
        assert obj["metadata"]["namespace"] == INSTALL
        assert errors(schema, obj) == [], name
    for ns in namespaces:
        mine = [o for o in objects if o["metadata"]["labels"]["cutman.dev/namespace"] == ns]
        assert len(mine) == 5
        starts = [o for o in mine if o["metadata"]["labels"]["cutman.dev/role"] == "start"]
        assert [o["spec"]["subscriber"]["uri"] for o in starts] == [f"/start/{ns}/triage"]
        assert matches(starts[0]["spec"], {"type": "dev.cutman.alert.firing", "cmsource": f"{ns}/am"})
        for other in namespaces:
            if other != ns:
                assert not matches(starts[0]["spec"], {"type": "dev.cutman.alert.firing", "cmsource": f"{other}/am"})


def ids_ok(name: str) -> bool:
    import re

    return bool(re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", name))


def test_hyphenated_parts_that_join_alike_get_distinct_names() -> None:
    a = plan_namespace(namespace="a-b", installation=INSTALL, workflows=[wf("c", ns="a-b")], sources=[], sinks=[])
    b = plan_namespace(namespace="a", installation=INSTALL, workflows=[wf("b-c", ns="a")], sources=[], sinks=[])
    assert not names(a) & names(b)
    assert all(n.startswith("cm-a-b-c-step-a-") for n in names(a) | names(b) if "-step-" in n)


def test_plain_names_stay_readable() -> None:
    plan = plan_namespace(namespace="ops", installation=INSTALL, workflows=[wf(ns="ops")],
                          sources=[src("am", "triage", ns="ops")], sinks=[])
    assert names(plan) == {"cm-ops-triage-step-a", "cm-ops-triage-start-am", "cm-ops-status"}


def test_step_and_sink_triggers_filter_on_their_own_namespace() -> None:
    objects = plan_all(["ops", "dev"])
    steps = [o for o in objects if o["metadata"]["labels"]["cutman.dev/role"] == "step"]
    for obj in steps:
        ns = obj["metadata"]["labels"]["cutman.dev/namespace"]
        assert obj["spec"]["filter"]["attributes"]["workflow"] == f"{ns}/triage"
    sinks = [o for o in objects if o["metadata"]["labels"]["cutman.dev/role"] == "sink"]
    assert {o["spec"]["subscriber"]["uri"] for o in sinks} == {"/sinks/ops/console", "/sinks/dev/console"}
    for obj in sinks:
        ns = obj["metadata"]["labels"]["cutman.dev/namespace"]
        assert matches(obj["spec"], {"type": "dev.cutman.run.finished", "workflow": f"{ns}/triage"})
        other = "dev" if ns == "ops" else "ops"
        assert not matches(obj["spec"], {"type": "dev.cutman.run.finished", "workflow": f"{other}/triage"})


def test_a_path_served_by_another_source_is_a_problem_naming_it() -> None:
    plan = plan_namespace_(namespace=NS, workflows=[wf()], sinks=[],
                           sources=[src("am", "triage"), src("mine", "triage")],
                           routes={"/am": "ops/am", "/mine": f"{NS}/mine"})
    assert plan.source_problems == {f"{NS}/am": (
        "path /am is already served by Source ops/am; this Source serves it once that one is deleted or moves",)}


def test_cluster_plan_for_two_namespaces_as_yaml_is_valid_knative() -> None:
    """The whole plan as one YAML stream (what `kubectl apply -f` would take), parsed back
    and validated against the Trigger, PingSource and ApiServerSource schemas."""
    import yaml

    objects: list[dict[str, Any]] = []
    for ns in ("ops", "punchingfist-system"):
        nightly = Source.model_validate({
            "apiVersion": "cutman.dev/v1alpha1", "kind": "Source", "metadata": {"name": "nightly", "namespace": ns},
            "spec": {"type": "schedule", "config": {"cron": "0 3 * * *"}, "triggerWorkflow": "triage"}})
        pods = Source.model_validate({
            "apiVersion": "cutman.dev/v1alpha1", "kind": "Source", "metadata": {"name": "pods", "namespace": ns},
            "spec": {"type": "kubernetes", "config": {"resource": "v1/Pod"}, "triggerWorkflow": "triage"}})
        objects += plan_namespace(
            namespace=ns, installation=INSTALL, sinks=[snk("console", ns=ns)],
            workflows=[wf(ns=ns, steps=("look", "think"), kinds=("cli", "agent"), sinks=("console",), uid="u")],
            sources=[src("am", "triage", ns=ns), nightly, pods]).objects
    text = yaml.safe_dump_all(objects, sort_keys=False)
    docs = list(yaml.safe_load_all(text))
    assert len(docs) == 2 * 9  # 3 start, 2 step, 1 sink, 1 status Trigger; a PingSource; an ApiServerSource
    schemas = knative_schemas()
    kinds = set()
    for doc in docs:
        kinds.add(doc["kind"])
        assert errors(schemas[(doc["apiVersion"], doc["kind"])], doc) == [], doc["metadata"]["name"]
        assert doc["metadata"]["namespace"] == INSTALL
        assert "ownerReferences" not in doc["metadata"]
    assert kinds == {"Trigger", "PingSource", "ApiServerSource"}
    assert len({(d["kind"], d["metadata"]["name"]) for d in docs}) == len(docs)


def test_installation_and_watched_namespaces_from_settings() -> None:
    from cutman.core.namespaces import broker_path, installation_namespace, watched_namespaces

    assert installation_namespace({}) == "cutman"
    assert installation_namespace({"CUTMAN_NAMESPACE": "ops-tools"}) == "ops-tools"
    assert broker_path("ops-tools") == "/ops-tools/default"
    with pytest.raises(ValueError, match="CUTMAN_NAMESPACE='Bad_NS' is not a namespace name"):
        installation_namespace({"CUTMAN_NAMESPACE": "Bad_NS"})
    assert watched_namespaces({}) is None
    assert watched_namespaces({"CUTMAN_NAMESPACES": ""}) is None
    assert watched_namespaces({"CUTMAN_NAMESPACES": " web, ops ,web"}) == ("ops", "web")
    with pytest.raises(ValueError, match="CUTMAN_NAMESPACES: a/b not namespace names"):
        watched_namespaces({"CUTMAN_NAMESPACES": "ops,a/b"})
