"""The Knative source a `schedule` Source needs: a PingSource whose events reach ingest.

Pure, like trigger planning: the reconciler adds these objects to a namespace's plan and
makes what exists match. The PingSource's sink is ingest at /sources/<ns>/<name>; ingest
wraps each ping into `dev.cutman.source.event`. In `cutman dev` there is no PingSource:
the local pinger (cutman.runtime.pinger) posts the same events on the same schedule.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from ..models.resources import Source, SourceType
from .ids import object_name
from .planning import LABEL_ROLE, SERVICES, owned_metadata, service_ref

LABEL_SOURCE = "cutman.dev/source"
PING_API = "sources.knative.dev/v1"


def ingest_path(source: Source) -> str:
    return f"/sources/{source.metadata.namespace}/{source.metadata.name}"


def ping_data(source: Source) -> dict[str, Any]:
    """What each ping carries: which Source fired, and its schedule."""
    return {"source": f"{source.metadata.namespace}/{source.metadata.name}", "schedule": source.spec.config.cron}


def ping_source(source: Source, *, installation: str) -> dict[str, Any]:
    meta = source.metadata
    cfg = source.spec.config
    spec: dict[str, Any] = {
        "schedule": cfg.cron,
        "contentType": "application/json",
        "data": json.dumps(ping_data(source), sort_keys=True),
        "sink": {"ref": service_ref(SERVICES["ingest"], installation), "uri": ingest_path(source)},
    }
    if cfg.timezone:
        spec["timezone"] = cfg.timezone
    metadata = owned_metadata(name=ping_name(meta.namespace, meta.name), installation=installation,
                              owner_namespace=meta.namespace,
                              labels={LABEL_SOURCE: meta.name, LABEL_ROLE: "schedule"}, owner=source)
    return {"apiVersion": PING_API, "kind": "PingSource", "metadata": metadata, "spec": spec}


def ping_name(namespace: str, name: str) -> str:
    return object_name("cm", namespace, "ping", name)


def plan_source_objects(sources: Iterable[Source], *, installation: str) -> tuple[dict[str, Any], ...]:
    """Every Knative source object the given Sources need (one PingSource per schedule Source)."""
    return tuple(ping_source(s, installation=installation) for s in sorted(sources, key=lambda s: s.metadata.name)
                 if s.spec.type is SourceType.SCHEDULE)
