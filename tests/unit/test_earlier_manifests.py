"""The earlier system's manifest shapes (yourbuddyconner/punching-fist `examples/`) and
template fields: pure, no doubles. The vendored examples themselves run end to end in
tests/e2e/test_punching_fist.py."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from cutman.core import engine
from cutman.core.context import build_context, go_duration
from cutman.core.templating import render
from cutman.models.manifests import ManifestError, parse_resource, read_paths
from cutman.models.resources import Source, StepType, Workflow, WorkflowSpec
from cutman.models.run import RunPhase
from cutman.models.secret import SecretError, SecretRef, is_namespace, is_secret, resolve_secret

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "punching-fist"
ALERT = {"status": "firing", "labels": {"alertname": "PodCrashLooping", "severity": "critical", "pod": "web-1"},
         "annotations": {"summary": "Pod is crash looping"}, "alertname": "PodCrashLooping",
         "severity": "critical", "summary": "Pod is crash looping", "startsAt": "2024-01-15T10:00:00Z"}


def test_every_vendored_example_loads_with_only_the_api_version_changed() -> None:
    docs = read_paths([FIXTURES])
    kinds = []
    for doc in docs:
        if is_namespace(doc.body) or is_secret(doc.body):
            kinds.append(doc.kind)
            continue
        kinds.append(parse_resource(doc.body, where=doc.where).kind)
    assert {"Namespace", "Secret", "Source", "Workflow", "Sink"} <= set(kinds)


def test_other_kinds_are_refused_naming_the_kind() -> None:
    with pytest.raises(ManifestError, match="kind: 'ConfigMap' is not one of Source, Workflow, Sink"):
        parse_resource({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}})


def conditional(agent: dict[str, Any]) -> dict[str, Any]:
    return {"name": "attempt-resolution", "type": "conditional",
            "condition": "{{ .steps.investigate-alert.result.can_auto_resolve }}", "agent": agent}


def test_nested_agent_without_name_or_type_takes_the_conditionals_name_and_is_an_agent() -> None:
    spec = WorkflowSpec.model_validate({"steps": [conditional(
        {"goal": "fix it", "tools": ["kubectl"], "maxIterations": 3, "approvalRequired": True})]})
    step = spec.steps[0]
    assert step.agent is not None
    assert (step.agent.name, step.agent.type) == ("attempt-resolution", StepType.AGENT)
    assert step.executor is StepType.AGENT
    assert step.work.tools == ["kubectl"] and step.work.max_iterations == 3 and step.work.approval_required


def test_nested_step_keeps_an_explicit_name_and_type() -> None:
    spec = WorkflowSpec.model_validate({"steps": [conditional({"name": "n", "type": "cli", "command": "true"})]})
    assert spec.steps[0].agent is not None and spec.steps[0].agent.type is StepType.CLI
    assert spec.steps[0].agent.name == "n"


def test_filters_empty_or_scalar_or_list() -> None:
    def source(filters: Any) -> Source:
        return Source.model_validate({"apiVersion": "cutman.dev/v1alpha1", "kind": "Source",
                                      "metadata": {"name": "s", "namespace": "punchingfist-system"},
                                      "spec": {"type": "webhook", "config": {"path": "/x", "filters": filters}}})

    assert source({}).spec.config.filters == {}
    assert source({"severity": "critical", "team": ["db", "web"]}).spec.config.filters == {
        "severity": ["critical"], "team": ["db", "web"]}


def run_with(alert: dict[str, Any] | None = ALERT, data: Any = None) -> Any:
    spec = WorkflowSpec.model_validate({
        "steps": [{"name": "investigate-alert", "type": "cli", "command": "true"}],
        "outputs": [
            {"name": "summary", "value": "{{ .steps.investigate-alert.result.summary }}"},
            {"name": "took", "value": "{{ .workflow.duration }} {{ .workflow.status }} {{ .workflow.completedAt }}"},
        ]})
    return engine.new_run(run_id="r1", workflow="punchingfist-system/alert-triage", spec=spec, event_id="e1",
                          event_type="dev.cutman.alert.firing", source="punchingfist-system/alertmanager-webhook",
                          source_context={"environment": "production"}, alert=alert, data=data,
                          now="2026-01-01T10:00:00Z")


def finished(run: Any, *, result: dict[str, Any], end: str) -> Any:
    run = engine.begin_step(run=run, step="investigate-alert", now="2026-01-01T10:00:01Z")
    outcome = engine.Outcome(phase=engine.StepPhase.SUCCEEDED, output="{}", result=result)
    return engine.complete_step(run=run, step="investigate-alert", outcome=outcome, now=end).run


@pytest.mark.parametrize(("template", "expected"), [
    ("{{ .source.name }}/{{ .source.namespace }}", "alertmanager-webhook/punchingfist-system"),
    ("{{ .source.context.environment }}", "production"),
    ("{{ .source.data.alert.alertname }} {{ .source.data.alert.summary }}", "PodCrashLooping Pod is crash looping"),
    ("{{ .source.data.alert.labels.pod }}", "web-1"),
    ("{{ .source.data.alertname }} {{ .source.data.severity }}", "PodCrashLooping critical"),
    ("{{ .source.data.labels | toJSON }}", '{"alertname":"PodCrashLooping","severity":"critical","pod":"web-1"}'),
    ("{{ .workflow.name }} {{ .workflow.namespace }}", "alert-triage punchingfist-system"),
    ("{{ .workflow.startedAt }}", "2026-01-01T10:00:00Z"),
])
def test_template_context_fields_of_the_earlier_system(template: str, expected: str) -> None:
    assert render(template, build_context(run_with())) == expected


def test_workflow_timing_status_and_outputs_in_output_and_sink_templates() -> None:
    run = finished(run_with(), result={"summary": "OOM", "can_auto_resolve": False}, end="2026-01-01T10:01:12Z")
    assert run.phase is RunPhase.SUCCEEDED
    assert run.outputs == {"summary": "OOM", "took": "1m12s Succeeded 2026-01-01T10:01:12Z"}
    sink = ("{{ .workflow.outputs.summary }} in {{ .workflow.duration }} ({{ .workflow.status }}) "
            "by {{ .workflow.name }} from {{ .source.name }}")
    assert render(sink, build_context(run)) == "OOM in 1m12s (Succeeded) by alert-triage from alertmanager-webhook"


def test_step_templates_see_the_run_as_it_is() -> None:
    ctx = build_context(run_with())
    assert render("[{{ .workflow.completedAt }}][{{ .workflow.duration }}]{{ .workflow.status }}", ctx) == "[][]Pending"


def test_source_data_of_a_non_alert_event_is_the_event() -> None:
    ctx = build_context(run_with(alert=None, data={"kind": "Pod", "name": "web-1"}))
    assert render("{{ .source.data.kind }}/{{ .source.data.name }}", ctx) == "Pod/web-1"


@pytest.mark.parametrize(("seconds", "text"), [
    (0, "0s"), (0.25, "250ms"), (1, "1s"), (59.4, "59s"), (72, "1m12s"), (3600, "1h0m0s"), (3725, "1h2m5s")])
def test_durations_print_as_go_does(seconds: float, text: str) -> None:
    assert go_duration(seconds) == text


@pytest.mark.parametrize(("value", "expected"), [
    ("yes", "done"), ("", "human"), ([], "human"), ({}, "human"), (False, "human"), (True, "done"),
    (0, "human"), (1, "done"), (None, "human"), ("false", "done")])  # a non-empty string is true in Go
def test_if_else_end_truthy_as_go_templates(value: Any, expected: str) -> None:
    ctx = {"workflow": {"outputs": {"auto_resolved": value}}}
    tpl = "{{ if .workflow.outputs.auto_resolved }}done{{ else }}human{{ end }}"
    assert render(tpl, ctx) == expected


def test_missing_value_is_falsy_in_if() -> None:
    assert render("{{ if .workflow.outputs.nope }}a{{ else }}b{{ end }}", {"workflow": {"outputs": {}}}) == "b"


def lookup(secrets: dict[str, dict[str, str]]) -> Any:
    async def read(key: str) -> dict[str, str] | None:
        return secrets.get(key)
    return read


def resolve(ref: str, secrets: dict[str, dict[str, str]], **kw: Any) -> str:
    return asyncio.run(resolve_secret(ref, namespace="ops", lookup=lookup(secrets), **kw))


def test_secret_reference_by_name_key_only_key_or_conventional_key() -> None:
    secrets = {"ops/one": {"whatever": "v1"}, "ops/two": {"apiKey": "k", "other": "o"},
               "ops/three": {"token": "t", "apiKey": "k"}}
    assert resolve("two/other", secrets) == "o"
    assert resolve("one", secrets) == "v1"
    assert resolve("two", secrets) == "k"
    assert resolve("three", secrets) == "t"
    assert resolve("three", secrets, keys=("apiKey", "token")) == "k"


def test_secret_reference_errors_name_the_secret_and_keys_never_values() -> None:
    secrets = {"ops/two": {"a": "s3cr3t", "b": "x"}, "other/mine": {"token": "t"}}
    with pytest.raises(SecretError, match=r"Secret ops/two has no key 'c' \(keys: a, b\)") as exc:
        resolve("two/c", secrets)
    assert "s3cr3t" not in exc.value.message
    with pytest.raises(SecretError, match="has keys a, b; write two/<key>, or name the key one of token, apiKey"):
        resolve("two", secrets)
    with pytest.raises(SecretError, match="Secret ops/mine does not exist"):
        resolve("mine", secrets)  # Secrets are read from the CR's own namespace only


def test_secret_ref_parse_keeps_the_namespace_and_whether_the_key_was_given() -> None:
    assert SecretRef.parse("db/password", namespace="ops") == SecretRef("ops", "db", "password", explicit=True)
    assert SecretRef.parse("db", namespace="ops").explicit is False


def test_alert_triage_workflow_loads_as_written() -> None:
    docs = [d for d in read_paths([FIXTURES / "alert-triage-workflow.yaml"]) if d.kind == "Workflow"]
    wf = parse_resource(docs[0].body, where="x")
    assert isinstance(wf, Workflow)
    resolution = wf.spec.step("attempt-resolution")
    assert resolution is not None and resolution.executor is StepType.AGENT
    assert resolution.work.max_iterations == 3
