"""The chain Trigger a workflow Sink needs: pure, checked against the real Knative schema."""

from __future__ import annotations

from cutman.core.planning import plan_namespace
from cutman.core.trigger_filter import matches
from cutman.models.resources import Sink

from tests.k8s_schema import errors, knative_schemas
from tests.unit.test_planning_namespace import INSTALL, NS, wf


def chain_sink(target: str) -> Sink:
    return Sink.model_validate({
        "apiVersion": "cutman.dev/v1alpha1", "kind": "Sink", "metadata": {"name": "next", "namespace": NS},
        "spec": {"type": "workflow", "config": {"workflowName": target}},
    })


def test_a_workflow_sink_plans_a_start_trigger_for_its_target_only() -> None:
    plan = plan_namespace(installation=INSTALL, namespace=NS, sources=[], sinks=[chain_sink("followup")],
                          workflows=[wf("triage", sinks=("next",)), wf("followup")])
    chains = [o for o in plan.objects if o["kind"] == "Trigger" and o["metadata"]["name"].endswith("-chain")]
    assert len(chains) == 1
    [trigger] = chains
    assert trigger["spec"]["subscriber"]["uri"] == f"/start/{NS}/followup"
    assert matches(trigger["spec"], {"type": "dev.cutman.workflow.chained", "cmchain": f"{NS}/followup"})
    assert not matches(trigger["spec"], {"type": "dev.cutman.workflow.chained", "cmchain": f"{NS}/triage"})
    schema = knative_schemas()[("eventing.knative.dev/v1", "Trigger")]
    assert errors(schema, trigger) == []
