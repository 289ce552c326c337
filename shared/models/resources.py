"""The three custom resources (group cutman.dev, version v1alpha1): Source, Workflow, Sink.

Field names follow the earlier Rust operator so its manifests load after changing only
`apiVersion`. Specs are strict (unknown fields are errors); metadata and status keep
whatever the API server adds.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import Field, PrivateAttr, field_validator, model_validator

from . import kinds
from .base import Loose, Spec

# The enumerations live in `kinds` (no pydantic) and are the same classes here.
Kind = kinds.Kind
SourceType = kinds.SourceType
AuthType = kinds.AuthType
StepType = kinds.StepType
SinkType = kinds.SinkType

GROUP = "cutman.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
STEP_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,62}$")


class ObjectMeta(Loose):
    name: str
    namespace: str = "default"
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    generation: int | None = None
    uid: str | None = None
    resource_version: str | None = None

    @field_validator("name", "namespace")
    @classmethod
    def _dns_label(cls, v: str) -> str:
        if len(v) > 63 or not NAME_RE.match(v):
            raise ValueError(f"{v!r} is not a DNS-1123 label (lowercase letters, digits, '-')")
        return v


class Condition(Loose):
    type: str
    status: Literal["True", "False", "Unknown"]
    reason: str | None = None
    message: str | None = None
    last_transition_time: str | None = None


# --- Source -----------------------------------------------------------------------


class Authentication(Spec):
    type: AuthType
    secret_ref: str | None = None
    header: str | None = None


class Dedupe(Spec):
    enabled: bool = True
    window: str | None = None
    repeat_after: str | None = None
    max_active: str | None = None
    labels: list[str] | None = None


class SourceConfig(Spec):
    """One config block for every source type; `SourceSpec` checks what each type needs."""

    path: str | None = None
    filters: dict[str, list[str]] = Field(default_factory=dict)
    matchers: list[str] = Field(default_factory=list)
    authentication: Authentication | None = None
    dedupe: Dedupe | None = None
    cron: str | None = None
    timezone: str | None = None
    resource: str | None = None
    event: str | None = None
    label_selector: str | None = None
    endpoint: str | None = None
    method: str | None = None

    @field_validator("filters", mode="before")
    @classmethod
    def _scalar_to_list(cls, v: Any) -> Any:
        if isinstance(v, dict):
            return {k: [x] if isinstance(x, str) else x for k, x in v.items()}
        return v

    @field_validator("path")
    @classmethod
    def _path(cls, v: str | None) -> str | None:
        if v is not None and (not v.startswith("/") or any(c.isspace() for c in v)):
            raise ValueError("must start with '/' and contain no spaces")
        return v


class SourceSpec(Spec):
    type: SourceType
    config: SourceConfig = Field(default_factory=SourceConfig)
    trigger_workflow: str | None = None
    context: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _needs(self) -> SourceSpec:
        required = {
            SourceType.WEBHOOK: ("path",),
            SourceType.SCHEDULE: ("cron",),
            SourceType.KUBERNETES: ("resource",),
            SourceType.API: ("endpoint",),
        }[self.type]
        missing = [f for f in required if getattr(self.config, f) is None]
        if missing:
            raise ValueError(f"config.{missing[0]} is required for a {self.type.value} source")
        return self


class SourceStatus(Loose):
    ready: bool | None = None
    last_event_time: str | None = None
    events_processed: int | None = None
    conditions: list[Condition] = Field(default_factory=list)


class Source(Loose):
    api_version: Literal["cutman.dev/v1alpha1"]
    kind: Literal["Source"]
    metadata: ObjectMeta
    spec: SourceSpec
    status: SourceStatus | None = None


# --- Workflow ---------------------------------------------------------------------


class LLMConfig(Spec):
    provider: str = "openai"
    endpoint: str | None = None
    model: str | None = None
    api_key_secret: str | None = None


ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _env_names(v: dict[str, str]) -> dict[str, str]:
    for name in v:
        if not ENV_NAME_RE.match(name):
            raise ValueError(f"{name!r} is not an environment variable name")
    return v


class Runtime(Spec):
    image: str | None = None
    llm_config: LLMConfig | None = None
    environment: dict[str, str] = Field(default_factory=dict)
    # env var name -> secretRef (`name` or `name/key`), resolved at run time, masked in output
    secret_env: dict[str, str] = Field(default_factory=dict)
    # tokens all agent steps of one run may spend together
    token_budget: int | None = Field(default=None, ge=1)

    _secret_env_names = field_validator("secret_env")(_env_names)

    @field_validator("environment", mode="before")
    @classmethod
    def _env_list(cls, v: Any) -> Any:
        """Accept the Kubernetes `[{name, value}]` form as well as a map."""
        if isinstance(v, list):
            return {e["name"]: e.get("value", "") for e in v if isinstance(e, dict) and "name" in e}
        return v


class ToolSpec(Spec):
    name: str
    description: str | None = None
    command: str | None = None
    endpoint: str | None = None
    # curl: hosts it may GET from; command tools: argument name -> description
    allowed_hosts: list[str] = Field(default_factory=list)
    parameters: dict[str, str] = Field(default_factory=dict)


class Step(Spec):
    name: str
    type: StepType
    command: str | None = None
    args: list[str] | None = None
    goal: str | None = None
    tools: list[str | ToolSpec] = Field(default_factory=list)
    max_iterations: int | None = Field(default=None, ge=1, le=100)
    timeout_minutes: float | None = Field(default=None, gt=0, le=24 * 60)
    approval_required: bool = False
    continue_on_error: bool = False
    # May run again after a crash interrupted it (default: agent steps without approval,
    # whose tools are read-only; cli steps only when they say so).
    idempotent: bool | None = None
    condition: str | None = None
    agent: Step | None = None
    secret_env: dict[str, str] = Field(default_factory=dict)
    token_budget: int | None = Field(default=None, ge=1)

    _secret_env_names = field_validator("secret_env")(_env_names)

    @model_validator(mode="before")
    @classmethod
    def _nested_defaults(cls, data: Any) -> Any:
        """The earlier system's conditional steps nest a bare `agent: {goal, tools, ...}`:
        the nested step takes the conditional's name and is an agent step."""
        if isinstance(data, dict) and data.get("type") == StepType.CONDITIONAL.value \
                and isinstance(data.get("agent"), dict):
            nested = dict(data["agent"])
            nested.setdefault("name", data.get("name"))
            nested.setdefault("type", StepType.AGENT.value)
            data = {**data, "agent": nested}
        return data

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not STEP_NAME_RE.match(v):
            raise ValueError("must start with a letter and use letters, digits, '_' or '-' (max 63)")
        return v

    @model_validator(mode="after")
    def _shape(self) -> Step:
        if self.type is StepType.CLI and not (self.command or self.args):
            raise ValueError("a cli step needs `command` (a shell script) or `args`")
        if self.type is StepType.CLI and self.command and self.args:
            raise ValueError("a cli step takes `command` or `args`, not both")
        if self.type is StepType.AGENT and not self.goal:
            raise ValueError("an agent step needs `goal`")
        if self.type is StepType.CONDITIONAL:
            if not self.condition:
                raise ValueError("a conditional step needs `condition`")
            if self.agent is None:
                raise ValueError("a conditional step needs the nested step it runs, in `agent`")
            if self.agent.type is StepType.CONDITIONAL:
                raise ValueError("a conditional step cannot nest another conditional step")
        return self

    @property
    def executor(self) -> StepType:
        """The step type that does the work: a conditional runs its nested step."""
        if self.type is StepType.CONDITIONAL and self.agent is not None:
            return self.agent.type
        return self.type

    @property
    def work(self) -> Step:
        """The step whose command or goal runs (the nested one for a conditional)."""
        return self.agent if self.type is StepType.CONDITIONAL and self.agent else self


