"""The registry of sink plugins, keyed by `spec.type`."""

from __future__ import annotations

from typing import Any, Protocol

import httpx

from ..errors import Invalid
from ..models.resources import SinkSpec, SinkType
from ..models.run import Run


class SinkPlugin(Protocol):
    type: SinkType

    def check(self, spec: SinkSpec) -> None:
        """Refuse at apply time what cannot work (bad template, missing field)."""

    async def deliver(
        self, *, spec: SinkSpec, run: Run, context: dict[str, Any], http: httpx.AsyncClient
    ) -> str:
        """Send; return a one-line description of what was sent for the run record."""
        ...


def _plugins() -> dict[SinkType, SinkPlugin]:
    from .stdout import StdoutSink
    from .webhook import WebhookSink

    return {p.type: p for p in (StdoutSink(), WebhookSink())}


PLUGINS: dict[SinkType, SinkPlugin] = _plugins()


def plugin_for(sink_type: SinkType) -> SinkPlugin:
    plugin = PLUGINS.get(sink_type)
    if plugin is None:
        available = ", ".join(sorted(t.value for t in PLUGINS))
        raise Invalid(
            f"sink type {sink_type.value!r} is not available in this cutman version "
            f"(available: {available})",
            field="spec.type",
        )
    return plugin
