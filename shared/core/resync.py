"""Compiled config that Redis lost is rebuilt, and nothing is answered 404 meanwhile.

The reconciler marks the config complete (`cm:cfg:synced`) after every full resync. When
ingest cannot find a path's route or a Source's config and that mark is missing, the
config was lost (a Redis restart without its data, a flush): it answers 503 with
Retry-After (Alertmanager and the broker retry it; a 404 is never retried, so the alert
would be lost) and asks for a resync with a `dev.cutman.config.resync` event, at most
once per RESYNC_REQUEST_TTL_S. The static Trigger below sends that event to the
reconciler (deploy/knative/base/resync-trigger.yaml in a cluster; the dev broker keeps it
built in, because a lost Redis also lost the dev broker's Trigger table).

Pure: the Trigger manifest and the event; the store and broker calls are the callers'.
"""

from __future__ import annotations

from typing import Any

from ..models.events import EventType

RESYNC_REQUEST_TTL_S = 30
RESYNC_TRIGGER = "cutman-config-resync"
RECONCILER_SERVICE = "cutman-reconciler"


def resync_trigger(namespace: str, broker: str = "default") -> dict[str, Any]:
    """The Trigger that routes resync requests to the reconciler. Not labelled
    managed-by cutman: the reconciler's replans never delete it."""
    return {
        "apiVersion": "eventing.knative.dev/v1",
        "kind": "Trigger",
        "metadata": {"name": RESYNC_TRIGGER, "namespace": namespace},
        "spec": {
            "broker": broker,
            "filter": {"attributes": {"type": EventType.CONFIG_RESYNC.value}},
            "subscriber": {"ref": {"apiVersion": "serving.knative.dev/v1", "kind": "Service",
                                   "name": RECONCILER_SERVICE}},
            "delivery": {"retry": 5, "backoffPolicy": "exponential", "backoffDelay": "PT1S"},
        },
    }


def system_triggers(namespace: str, broker: str = "default") -> dict[str, dict[str, Any]]:
    """Triggers that exist independently of Redis, by `<ns>/<name>` (the dev broker's form)."""
    trig = resync_trigger(namespace, broker)
    return {f"{namespace}/{trig['metadata']['name']}": trig}
