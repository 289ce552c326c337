"""Sink params: the per-type models (a discriminated union on spec.type), pure, no doubles."""

from __future__ import annotations

from typing import Any

import pytest
from cutman.models.manifests import ManifestError, parse_resource
from cutman.models.resources import SinkConfig, SinkSpec, SinkType
from cutman.sinks import plugins
from cutman.sinks.slack import mention


def sink(spec: dict[str, Any]) -> Any:
    return parse_resource({"apiVersion": "cutman.dev/v1alpha1", "kind": "Sink",
                           "metadata": {"name": "s", "namespace": "ops"}, "spec": spec})


def refused(spec: dict[str, Any]) -> str:
    with pytest.raises(ManifestError) as info:
        sink(spec)
    return str(info.value)


def test_every_plugin_field_is_in_the_crd_schema() -> None:
    """The API server prunes fields the CRD does not list: the superset must hold them all."""
    superset = {f.alias for f in SinkConfig.model_fields.values()}
    for sink_type, plugin in plugins().items():
        fields = {f.alias for f in plugin.params.model_fields.values()}
        assert fields <= superset, (sink_type, fields - superset)


def test_every_sink_type_has_a_plugin() -> None:
    assert set(plugins()) == set(SinkType)


def test_a_field_of_another_type_is_refused_by_name() -> None:
    msg = refused({"type": "slack", "config": {"channel": "#a", "botToken": "slack-token",
                                                "pushgateway": "http://pg:9091"}})
    assert "config.pushgateway: not a field of a slack sink" in msg and "botToken" in msg


def test_a_typo_is_refused_by_name() -> None:
    assert "config.chanel: unknown field" in refused({"type": "slack", "config": {"chanel": "#a"}})


@pytest.mark.parametrize("spec", [
    {"type": "slack", "config": {"channel": "#a", "botToken": "xoxb-1234-5678-abcdef"}},
    {"type": "pagerduty", "config": {"routingKey": "e93facc04764012d7bfb002500d5d1a6"}},
    {"type": "slack", "config": {"webhookUrlSecret": "https://hooks.slack.com/services/T0/B0/x"}},
])
def test_inline_credentials_are_refused_with_how_to_use_a_secret(spec: dict[str, Any]) -> None:
    msg = refused(spec)
    assert "written inline" in msg and "kubectl create secret generic" in msg


def test_credential_fields_must_name_a_secret() -> None:
    msg = refused({"type": "jira", "config": {"endpoint": "http://j", "project": "OPS",
                                               "credentialsSecret": "user:Pass word"}})
    assert "config.credentialsSecret" in msg and "must name a Secret" in msg


def test_required_fields_use_yaml_names() -> None:
    assert "config.routingKey is required for a pagerduty sink" in refused({"type": "pagerduty", "config": {}})
    assert "config.pushgateway is required for a prometheus sink" in refused(
        {"type": "prometheus", "config": {"metrics": {"x": "1"}}})


def test_earlier_system_sink_shapes() -> None:
    slack = sink({"type": "slack", "config": {
        "channel": "#ops-alerts", "botToken": "slack-bot-token-secret", "messageType": "message",
        "mentionUsers": ["@oncall"], "template": "{{ .workflow.outputs.summary }}",
        "context": {"team": "sre"}}})
    assert slack.spec.params.mention_users == ["@oncall"] and slack.spec.params.context == {"team": "sre"}
    prom = sink({"type": "prometheus", "config": {"pushgateway": "http://pg:9091", "job": "cutman",
                                                  "metrics": {"cutman_auto_resolved": "{{ .workflow.outputs.x }}"}}})
    assert prom.spec.params.metrics == {"cutman_auto_resolved": "{{ .workflow.outputs.x }}"}
    am = sink({"type": "alertmanager", "config": {"endpoint": "http://am:9093", "action": "resolve"},
               "condition": "{{ .workflow.outputs.auto_resolved }}"})
    assert am.spec.params.action == "resolve"


def test_bad_metric_name_and_action() -> None:
    assert "not a Prometheus metric name" in refused(
        {"type": "prometheus", "config": {"pushgateway": "http://pg", "metrics": {"bad-name": "1"}}})
    assert "config.action" in refused({"type": "alertmanager", "config": {"endpoint": "http://a", "action": "mute"}})


def test_params_survive_a_round_trip_through_the_compiled_config() -> None:
    spec = SinkSpec.model_validate({"type": "webhook", "config": {"endpoint": "http://x", "secretRef": "k/v"}})
    again = SinkSpec.model_validate(spec.dump())
    assert again.params == spec.params and again.params.secret_ref == "k/v"


@pytest.mark.parametrize(("given", "sent"), [
    ("U024BE7LH", "<@U024BE7LH>"), ("@W12345", "<@W12345>"), ("S0614TZR7", "<!subteam^S0614TZR7>"),
    ("@here", "<!here>"), ("@channel", "<!channel>"), ("@oncall", "@oncall"),
])
def test_slack_mentions(given: str, sent: str) -> None:
    assert mention(given) == sent


def test_secret_names_a_sink_reads() -> None:
    from cutman.sinks.base import secret_names

    hook = SinkSpec.model_validate({"type": "webhook", "config": {
        "endpoint": "http://x", "secretRef": "sign/key", "headersSecret": "hdrs"}})
    slack = SinkSpec.model_validate({"type": "slack", "config": {"channel": "#a", "botToken": "slack-bot"}})
    assert secret_names(hook.params) == ["hdrs", "sign"] and secret_names(slack.params) == ["slack-bot"]
