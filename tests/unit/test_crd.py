"""CRDs generated from the pydantic models: in sync with deploy/knative/base/crds.yaml, valid
CustomResourceDefinitions (kubernetes-validate), and their schemas accept what the models
accept and refuse typos. No doubles."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from cutman.models.crd import crd, render
from cutman.models.manifests import ManifestError, parse_resource
from cutman.models.resources import Kind

from tests.k8s_schema import crd_schemas, errors

REPO = Path(__file__).resolve().parents[2]
CRDS = REPO / "deploy" / "knative" / "base" / "crds.yaml"
K8S_VERSION = "1.33"


def test_crds_yaml_matches_the_models() -> None:
    assert CRDS.read_text() == render(), (
        "deploy/knative/base/crds.yaml drifted from shared/models/resources.py; regenerate with `make crds` or "
        "`.venv/bin/python -m cutman.models.crd > deploy/knative/base/crds.yaml`"
    )


@pytest.mark.parametrize("kind", list(Kind))
def test_crd_is_a_valid_custom_resource_definition(kind: Kind) -> None:
    kubernetes_validate.validate(crd(kind), K8S_VERSION, strict=True)


def test_kubernetes_validate_catches_a_misplaced_field() -> None:
    bad = crd(Kind.SINK)
    bad["spec"]["versions"][0]["printerColumns"] = []
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, K8S_VERSION, strict=True)


def _schemas() -> dict[tuple[str, str], dict[str, Any]]:
    return crd_schemas(list(yaml.safe_load_all(CRDS.read_text())))


def _examples() -> list[dict[str, Any]]:
    docs = []
    for path in sorted((REPO / "deploy" / "examples").glob("*.yaml")):
        docs += [d for d in yaml.safe_load_all(path.read_text()) if d and d.get("kind") in set(Kind)]
    return docs


def test_examples_valid_under_both_models_and_crd_schema() -> None:
    schemas = _schemas()
    docs = _examples()
    assert {d["kind"] for d in docs} == {"Source", "Workflow", "Sink"}
    for doc in docs:
        parse_resource(doc)
        assert errors(schemas[(doc["apiVersion"], doc["kind"])], doc) == [], doc["metadata"]


def _workflow() -> dict[str, Any]:
    return {
        "apiVersion": "cutman.dev/v1alpha1", "kind": "Workflow",
        "metadata": {"name": "triage"},
        "spec": {
            "steps": [
                {"name": "look", "type": "cli", "command": "echo hi", "timeoutMinutes": 2},
                {"name": "ask", "type": "agent", "goal": "why", "tools": ["kubectl", {"name": "curl"}]},
                {"name": "maybe", "type": "conditional", "condition": "{{ true }}",
                 "agent": {"name": "inner", "type": "cli", "args": ["echo", "x"]}},
            ],
            "sinks": ["slack"],
            "runtime": {"environment": [{"name": "A", "value": "b"}]},
        },
    }


def test_unions_and_nested_step_accepted() -> None:
    wf = _workflow()
    parse_resource(wf)
    assert errors(_schemas()[("cutman.dev/v1alpha1", "Workflow")], wf) == []


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        (("spec", "steps", 0, "comand"), "x", "comand"),
        (("spec", "steps", 0, "type"), "shell", "'shell' is not one of"),
        (("spec", "steps", 0, "timeoutMinutes"), 0, "minimum"),
        (("spec", "steps", 1, "maxIterations"), 101, "maximum"),
        (("spec", "sinks"), "slack", "is not of type 'array'"),
    ],
)
def test_crd_schema_refuses_what_the_model_refuses(
    path: tuple[Any, ...], value: Any, expected: str
) -> None:
    wf = copy.deepcopy(_workflow())
    node: Any = wf
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    found = errors(_schemas()[("cutman.dev/v1alpha1", "Workflow")], wf)
    assert any(expected in line for line in found), found
    with pytest.raises(ManifestError):
        parse_resource(wf)


def test_steps_are_required_and_status_keeps_unknown_fields() -> None:
    schema = _schemas()[("cutman.dev/v1alpha1", "Workflow")]
    wf = _workflow()
    wf["status"] = {"phase": "Succeeded", "observedGeneration": 3}
    assert errors(schema, wf) == []
    del wf["spec"]["steps"]
    assert any("'steps' is a required property" in e for e in errors(schema, wf))


def test_printer_columns_short_names_categories() -> None:
    wf = crd(Kind.WORKFLOW)
    version = wf["spec"]["versions"][0]
    names = [c["name"] for c in version["additionalPrinterColumns"]]
    assert names[:3] == ["Steps", "Last Run", "Phase"] and names[-1] == "Age"
    assert version["subresources"] == {"status": {}}
    for kind in Kind:
        spec = crd(kind)["spec"]
        assert spec["names"]["shortNames"] and spec["names"]["categories"] == ["cutman"]
        assert crd(kind)["metadata"]["name"] == f"{kind.plural}.cutman.dev"


def test_source_type_enum_and_descriptions() -> None:
    spec = crd(Kind.SOURCE)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    assert spec["properties"]["type"]["enum"] == ["webhook", "schedule", "kubernetes", "api"]
    assert spec["required"] == ["type"]
    assert "Workflow" in spec["properties"]["triggerWorkflow"]["description"]
