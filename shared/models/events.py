"""CloudEvent types and extension names of the cutman event contract (ARCHITECTURE 4)."""

from __future__ import annotations

from enum import StrEnum


class EventType(StrEnum):
    ALERT_FIRING = "dev.cutman.alert.firing"
    ALERT_RESOLVED = "dev.cutman.alert.resolved"
    SOURCE_EVENT = "dev.cutman.source.event"
    STEP_REQUESTED = "dev.cutman.step.requested"
    RUN_FINISHED = "dev.cutman.run.finished"
    RUN_AWAITING_APPROVAL = "dev.cutman.run.awaitingapproval"
    SINK_DELIVERED = "dev.cutman.sink.delivered"
    WORKFLOW_CHAINED = "dev.cutman.workflow.chained"
    APISERVER_ADD = "dev.knative.apiserver.resource.add"
    APISERVER_UPDATE = "dev.knative.apiserver.resource.update"
    APISERVER_DELETE = "dev.knative.apiserver.resource.delete"
    CONFIG_RESYNC = "dev.cutman.config.resync"
    HOUSEKEEPING_CHECK = "dev.cutman.housekeeping.check"


class Ext(StrEnum):
    """Extension attribute names: 1-20 lowercase letters or digits."""

    SOURCE = "cmsource"
    ALERTNAME = "alertname"
    SEVERITY = "severity"
    FINGERPRINT = "fingerprint"
    WORKFLOW = "workflow"
    RUN = "run"
    STEP = "step"
    STEPTYPE = "steptype"
    PHASE = "phase"
    KIND = "kind"
    NAME = "name"
    NAMESPACE = "namespace"
    SINK = "cmsink"
    CHAIN = "cmchain"


START_TYPES = (EventType.ALERT_FIRING, EventType.SOURCE_EVENT, EventType.WORKFLOW_CHAINED)
