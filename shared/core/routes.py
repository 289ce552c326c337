"""Which ingest path a Source claims. Paths are global to the installation: one ingest
serves every namespace, so two Sources cannot share one (the first keeps it)."""

from __future__ import annotations

from dataclasses import dataclass

from ..models.resources import Source, SourceType


@dataclass(frozen=True)
class Route:
    path: str
    field: str


def route_of(src: Source) -> Route | None:
    """The ingest path a Source is served at: a webhook's `path`, an api Source's `endpoint`
    (api Sources are also always served at /sources/<namespace>/<name>)."""
    if src.spec.config.path:
        return Route(src.spec.config.path, "spec.config.path")
    if src.spec.type is SourceType.API and src.spec.config.endpoint:
        return Route(src.spec.config.endpoint, "spec.config.endpoint")
    return None
