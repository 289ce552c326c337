"""Alerts as Alertmanager sends them (webhook payload v4) and as cutman carries them."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator


class AMAlert(BaseModel):
    """One alert of an Alertmanager webhook; unknown fields are kept for newer versions."""

    model_config = ConfigDict(extra="allow")

    status: str
    labels: dict[str, str]
    annotations: dict[str, str] = Field(default_factory=dict)
    startsAt: str | None = None
    endsAt: str | None = None
    generatorURL: str | None = None
    fingerprint: str | None = None

    @field_validator("status")
    @classmethod
    def _status(cls, v: str) -> str:
        if v not in ("firing", "resolved"):
            raise ValueError("must be 'firing' or 'resolved'")
        return v


class AMWebhook(BaseModel):
    """Alertmanager webhook payload, version 4."""

    model_config = ConfigDict(extra="allow")

    version: str | None = None
    groupKey: str | None = None
    truncatedAlerts: int = 0
    status: str | None = None
    receiver: str | None = None
    groupLabels: dict[str, str] = Field(default_factory=dict)
    commonLabels: dict[str, str] = Field(default_factory=dict)
    commonAnnotations: dict[str, str] = Field(default_factory=dict)
    externalURL: str | None = None
    alerts: list[AMAlert]


class Alert(BaseModel):
    """The alert carried in `dev.cutman.alert.*` events and pinned in a run."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    status: str
    labels: dict[str, str]
    annotations: dict[str, str] = Field(default_factory=dict)
    startsAt: str | None = None
    endsAt: str | None = None
    generatorURL: str | None = None
    fingerprint: str
    amFingerprint: str | None = None
    alertname: str = ""
    severity: str = ""
    summary: str = ""
    description: str = ""

    @classmethod
    def from_am(cls, am: AMAlert, *, fingerprint: str) -> Alert:
        return cls(
            status=am.status,
            labels=am.labels,
            annotations=am.annotations,
            startsAt=am.startsAt,
            endsAt=am.endsAt,
            generatorURL=am.generatorURL,
            fingerprint=fingerprint,
            amFingerprint=am.fingerprint,
            alertname=am.labels.get("alertname", ""),
            severity=am.labels.get("severity", ""),
            summary=am.annotations.get("summary", ""),
            description=am.annotations.get("description", ""),
        )

    def data(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def alert_data(am: AMAlert, *, fingerprint: str) -> dict[str, Any]:
    """`Alert.from_am(am, fingerprint=...).data()`, built without the model.

    Constructing and dumping the model for every emitted alert was an eighth of ingest's
    CPU per new alert (issue 12); `am` is validated already. A unit test keeps the two
    equal, field for field and in order.
    """
    labels, annotations = dict(am.labels), dict(am.annotations)
    return {
        "status": am.status,
        "labels": labels,
        "annotations": annotations,
        "startsAt": am.startsAt,
        "endsAt": am.endsAt,
        "generatorURL": am.generatorURL,
        "fingerprint": fingerprint,
        "amFingerprint": am.fingerprint,
        "alertname": labels.get("alertname", ""),
        "severity": labels.get("severity", ""),
        "summary": annotations.get("summary", ""),
        "description": annotations.get("description", ""),
    }
