"""The registry of sink plugins, keyed by `spec.type`; every type of SinkType is here.

Each plugin's module (its params model, its remote's client code) is imported when a
Sink of that type is first checked or delivered, so a sink function delivering to
stdout does not build the models of the other eight.
"""

from __future__ import annotations

import importlib

from ..errors import Invalid
from ..models.kinds import SinkType
from .base import SinkPlugin

_WHERE: dict[SinkType, tuple[str, str]] = {
    SinkType.STDOUT: ("stdout", "StdoutSink"),
    SinkType.WEBHOOK: ("webhook", "WebhookSink"),
    SinkType.SLACK: ("slack", "SlackSink"),
    SinkType.ALERTMANAGER: ("alertmanager", "AlertmanagerSink"),
    SinkType.PROMETHEUS: ("prometheus", "PrometheusSink"),
    SinkType.PAGERDUTY: ("pagerduty", "PagerDutySink"),
    SinkType.JIRA: ("jira", "JiraSink"),
    SinkType.S3: ("s3", "S3Sink"),
    SinkType.WORKFLOW: ("workflow", "WorkflowSink"),
}

_PLUGINS: dict[SinkType, SinkPlugin] = {}


def _load(sink_type: SinkType) -> SinkPlugin | None:
    plugin = _PLUGINS.get(sink_type)
    if plugin is None and sink_type in _WHERE:
        module, name = _WHERE[sink_type]
        plugin = getattr(importlib.import_module(f"{__package__}.{module}"), name)()
        assert plugin.type is sink_type, f"{name} is registered as {sink_type.value}, not {plugin.type.value}"
        _PLUGINS[sink_type] = plugin
    return plugin


def plugins() -> dict[SinkType, SinkPlugin]:
    """Every plugin, in the registry's order (whatever was loaded first)."""
    for sink_type in _WHERE:
        _load(sink_type)
    return {t: _PLUGINS[t] for t in _WHERE}


def plugin_for(sink_type: SinkType) -> SinkPlugin:
    plugin = _load(sink_type)
    if plugin is None:
        available = ", ".join(sorted(t.value for t in _WHERE))
        raise Invalid(
            f"sink type {sink_type.value!r} is not available in this cutman version "
            f"(available: {available})",
            field="spec.type",
        )
    return plugin
