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
from .ids import dns_name
from .planning import LABEL_MANAGED, LABEL_ROLE, MANAGED_BY, SERVICES, owner_reference

LABEL_SOURCE = "cutman.dev/source"
PING_API = "sources.knative.dev/v1"


def ingest_path(source: Source) -> str:
    return f"/sources/{source.metadata.namespace}/{source.metadata.name}"


def ping_data(source: Source) -> dict[str, Any]:
    """What each ping carries: which Source fired, and its schedule."""
    return {"source": f"{source.metadata.namespace}/{source.metadata.name}", "schedule": source.spec.config.cron}


def ping_source(source: Source) -> dict[str, Any]:
    meta = source.metadata
    cfg = source.spec.config
    spec: dict[str, Any] = {
        "schedule": cfg.cron,
        "contentType": "application/json",
        "data": json.dumps(ping_data(source), sort_keys=True),
        "sink": {
            "ref": {"apiVersion": "serving.knative.dev/v1", "kind": "Service",
                    "name": SERVICES["ingest"], "namespace": meta.namespace},
            "uri": ingest_path(source),
        },
    }
    if cfg.timezone:
        spec["timezone"] = cfg.timezone
    metadata: dict[str, Any] = {
        "name": dns_name("cm-ping", meta.name),
        "namespace": meta.namespace,
        "labels": {LABEL_MANAGED: MANAGED_BY, LABEL_SOURCE: meta.name, LABEL_ROLE: "schedule"},
    }
    if meta.uid:
        metadata["ownerReferences"] = [owner_reference(source)]
    return {"apiVersion": PING_API, "kind": "PingSource", "metadata": metadata, "spec": spec}


def plan_source_objects(sources: Iterable[Source]) -> tuple[dict[str, Any], ...]:
    """Every Knative source object the given Sources need (one PingSource per schedule Source)."""
    return tuple(ping_source(s) for s in sorted(sources, key=lambda s: s.metadata.name)
                 if s.spec.type is SourceType.SCHEDULE)
