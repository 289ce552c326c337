"""Each function's func.yaml carries what deploy/knative's Service sets, so `func deploy`
matches `kubectl apply -k` (env incl. Secret/ConfigMap references in func's template
syntax, ServiceAccount, labels such as cluster-local, scale and resources). The rendered
Services come from the real kustomize (see test_manifests_validate)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.unit.test_manifests_validate import objects

REPO = Path(__file__).resolve().parents[2]
FUNCTIONS = ["ingest", "step-cli", "step-agent", "sink", "reconciler"]


def _func_env(entry: dict[str, Any]) -> str:
    if "value" in entry:
        return str(entry["value"])
    ref = entry["valueFrom"]
    if "fieldRef" in ref:
        assert ref["fieldRef"]["fieldPath"] == "metadata.namespace"
        return "cutman"
    if "secretKeyRef" in ref:
        return f"{{{{ secret:{ref['secretKeyRef']['name']}:{ref['secretKeyRef']['key']} }}}}"
    return f"{{{{ configMap:{ref['configMapKeyRef']['name']}:{ref['configMapKeyRef']['key']} }}}}"


@pytest.mark.parametrize("name", FUNCTIONS)
def test_func_yaml_matches_the_knative_service(name: str) -> None:
    meta = yaml.safe_load((REPO / "functions" / name / "func.yaml").read_text())
    svc = next(d for d in objects() if d["kind"] == "Service" and d["metadata"]["name"] == f"cutman-{name}"
               and d["apiVersion"] == "serving.knative.dev/v1")
    tmpl = svc["spec"]["template"]
    container = tmpl["spec"]["containers"][0]
    expected_env = {e["name"]: _func_env(e) for e in container["env"] if e["name"] != "CUTMAN_FUNCTION"}
    assert {e["name"]: e["value"] for e in meta["run"]["envs"]} == expected_env
    deploy = meta["deploy"]
    assert deploy["namespace"] == svc["metadata"]["namespace"] == meta["namespace"]
    assert deploy.get("serviceAccountName") == tmpl["spec"].get("serviceAccountName")
    assert {lbl["key"]: lbl["value"] for lbl in deploy["labels"]} == svc["metadata"]["labels"]
    ann = tmpl["metadata"]["annotations"]
    scale = deploy["options"]["scale"]
    assert (str(scale["min"]), str(scale["max"]), scale["metric"], str(scale["target"])) == (
        ann["autoscaling.knative.dev/min-scale"], ann["autoscaling.knative.dev/max-scale"],
        ann["autoscaling.knative.dev/metric"], ann["autoscaling.knative.dev/target"])
    assert deploy["options"]["resources"] == container["resources"]
    assert deploy["healthEndpoints"]["readiness"] == container["readinessProbe"]["httpGet"]["path"]
    assert meta["build"]["buildEnvs"] == [{"name": "PIP_FIND_LINKS", "value": "wheels"}]
    assert f"timeoutSeconds ({tmpl['spec']['timeoutSeconds']} s" in (REPO / "functions" / name / "func.yaml").read_text()
