"""Models of the three CRDs, the Alertmanager payload and manifests: pure, no doubles."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cutman.models.alert import AMWebhook
from cutman.models.manifests import ManifestError, iter_documents, parse_resource, read_paths
from cutman.models.resources import Sink, SinkType, Source, StepType, Workflow

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures" / "alertmanager"

# A manifest shaped like the earlier Rust operator's, apiVersion changed only.
EARLIER = """
apiVersion: cutman.dev/v1alpha1
kind: Workflow
metadata:
  name: pod-crashloop
  namespace: ops
spec:
  runtime:
    image: ghcr.io/example/runner:latest
    llmConfig:
      provider: openai
      endpoint: http://llm:8000/v1
      model: gpt-4o-mini
      apiKeySecret: llm-key
    environment:
      PROMETHEUS_URL: http://prometheus:9090
  steps:
    - name: logs
      type: cli
      command: kubectl logs {{ .alert.labels.pod }} --tail=50
      timeoutMinutes: 2
    - name: analyze
      type: agent
      goal: Find the root cause
      tools: [kubectl, {name: promql, description: query, endpoint: http://prometheus:9090}]
      maxIterations: 8
      approvalRequired: false
    - name: maybe-fix
      type: conditional
      condition: "{{ .steps.analyze.result.can_auto_fix }}"
      agent:
        name: fix
        type: agent
        goal: Restart the pod
  outputs:
    - name: summary
      value: "{{ .steps.analyze.result.summary }}"
  sinks: [slack-oncall, am]
---
apiVersion: cutman.dev/v1alpha1
kind: Source
metadata: {name: am, namespace: ops}
spec:
  type: webhook
  config:
    path: /webhook/am
    filters: {severity: [critical], alertname: PodCrashLooping}
    dedupe: {enabled: true, window: 5m}
  triggerWorkflow: pod-crashloop
  context: {cluster: prod-eu}
---
apiVersion: cutman.dev/v1alpha1
kind: Sink
metadata: {name: slack-oncall, namespace: ops}
spec:
  type: slack
  config: {channel: "#oncall", botToken: slack-bot-token-secret, template: "{{ .workflow.outputs.summary }}"}
  condition: "{{ .steps.analyze.success }}"
"""


def test_earlier_system_manifests_load() -> None:
    docs = list(iter_documents(EARLIER, origin="earlier.yaml"))
    wf, src, sink = (parse_resource(d.body, where=d.where) for d in docs)
    assert isinstance(wf, Workflow) and isinstance(src, Source) and isinstance(sink, Sink)
    assert [s.type for s in wf.spec.steps] == [StepType.CLI, StepType.AGENT, StepType.CONDITIONAL]
    assert wf.spec.steps[2].executor is StepType.AGENT
    assert wf.spec.runtime.llm_config is not None and wf.spec.runtime.llm_config.api_key_secret == "llm-key"
    assert src.spec.config.filters == {"severity": ["critical"], "alertname": ["PodCrashLooping"]}
    assert src.spec.trigger_workflow == "pod-crashloop"
    assert sink.spec.type is SinkType.SLACK and sink.spec.config.bot_token == "slack-bot-token-secret"


def test_examples_load() -> None:
    kinds = sorted(d.kind for d in read_paths([REPO / "deploy" / "examples"]))
    assert kinds == ["Sink", "Source", "Workflow"]
    for doc in read_paths([REPO / "deploy" / "examples"]):
        parse_resource(doc.body, where=doc.where)


@pytest.mark.parametrize(
    ("patch", "expected"),
    [
        (("spec", "steps", 0, "comand"), "earlier.yaml document 1 (Workflow ops/pod-crashloop): spec.steps[0].comand: unknown field"),
        (("spec", "runtime", "llmConfig", "modle"), "spec.runtime.llmConfig.modle: unknown field"),
        (("spec", "outputz"), "spec.outputz: unknown field"),
    ],
)
def test_unknown_field_names_field_and_document(patch: tuple, expected: str) -> None:  # type: ignore[type-arg]
    body = next(iter_documents(EARLIER, origin="earlier.yaml")).body
    node = body
    for key in patch[:-1]:
        node = node[key]
    node[patch[-1]] = "x"
    with pytest.raises(ManifestError) as exc:
        parse_resource(body, where="earlier.yaml document 1")
    assert expected in exc.value.message


def test_wrong_api_version_is_named() -> None:
    body = {"apiVersion": "cutman.io/v1", "kind": "Sink", "metadata": {"name": "x"}, "spec": {"type": "stdout"}}
    with pytest.raises(ManifestError, match=r"apiVersion: must be cutman.dev/v1alpha1 \(got 'cutman.io/v1'\)"):
        parse_resource(body, where="s.yaml")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"type": "webhook", "config": {}}, "config.path is required for a webhook source"),
        ({"type": "webhook", "config": {"path": "no-slash"}}, "spec.config.path: must start with '/'"),
        ({"type": "schedule"}, "config.cron is required"),
        ({"type": "carrier-pigeon", "config": {"path": "/x"}}, "spec.type: Input should be"),
    ],
)
def test_source_requirements(spec: dict, message: str) -> None:  # type: ignore[type-arg]
    body = {"apiVersion": "cutman.dev/v1alpha1", "kind": "Source", "metadata": {"name": "s"}, "spec": spec}
    with pytest.raises(ManifestError, match=message):
        parse_resource(body)


@pytest.mark.parametrize(
    ("steps", "message"),
    [
        ([{"name": "a", "type": "cli"}], "needs `command`"),
        ([{"name": "a", "type": "agent"}], "needs `goal`"),
        ([{"name": "a", "type": "conditional", "condition": "x"}], "nested step it runs"),
        ([{"name": "a", "type": "cli", "command": "x"}, {"name": "a", "type": "cli", "command": "y"}], "used twice"),
        ([{"name": "1bad", "type": "cli", "command": "x"}], "must start with a letter"),
        ([], "at least 1 item"),
    ],
)
def test_workflow_shape_errors(steps: list, message: str) -> None:  # type: ignore[type-arg]
    body = {"apiVersion": "cutman.dev/v1alpha1", "kind": "Workflow", "metadata": {"name": "w"}, "spec": {"steps": steps}}
    with pytest.raises(ManifestError, match=message):
        parse_resource(body)


def test_sink_type_requirements_use_yaml_names() -> None:
    body = {"apiVersion": "cutman.dev/v1alpha1", "kind": "Sink", "metadata": {"name": "w"},
            "spec": {"type": "webhook", "config": {"signatureHeader": "X-Sig"}}}
    with pytest.raises(ManifestError, match="config.endpoint is required for a webhook sink"):
        parse_resource(body)


def test_metadata_name_must_be_dns_label() -> None:
    body = {"apiVersion": "cutman.dev/v1alpha1", "kind": "Sink", "metadata": {"name": "Bad_Name"},
            "spec": {"type": "stdout"}}
    with pytest.raises(ManifestError, match="metadata.name: .*DNS-1123"):
        parse_resource(body)


def test_environment_accepts_kubernetes_list_form() -> None:
    body = {"apiVersion": "cutman.dev/v1alpha1", "kind": "Workflow", "metadata": {"name": "w"},
            "spec": {"runtime": {"environment": [{"name": "A", "value": "1"}]},
                     "steps": [{"name": "s", "type": "cli", "command": "true"}]}}
    wf = parse_resource(body)
    assert isinstance(wf, Workflow) and wf.spec.runtime.environment == {"A": "1"}


def test_invalid_yaml_names_the_file() -> None:
    with pytest.raises(ManifestError, match="bad.yaml: not valid YAML"):
        list(iter_documents("a: [1, 2", origin="bad.yaml"))


@pytest.mark.parametrize("fixture", sorted(FIXTURES.glob("*.json")), ids=lambda p: p.name)
def test_real_alertmanager_payloads_parse(fixture: Path) -> None:
    payload = AMWebhook.model_validate(json.loads(fixture.read_text()))
    raw = json.loads(fixture.read_text())
    assert len(payload.alerts) == len(raw["alerts"])
    assert payload.version == "4" and payload.truncatedAlerts == 0
    assert {a.status for a in payload.alerts} <= {"firing", "resolved"}
