"""CustomResourceDefinitions for Source, Workflow and Sink, generated from the pydantic models.

The models are the single source of truth: `python -m cutman.models.crd >
deploy/knative/base/crds.yaml` regenerates the YAML, and a unit test fails when the two drift.
Pydantic's JSON Schema is turned into a Kubernetes *structural* schema: `$ref`s inlined,
`Optional[X]` becomes X, `Literal`/enums become `enum`, `exclusiveMinimum` takes the
OpenAPI 3.0 boolean form. Where the models accept a shape a structural schema cannot
express, the node keeps `x-kubernetes-preserve-unknown-fields` and the reconciler's
pydantic validation (which names the field) stays the real check:
- `Step.tools` items: a tool is a name *or* an object (`str | ToolSpec`);
- `Step.agent`: the nested step of a conditional (structural schemas cannot recurse);
- `SourceConfig.filters` values and `Runtime.environment`: the models also accept a
  scalar value / the Kubernetes `[{name, value}]` list form of older manifests;
- `SinkConfig.metrics`: free-form objects;
- `status`: keeps fields the API server or newer reconcilers add.
"""

from __future__ import annotations

import sys
from typing import Any

import yaml
from pydantic import BaseModel

from .resources import (
    GROUP,
    VERSION,
    Kind,
    SinkSpec,
    SinkStatus,
    SourceSpec,
    SourceStatus,
    WorkflowSpec,
    WorkflowStatus,
)

PRESERVE = "x-kubernetes-preserve-unknown-fields"
CATEGORIES = ["cutman"]
SHORT_NAMES = {Kind.SOURCE: ["cmsrc"], Kind.WORKFLOW: ["cmwf"], Kind.SINK: ["cmsink"]}
SPECS: dict[Kind, tuple[type[BaseModel], type[BaseModel]]] = {
    Kind.SOURCE: (SourceSpec, SourceStatus),
    Kind.WORKFLOW: (WorkflowSpec, WorkflowStatus),
    Kind.SINK: (SinkSpec, SinkStatus),
}

# Fields whose model accepts more than one shape: (model title, property) -> description.
LOOSE_FIELDS: dict[tuple[str, str], tuple[str | None, str]] = {
    ("SourceConfig", "filters"): (
        "object", "Label name to allowed values: a list, or one value as a string."),
    ("Runtime", "environment"): (None, "Environment for steps: a map, or a list of {name, value}."),
    ("Step", "agent"): (
        "object", "The step a conditional runs when its condition holds (a cli or agent step)."),
}
LOOSE_ITEMS: dict[tuple[str, str], str] = {
    ("Step", "tools"): "A tool: its name, or {name, description, command, endpoint, ...}.",
    ("SinkConfig", "metrics"): "A metric to push (free-form object).",
}

# Status fields the reconciler writes for display (printer columns) beyond the model's.
STATUS_EXTRA: dict[Kind, dict[str, Any]] = {
    Kind.WORKFLOW: {"steps": {"type": "string", "description": "Step names, in order."}},
}

DESCRIPTIONS: dict[str, str] = {
    "Source": "Where events come from (a webhook path, a schedule, Kubernetes objects, an API) "
    "and the Workflow they start.",
    "Workflow": "Steps run in order for each event of its Sources, then results go to its Sinks.",
    "Sink": "Where a finished run's result is delivered.",
    "SourceSpec.type": "webhook, schedule (becomes a PingSource), kubernetes (becomes an "
    "ApiServerSource) or api.",
    "SourceSpec.triggerWorkflow": "Name of the Workflow (same namespace) each event starts.",
    "SourceSpec.context": "Strings visible to templates as .source.context.",
    "SourceConfig.path": "Webhook path served by ingest, e.g. /webhook/alerts.",
    "SourceConfig.matchers": "Alertmanager matcher strings an alert must satisfy.",
    "SourceConfig.cron": "Schedule source: a cron expression.",
    "SourceConfig.resource": "Kubernetes source: the resource to watch, e.g. v1/Pod.",
    "Authentication.secretRef": "Secret holding the token (`name` or `name/key`).",
    "WorkflowSpec.steps": "Steps, run in order; names are unique.",
    "WorkflowSpec.sinks": "Names of Sinks (same namespace) that receive the finished run.",
    "WorkflowSpec.outputs": "Named templates rendered after the last step.",
    "Step.name": "Unique in the workflow; templates read its result as .steps.<name>.",
    "Step.type": "cli (a shell script), agent (an LLM with tools) or conditional.",
    "Step.command": "cli: a shell script; template expressions become quoted variables.",
    "Step.goal": "agent: what the agent must find out or do.",
    "Step.condition": "conditional: a template that must render truthy for the step to run.",
    "Step.approvalRequired": "Wait for a human before running (and allow write tools).",
    "SinkSpec.type": "Where results go.",
    "SinkSpec.condition": "A template; the sink is skipped unless it renders truthy.",
    "WorkflowStatus.lastRun": "Id of the most recent run.",
    "WorkflowStatus.phase": "Phase of the most recent run.",
    "SourceStatus.eventsProcessed": "Events accepted by ingest for this source.",
    "SinkStatus.messagesSent": "Results delivered by this sink.",
}


