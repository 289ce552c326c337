"""Sink plugins: one module per sink type, each with its params model, and a registry.

A plugin renders what it sends from the run's template context and delivers it. It
raises `Unavailable` for what may succeed later (network, 5xx, 429: the broker retries)
and `PermanentError` for what will not (a 4xx from the receiver: dead-lettered).
"""

from __future__ import annotations

from .registry import PLUGINS, SinkPlugin, plugin_for

__all__ = ["PLUGINS", "SinkPlugin", "plugin_for"]
