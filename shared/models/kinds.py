"""The enumerations of the custom resources (kinds, source, step and sink types).

Apart from the pydantic models in `resources` (which re-exports them): the functions name
these at start-up and in routing, and importing them costs nothing, while the models
cost a few hundred million instructions to build.
"""

from __future__ import annotations

from enum import StrEnum


class Kind(StrEnum):
    SOURCE = "Source"
    WORKFLOW = "Workflow"
    SINK = "Sink"

    @property
    def plural(self) -> str:
        return self.value.lower() + "s"


class SourceType(StrEnum):
    WEBHOOK = "webhook"
    SCHEDULE = "schedule"
    KUBERNETES = "kubernetes"
    API = "api"


class AuthType(StrEnum):
    BEARER = "bearer"
    HMAC = "hmac"


class StepType(StrEnum):
    CLI = "cli"
    AGENT = "agent"
    CONDITIONAL = "conditional"


class SinkType(StrEnum):
    SLACK = "slack"
    ALERTMANAGER = "alertmanager"
    PROMETHEUS = "prometheus"
    JIRA = "jira"
    PAGERDUTY = "pagerduty"
    WORKFLOW = "workflow"
    STDOUT = "stdout"
    WEBHOOK = "webhook"
    S3 = "s3"