def _resolve(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref")
    if ref:
        return dict(defs[ref.rsplit("/", 1)[-1]])
    return node


def _structural(node: dict[str, Any], defs: dict[str, Any], stack: tuple[str, ...]) -> dict[str, Any]:
    node = _resolve(node, defs)
    any_of = [n for n in node.get("anyOf", []) if n.get("type") != "null"]
    if "anyOf" in node:
        if len(any_of) == 1:
            merged = {k: v for k, v in node.items() if k != "anyOf"}
            return {**_structural(any_of[0], defs, stack), **_keep(merged)}
        return {PRESERVE: True, **_keep(node)}
    title = node.get("title", "")
    if node.get("type") == "object" and "properties" in node:
        if title in stack:
            return {"type": "object", PRESERVE: True}
        return _object(node, defs, (*stack, title))
    out: dict[str, Any] = {}
    if "const" in node:
        out["enum"] = [node["const"]]
    for key in ("type", "enum", "minimum", "maximum", "minLength", "maxLength", "minItems",
                "maxItems", "pattern", "format"):
        if key in node:
            out[key] = node[key]
    if "exclusiveMinimum" in node:
        out["minimum"], out["exclusiveMinimum"] = node["exclusiveMinimum"], True
    if "exclusiveMaximum" in node:
        out["maximum"], out["exclusiveMaximum"] = node["exclusiveMaximum"], True
    if "enum" in out and "type" not in out:
        out["type"] = "string"
    if node.get("type") == "array":
        out["items"] = _structural(node.get("items", {}), defs, stack)
    if node.get("type") == "object":
        extra = node.get("additionalProperties")
        if isinstance(extra, dict) and extra:
            out["additionalProperties"] = _structural(extra, defs, stack)
        else:
            out[PRESERVE] = True
    if not out.get("type") and not out.get(PRESERVE):
        out[PRESERVE] = True
    return out


def _keep(node: dict[str, Any]) -> dict[str, Any]:
    return {k: node[k] for k in ("description",) if k in node}


def _object(node: dict[str, Any], defs: dict[str, Any], stack: tuple[str, ...]) -> dict[str, Any]:
    title = stack[-1]
    props: dict[str, Any] = {}
    for name, sub in node["properties"].items():
        if (title, name) in LOOSE_FIELDS:
            kind, loose = LOOSE_FIELDS[(title, name)]
            props[name] = {**({"type": kind} if kind else {}), PRESERVE: True, "description": loose}
            continue
        schema = _structural(sub, defs, stack)
        if (title, name) in LOOSE_ITEMS:
            schema["items"] = {PRESERVE: True, "description": LOOSE_ITEMS[(title, name)]}
        text = DESCRIPTIONS.get(f"{title}.{name}")
        if text:
            schema["description"] = text
        props[name] = schema
    out: dict[str, Any] = {"type": "object"}
    if node.get("description") and title not in {"Spec", "Loose"}:
        out["description"] = " ".join(node["description"].split())
    out["properties"] = props
    if node.get("required"):
        out["required"] = list(node["required"])
    if node.get("additionalProperties") is True:
        out[PRESERVE] = True
    return out


def model_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The structural OpenAPI v3 schema of one model (spec or status)."""
    raw = model.model_json_schema(by_alias=True, mode="validation")
    return _structural(raw, raw.get("$defs", {}), ())


def _columns(kind: Kind) -> list[dict[str, Any]]:
    ready = {"name": "Ready", "type": "string",
             "jsonPath": '.status.conditions[?(@.type=="Ready")].status'}
    age = {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}
    if kind is Kind.WORKFLOW:
        return [
            {"name": "Steps", "type": "string", "jsonPath": ".status.steps"},
            {"name": "Last Run", "type": "string", "jsonPath": ".status.lastRun"},
            {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
            ready, age,
        ]
    if kind is Kind.SOURCE:
        return [
            {"name": "Type", "type": "string", "jsonPath": ".spec.type"},
            {"name": "Workflow", "type": "string", "jsonPath": ".spec.triggerWorkflow"},
            {"name": "Events", "type": "integer", "jsonPath": ".status.eventsProcessed"},
            ready, age,
        ]
    return [
        {"name": "Type", "type": "string", "jsonPath": ".spec.type"},
        {"name": "Sent", "type": "integer", "jsonPath": ".status.messagesSent"},
        ready, age,
    ]


def crd(kind: Kind) -> dict[str, Any]:
    spec_model, status_model = SPECS[kind]
    status = model_schema(status_model)
    status["properties"].update(STATUS_EXTRA.get(kind, {}))
    status["properties"]["observedGeneration"] = {
        "type": "integer", "description": "The metadata.generation the reconciler last saw."}
    status[PRESERVE] = True
    schema = {
        "type": "object",
        "description": DESCRIPTIONS[kind.value],
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": model_schema(spec_model),
            "status": status,
        },
        "required": ["spec"],
    }
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"{kind.plural}.{GROUP}",
            "labels": {"app.kubernetes.io/part-of": "cutman"},
        },
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": kind.value,
                "listKind": f"{kind.value}List",
                "plural": kind.plural,
                "singular": kind.value.lower(),
                "shortNames": SHORT_NAMES[kind],
                "categories": CATEGORIES,
            },
            "versions": [{
                "name": VERSION,
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "additionalPrinterColumns": _columns(kind),
                "schema": {"openAPIV3Schema": schema},
            }],
        },
    }


def render() -> str:
    """deploy/knative/base/crds.yaml, byte for byte."""
    head = "# Generated by `python -m cutman.models.crd` from shared/models/resources.py; do not edit.\n"
    docs = [yaml.safe_dump(crd(k), sort_keys=False, width=100) for k in Kind]
    return head + "---\n".join(docs)


if __name__ == "__main__":
    sys.stdout.write(render())
