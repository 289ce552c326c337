"""Trigger planning: the Knative Triggers a namespace's CRs need (ARCHITECTURE 4).

`plan_triggers` is pure: it takes the Sources, Workflows and Sinks of one CR namespace
and returns the complete desired set; `plan_namespace` adds what the control plane itself
needs (the reconciler's `run.finished` subscription that keeps Workflow status current).
Every object is placed in the *installation* namespace (cutman.core.namespaces), beside
the Broker and the Services it subscribes, and labelled with the CR namespace it serves
(`cutman.dev/namespace`); its name includes that namespace, so the same names in two
namespaces never collide. The reconciler diffs the set against what exists (found by
those labels) in a cluster or in local mode alike, so `cutman dev` and a cluster build
identical Triggers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..models.events import EventType, Ext
from ..models.resources import API_VERSION, Sink, SinkType, Source, StepType, Workflow
from . import labels
from .ids import object_name
from .namespaces import BROKER

MANAGED_BY = labels.MANAGED_BY
LABEL_MANAGED = labels.LABEL_MANAGED
LABEL_NAMESPACE = labels.LABEL_NAMESPACE
LABEL_WORKFLOW = labels.LABEL_WORKFLOW
LABEL_ROLE = labels.LABEL_ROLE


def status_trigger_name(namespace: str) -> str:
    return object_name("cm", namespace, "status")

SERVICES: dict[StepType | str, str] = {
    StepType.CLI: "cutman-step-cli",
    StepType.AGENT: "cutman-step-agent",
    "sink": "cutman-sink",
    "ingest": "cutman-ingest",
    "reconciler": "cutman-reconciler",
}


@dataclass(frozen=True)
class Plan:
    triggers: tuple[dict[str, Any], ...]
    problems: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def names(self) -> set[str]:
        return {t["metadata"]["name"] for t in self.triggers}


def service_ref(service: str, namespace: str) -> dict[str, str]:
    return {
        "apiVersion": "serving.knative.dev/v1",
        "kind": "Service",
        "name": service,
        "namespace": namespace,
    }


def owned_metadata(*, name: str, installation: str, owner_namespace: str, labels: dict[str, str],
                   owner: Workflow | Source | Sink | None = None) -> dict[str, Any]:
    """Metadata of a planned object: in the installation namespace, labelled with the CR
    namespace it serves. An ownerReference only where the owner is in the same namespace
    (Kubernetes ignores cross-namespace owners, and deletes their dependents)."""
    meta: dict[str, Any] = {
        "name": name,
        "namespace": installation,
        "labels": {LABEL_MANAGED: MANAGED_BY, LABEL_NAMESPACE: owner_namespace, **labels},
    }
    if owner is not None and owner.metadata.uid and owner.metadata.namespace == installation:
        meta["ownerReferences"] = [owner_reference(owner)]
    return meta


def _trigger(
    *,
    name: str,
    installation: str,
    namespace: str,
    workflow: str,
    role: str,
    filters: list[dict[str, Any]] | None = None,
    attributes: dict[str, str] | None = None,
    service: str,
    uri: str | None = None,
    delivery: dict[str, Any] | None = None,
    owner: Workflow | None = None,
) -> dict[str, Any]:
    spec: dict[str, Any] = {"broker": BROKER}
    if attributes is not None:
        spec["filter"] = {"attributes": attributes}
    if filters is not None:
        spec["filters"] = filters
    subscriber: dict[str, Any] = {"ref": service_ref(service, installation)}
    if uri:
        subscriber["uri"] = uri
    spec["subscriber"] = subscriber
    if delivery:
        spec["delivery"] = delivery
    labels = {LABEL_ROLE: role} | ({LABEL_WORKFLOW: workflow} if workflow else {})
    meta = owned_metadata(name=name, installation=installation, owner_namespace=namespace,
                          labels=labels, owner=owner)
    return {"apiVersion": "eventing.knative.dev/v1", "kind": "Trigger", "metadata": meta, "spec": spec}


def owner_reference(res: Workflow | Source | Sink) -> dict[str, Any]:
    """Deleting the CR garbage-collects the objects planned for it (in a cluster, where
    the CR has a uid; local mode has none and deletes by replanning)."""
    return {
        "apiVersion": API_VERSION,
        "kind": res.kind,
        "name": res.metadata.name,
        "uid": res.metadata.uid,
        "controller": True,
        "blockOwnerDeletion": False,
    }


DEAD_LETTERS_URI = "/housekeeping/deadletters"


def _dead_letter_sink(installation: str) -> dict[str, Any]:
    """Dead-lettered step and sink events are recorded on their run by ingest."""
    return {"ref": service_ref(SERVICES["ingest"], installation), "uri": DEAD_LETTERS_URI}


STEP_SERVICE_TIMEOUT_S = 600
"""The step Services' `timeoutSeconds` (deploy/knative; a test keeps them equal): no
delivery attempt can outlive it, so longer steps need it (and Knative's
max-revision-timeout-seconds) raised."""
STEP_LEASE_MARGIN_S = 60
"""A running step's lease lasts its timeout plus this (cutman.stephost)."""


