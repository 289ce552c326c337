"""The housekeeping PingSource exists only while something waits, so ingest scales to zero.

Unanswered approvals must fail on time and crashed runs must be recovered, which needs
a clock: a PingSource that asks ingest's /housekeeping/approvals to sweep every minute
(approvals, outbox, open sink deliveries, stalled runs). Kept forever it would wake
ingest every minute for nothing. So the reconciler plans it only while something waits
(cutman.waiting): it re-plans on `run.awaitingapproval` (a step started waiting), on
`run.finished` (the status Trigger it already has), and on `dev.cutman.housekeeping.check`,
which ingest sends when it hands start events to the broker (at most once a minute;
with `starting`, the PingSource is created at once, since the runs are on their way) and
when a sweep left nothing to do. A lost event costs at most an extra minute of pings (the
next sweep checks again) or a late sweep until the next run, approval or reconciler
start, which re-plans too.

Why not the alternatives: creating it from the step functions would give them write
access to sources.knative.dev (they are read-only by design); moving the sweep into
ingest's own traffic would not expire an approval while no alert arrives.

Pure: the desired objects; the reconciler applies them under a scope no CR namespace can
have (a label value with a dot), so no namespace replan ever deletes it.
"""

from __future__ import annotations

import json
from typing import Any

from .labels import LABEL_MANAGED, LABEL_NAMESPACE, MANAGED_BY

SCOPE = "cutman.housekeeping"
PINGSOURCE = "cutman-housekeeping"
SWEEP_PATH = "/housekeeping/approvals"


def housekeeping_objects(*, installation: str, approvals_pending: bool) -> list[dict[str, Any]]:
    if not approvals_pending:
        return []
    return [{
        "apiVersion": "sources.knative.dev/v1",
        "kind": "PingSource",
        "metadata": {"name": PINGSOURCE, "namespace": installation,
                     "labels": {LABEL_MANAGED: MANAGED_BY, LABEL_NAMESPACE: SCOPE,
                                "app.kubernetes.io/part-of": "cutman"}},
        "spec": {
            "schedule": "* * * * *",
            "contentType": "application/json",
            "data": json.dumps({"task": "expire-approvals"}),
            "sink": {"ref": {"apiVersion": "serving.knative.dev/v1", "kind": "Service",
                             "name": "cutman-ingest", "namespace": installation},
                     "uri": SWEEP_PATH},
        },
    }]


def housekeeping_triggers(namespace: str, broker: str = "default") -> list[dict[str, Any]]:
    """Static Triggers (deploy/knative/base/housekeeping.yaml) that tell the reconciler to
    re-plan the PingSource: when a step starts waiting, and when ingest's sweep drained."""
    from ..models.events import EventType

    out = []
    for name, kind in (("cutman-housekeeping-waiting", EventType.RUN_AWAITING_APPROVAL),
                       ("cutman-housekeeping-check", EventType.HOUSEKEEPING_CHECK)):
        out.append({
            "apiVersion": "eventing.knative.dev/v1",
            "kind": "Trigger",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {
                "broker": broker,
                "filter": {"attributes": {"type": kind.value}},
                "subscriber": {"ref": {"apiVersion": "serving.knative.dev/v1", "kind": "Service",
                                       "name": "cutman-reconciler"}},
                "delivery": {"retry": 5, "backoffPolicy": "exponential", "backoffDelay": "PT1S"},
            },
        })
    return out