class Output(Spec):
    name: str
    value: str


class WorkflowSpec(Spec):
    runtime: Runtime = Field(default_factory=Runtime)
    steps: Annotated[list[Step], Field(min_length=1)]
    outputs: list[Output] = Field(default_factory=list)
    sinks: list[str] = Field(default_factory=list)
    timeout_minutes: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _unique(self) -> WorkflowSpec:
        seen: set[str] = set()
        for step in self.steps:
            if step.name in seen:
                raise ValueError(f"step name {step.name!r} is used twice")
            seen.add(step.name)
        names = [o.name for o in self.outputs]
        if len(names) != len(set(names)):
            raise ValueError("output names must be unique")
        return self

    def step(self, name: str) -> Step | None:
        return next((s for s in self.steps if s.name == name), None)


class WorkflowStatus(Loose):
    last_run: str | None = None
    phase: str | None = None
    runs_total: int | None = None
    runs_succeeded: int | None = None
    runs_failed: int | None = None
    conditions: list[Condition] = Field(default_factory=list)


class Workflow(Loose):
    api_version: Literal["cutman.dev/v1alpha1"]
    kind: Literal["Workflow"]
    metadata: ObjectMeta
    spec: WorkflowSpec
    status: WorkflowStatus | None = None


# --- Sink -------------------------------------------------------------------------


