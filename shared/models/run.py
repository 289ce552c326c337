"""A run: one execution of a Workflow for one triggering event, kept in Redis.

The workflow spec is pinned into the run when it starts, so editing a Workflow never
changes a run already under way. Step functions read and write runs; events carry only
the run id.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from .resources import StepType, WorkflowSpec


class RunPhase(StrEnum):
    PENDING = "Pending"
    RUNNING = "Running"
    AWAITING_APPROVAL = "AwaitingApproval"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"

    @property
    def done(self) -> bool:
        return self in (RunPhase.SUCCEEDED, RunPhase.FAILED)


class StepPhase(StrEnum):
    PENDING = "Pending"
    RUNNING = "Running"
    AWAITING_APPROVAL = "AwaitingApproval"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    SKIPPED = "Skipped"

    @property
    def done(self) -> bool:
        return self in (StepPhase.SUCCEEDED, StepPhase.FAILED, StepPhase.SKIPPED)


class Next(BaseModel):
    """What was decided after a step ended, replayed verbatim on redelivery."""

    model_config = ConfigDict(frozen=True)

    step: str | None = None
    finish: RunPhase | None = None


class Decision(StrEnum):
    APPROVED = "approved"
    DENIED = "denied"


class Approval(BaseModel):
    """A human gate before a step runs: requested, then approved, denied or expired."""

    requestedAt: str
    expiresAt: str
    decision: Decision | None = None
    decidedBy: str | None = None
    decidedAt: str | None = None


class StepState(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    type: StepType
    phase: StepPhase = StepPhase.PENDING
    output: str = ""
    stderr: str = ""
    result: dict[str, Any] | None = None
    exitCode: int | None = None
    error: str | None = None
    startTime: str | None = None
    completionTime: str | None = None
    attempts: int = 0
    next: Next | None = None
    # agent steps: the tools called (name, arguments, duration, size), tokens used, and
    # the conversation (capped) so a human can see how the answer came about
    toolCalls: list[dict[str, Any]] = Field(default_factory=list)
    usage: dict[str, int] | None = None
    transcript: list[dict[str, Any]] | None = None
    approval: Approval | None = None

    @property
    def success(self) -> bool:
        return self.phase is StepPhase.SUCCEEDED


class Run(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    workflow: str
    source: str | None = None
    eventId: str
    eventType: str
    phase: RunPhase = RunPhase.PENDING
    startTime: str
    completionTime: str | None = None
    spec: WorkflowSpec
    environment: dict[str, str] = Field(default_factory=dict)
    sourceContext: dict[str, str] = Field(default_factory=dict)
    alert: dict[str, Any] | None = None
    data: Any = None
    steps: list[StepState]
    outputs: dict[str, str] = Field(default_factory=dict)
    error: str | None = None
    start: Next | None = None

    @property
    def namespace(self) -> str:
        return self.workflow.split("/", 1)[0]

    @property
    def workflow_name(self) -> str:
        return self.workflow.split("/", 1)[1]

    def state(self, name: str) -> StepState:
        for s in self.steps:
            if s.name == name:
                return s
        raise KeyError(name)

    def to_json(self) -> str:
        return self.model_dump_json()

    @classmethod
    def from_json(cls, raw: str | bytes) -> Run:
        return cls.model_validate_json(raw)

    def summary(self) -> dict[str, Any]:
        """What a `run.finished` event carries: ids, phase and outputs, never step output."""
        alert = self.alert or {}
        return {
            "id": self.id,
            "workflow": self.workflow,
            "source": self.source,
            "phase": self.phase.value,
            "startTime": self.startTime,
            "completionTime": self.completionTime,
            "error": self.error,
            "outputs": self.outputs,
            "alert": {k: alert.get(k) for k in ("alertname", "severity", "summary", "fingerprint")}
            if alert
            else None,
            "steps": [{"name": s.name, "phase": s.phase.value, "error": s.error} for s in self.steps],
        }