def _step_delivery(timeout_minutes: float | None, installation: str) -> dict[str, Any]:
    """Delivery for a step's Trigger. One attempt may run the whole step (plus 30 s), but
    not past the Service's timeout. A redelivery that meets the step still running gets
    409 and is retried: the exponential retries from 1 s (waits 1, 2, 4, ... s, 2^n - 1 s
    in all) must outlast the step's lease, else a long step's duplicate would be
    dead-lettered while the step is fine; so `retry` grows with the step (at least 5)."""
    step_s = int((timeout_minutes or 10) * 60)
    attempt_s = min(step_s + 30, STEP_SERVICE_TIMEOUT_S)
    cover_s = step_s + STEP_LEASE_MARGIN_S
    retry = max(5, (cover_s + 1).bit_length())
    return {"retry": retry, "backoffPolicy": "exponential", "backoffDelay": "PT1S", "timeout": f"PT{attempt_s}S",
            "deadLetterSink": _dead_letter_sink(installation)}


def plan_workflow(
    *, workflow: Workflow, sources: Iterable[Source], sinks: Iterable[Sink], installation: str
) -> tuple[list[dict[str, Any]], list[str]]:
    """Triggers of one workflow, and the problems that keep it from being Ready."""
    ns, name = workflow.metadata.namespace, workflow.metadata.name
    key = f"{ns}/{name}"
    first = workflow.spec.steps[0]
    problems: list[str] = []
    out: list[dict[str, Any]] = []
    for src in sorted(sources, key=lambda s: s.metadata.name):
        if src.spec.trigger_workflow != name or src.metadata.namespace != ns:
            continue
        out.append(
            _trigger(
                name=object_name("cm", ns, name, "start", src.metadata.name),
                installation=installation,
                namespace=ns,
                workflow=name,
                role="start",
                filters=[
                    {
                        "all": [
                            {"exact": {Ext.SOURCE.value: f"{ns}/{src.metadata.name}"}},
                            {
                                "any": [
                                    {"exact": {"type": EventType.ALERT_FIRING.value}},
                                    {"exact": {"type": EventType.SOURCE_EVENT.value}},
                                ]
                            },
                        ]
                    }
                ],
                service=SERVICES[first.executor],
                uri=f"/start/{ns}/{name}",
                delivery=_step_delivery(first.work.timeout_minutes, installation),
                owner=workflow,
            )
        )
    sinks = list(sinks)
    if any(s.spec.type is SinkType.WORKFLOW and s.metadata.namespace == ns
           and s.spec.config.workflow_name == name for s in sinks):
        out.append(
            _trigger(
                name=object_name("cm", ns, name, "chain"),
                installation=installation,
                namespace=ns,
                workflow=name,
                role="start",
                attributes={"type": EventType.WORKFLOW_CHAINED.value, Ext.CHAIN.value: key},
                service=SERVICES[first.executor],
                uri=f"/start/{ns}/{name}",
                delivery=_step_delivery(first.work.timeout_minutes, installation),
                owner=workflow,
            )
        )
    for step in workflow.spec.steps:
        out.append(
            _trigger(
                name=object_name("cm", ns, name, "step", step.name),
                installation=installation,
                namespace=ns,
                workflow=name,
                role="step",
                attributes={
                    "type": EventType.STEP_REQUESTED.value,
                    Ext.WORKFLOW.value: key,
                    Ext.STEP.value: step.name,
                },
                service=SERVICES[step.executor],
                delivery=_step_delivery(step.work.timeout_minutes, installation),
                owner=workflow,
            )
        )
    known = {s.metadata.name for s in sinks if s.metadata.namespace == ns}
    for sink in workflow.spec.sinks:
        if sink not in known:
            problems.append(f"sink {sink!r} does not exist in namespace {ns}")
        out.append(
            _trigger(
                name=object_name("cm", ns, name, "sink", sink),
                installation=installation,
                namespace=ns,
                workflow=name,
                role="sink",
                filters=[{"all": [
                    {"exact": {Ext.WORKFLOW.value: key}},
                    {"any": [{"exact": {"type": EventType.RUN_FINISHED.value}},
                             {"exact": {"type": EventType.RUN_AWAITING_APPROVAL.value}}]},
                ]}],
                service=SERVICES["sink"],
                uri=f"/sinks/{ns}/{sink}",
                delivery={"retry": 5, "backoffPolicy": "exponential", "backoffDelay": "PT1S",
                          "deadLetterSink": _dead_letter_sink(installation)},
                owner=workflow,
            )
        )
    return out, problems