class SinkConfig(Spec):
    """Every field any sink type takes: the CRD's schema (the API server prunes fields it
    does not list). Which fields a type accepts, and their rules, is its plugin's params
    model (`cutman.sinks.<type>.Params`); `SinkSpec` validates the config against it, so a
    field of another type is refused by name. A unit test keeps the two in step."""

    # common to every type
    template: str | None = None
    approval_template: str | None = Field(
        default=None, description="What to send when a run waits for approval (default: a line with the links)")
    context: dict[str, str] | None = None
    timeout_seconds: float | None = Field(default=None, gt=0, le=300)
    # slack
    channel: str | None = None
    bot_token: str | None = None
    webhook_url_secret: str | None = None
    message_type: Literal["message", "thread"] | None = None
    mention_users: list[str] | None = None
    # alertmanager, webhook, jira, s3
    endpoint: str | None = None
    action: str | None = None
    duration: str | None = None
    # prometheus
    pushgateway: str | None = None
    job: str | None = None
    metrics: dict[str, str] | None = None
    labels: dict[str, str] | None = None
    # jira
    project: str | None = None
    issue_type: str | None = None
    summary: str | None = None
    credentials_secret: str | None = None
    # pagerduty
    routing_key: str | None = None
    severity: str | None = None
    # workflow
    workflow_name: str | None = None
    trigger_condition: str | None = None
    # stdout
    format: Literal["json", "text"] | None = None
    pretty: bool | None = None
    # s3
    bucket: str | None = None
    region: str | None = None
    prefix: str | None = None
    # webhook
    method: str | None = None
    headers: dict[str, str] | None = None
    headers_secret: str | None = None
    secret_ref: str | None = None
    signature_header: str | None = None


class SinkSpec(Spec):
    type: SinkType
    config: SinkConfig = Field(default_factory=SinkConfig)
    condition: str | None = None
    _params: Any = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _typed(self) -> SinkSpec:
        """The config against its type's params model (the discriminated union on `type`)."""
        from ..sinks.params import validate_params

        self._params = validate_params(self.type, self.config.model_dump(by_alias=True, exclude_unset=True))
        return self

    @property
    def params(self) -> Any:
        """The type's own params model (`cutman.sinks.<type>.Params`)."""
        return self._params


class SinkStatus(Loose):
    ready: bool | None = None
    last_sent_time: str | None = None
    messages_sent: int | None = None
    last_error: str | None = None
    conditions: list[Condition] = Field(default_factory=list)


class Sink(Loose):
    api_version: Literal["cutman.dev/v1alpha1"]
    kind: Literal["Sink"]
    metadata: ObjectMeta
    spec: SinkSpec
    status: SinkStatus | None = None


Resource = Source | Workflow | Sink
MODELS: dict[Kind, type[Source | Workflow | Sink]] = {
    Kind.SOURCE: Source,
    Kind.WORKFLOW: Workflow,
    Kind.SINK: Sink,
}
