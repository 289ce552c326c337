"""The registry of sink plugins, keyed by `spec.type`; every type of SinkType is here."""

from __future__ import annotations

from ..errors import Invalid
from ..models.resources import SinkType
from .base import SinkPlugin


def _plugins() -> dict[SinkType, SinkPlugin]:
    from .alertmanager import AlertmanagerSink
    from .jira import JiraSink
    from .pagerduty import PagerDutySink
    from .prometheus import PrometheusSink
    from .s3 import S3Sink
    from .slack import SlackSink
    from .stdout import StdoutSink
    from .webhook import WebhookSink
    from .workflow import WorkflowSink

    plugins: tuple[SinkPlugin, ...] = (
        StdoutSink(), WebhookSink(), SlackSink(), AlertmanagerSink(), PrometheusSink(),
        PagerDutySink(), JiraSink(), S3Sink(), WorkflowSink(),
    )
    return {p.type: p for p in plugins}


_PLUGINS: dict[SinkType, SinkPlugin] = {}


def plugins() -> dict[SinkType, SinkPlugin]:
    if not _PLUGINS:
        _PLUGINS.update(_plugins())
    return _PLUGINS


def plugin_for(sink_type: SinkType) -> SinkPlugin:
    plugin = plugins().get(sink_type)
    if plugin is None:
        available = ", ".join(sorted(t.value for t in plugins()))
        raise Invalid(
            f"sink type {sink_type.value!r} is not available in this cutman version "
            f"(available: {available})",
            field="spec.type",
        )
    return plugin