def plan_triggers(
    *,
    workflows: Iterable[Workflow],
    sources: Iterable[Source],
    sinks: Iterable[Sink],
    installation: str,
) -> Plan:
    """Every Trigger the given CRs need, with per-workflow problems (missing sinks)."""
    sources, sinks = list(sources), list(sinks)
    triggers: list[dict[str, Any]] = []
    problems: dict[str, tuple[str, ...]] = {}
    for wf in sorted(workflows, key=lambda w: (w.metadata.namespace, w.metadata.name)):
        ts, ps = plan_workflow(workflow=wf, sources=sources, sinks=sinks, installation=installation)
        triggers.extend(ts)
        if ps:
            problems[f"{wf.metadata.namespace}/{wf.metadata.name}"] = tuple(ps)
    return Plan(tuple(triggers), problems)


def status_trigger(namespace: str, *, installation: str) -> dict[str, Any]:
    """The reconciler's subscription to the `run.finished` and `sink.delivered` events of
    one CR namespace (workflow prefix `<ns>/`): it records each Workflow's last run, and
    each Sink's counters right after its delivery."""
    return _trigger(
        name=status_trigger_name(namespace),
        installation=installation,
        namespace=namespace,
        workflow="",
        role="status",
        filters=[{"all": [
            {"any": [{"exact": {"type": EventType.RUN_FINISHED.value}},
                     {"exact": {"type": EventType.SINK_DELIVERED.value}}]},
            {"prefix": {Ext.WORKFLOW.value: f"{namespace}/"}},
        ]}],
        service=SERVICES["reconciler"],
        delivery={"retry": 3, "backoffPolicy": "exponential", "backoffDelay": "PT1S"},
    )


@dataclass(frozen=True)
class NamespacePlan:
    """Everything cutman owns in one namespace, and why each CR is or is not Ready."""

    objects: tuple[dict[str, Any], ...]
    workflow_problems: dict[str, tuple[str, ...]]
    source_problems: dict[str, tuple[str, ...]]

    def keys(self) -> set[str]:
        return {f"{o['kind']}/{o['metadata']['name']}" for o in self.objects}


def path_problems(
    *, namespace: str, sources: Iterable[Source], routes: Mapping[str, str]
) -> dict[str, tuple[str, ...]]:
    """Sources whose webhook path another Source serves (paths are global to the
    installation; `routes` maps each claimed path to the `<ns>/<name>` serving it)."""
    from .routes import route_of

    out: dict[str, tuple[str, ...]] = {}
    for src in sources:
        key = f"{namespace}/{src.metadata.name}"
        route = route_of(src)
        owner = routes.get(route.path) if route else None
        if route is not None and owner is not None and owner != key:
            why = (f"path {route.path} is already served by Source {owner}; "
                   "this Source serves it once that one is deleted or moves")
            out[key] = (why,)
    return out


def plan_namespace(
    *,
    namespace: str,
    installation: str,
    workflows: Iterable[Workflow],
    sources: Iterable[Source],
    sinks: Iterable[Sink],
    routes: Mapping[str, str] | None = None,
) -> NamespacePlan:
    """The desired objects for the CRs of one namespace, all in the installation
    namespace: workflow Triggers plus the namespace's status Trigger (only while a
    Workflow exists, so an empty namespace owns nothing)."""
    workflows = [w for w in workflows if w.metadata.namespace == namespace]
    sources = [s for s in sources if s.metadata.namespace == namespace]
    sinks = [s for s in sinks if s.metadata.namespace == namespace]
    plan = plan_triggers(workflows=workflows, sources=sources, sinks=sinks, installation=installation)
    from .source_planning import plan_source_objects
    from .watch_planning import plan_watch_objects

    watchers, watch_problems = plan_watch_objects(sources, installation=installation)
    objects = [*plan.triggers, *plan_source_objects(sources, installation=installation), *watchers]
    if workflows:
        objects.append(status_trigger(namespace, installation=installation))
    names = {w.metadata.name for w in workflows}
    source_problems: dict[str, tuple[str, ...]] = {
        f"{namespace}/{s.metadata.name}": (
            f"workflow {s.spec.trigger_workflow!r} does not exist in namespace {namespace}",
        )
        for s in sources
        if s.spec.trigger_workflow and s.spec.trigger_workflow not in names
    }
    for key, found in [*watch_problems.items(),
                       *path_problems(namespace=namespace, sources=sources, routes=routes or {}).items()]:
        source_problems[key] = source_problems.get(key, ()) + found
    return NamespacePlan(tuple(objects), dict(plan.problems), source_problems)
