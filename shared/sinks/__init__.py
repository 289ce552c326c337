"""Sink plugins: one module per sink type, each with its params model, and a registry.

See `base` for what a plugin is given (a `Delivery` and `Ports`) and how it reports
errors, and `delivery` for the at-least-once rules around it.
"""

from __future__ import annotations

from .registry import plugin_for, plugins

__all__ = ["plugin_for", "plugins"]
