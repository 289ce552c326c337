"""Every manifest in deploy/knative validates: Knative kinds against the real Knative CRD
schemas (tests/fixtures/knative-schemas, copied from knative/eventing and
knative/serving), cutman kinds against deploy/knative/crds.yaml, built-in kinds against
kubernetes-validate. Unknown fields are errors wherever a schema lists `properties`.
No doubles; the Alertmanager snippet is checked by the real `amtool`."""

from __future__ import annotations

import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from tests.k8s_schema import crd_schemas, errors, knative_schemas

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy" / "knative"
K8S_VERSION = "1.33"


def _docs() -> list[tuple[str, dict[str, Any]]]:
    out = []
    for path in sorted(DEPLOY.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        out += [(f"{path.name} #{i}", d) for i, d in enumerate(yaml.safe_load_all(path.read_text())) if d]
    return out


@cache
def _cutman_schemas() -> dict[tuple[str, str], dict[str, Any]]:
    return crd_schemas(list(yaml.safe_load_all((DEPLOY / "crds.yaml").read_text())))


def schema_errors(doc: dict[str, Any]) -> list[str]:
    """Validate one object by whichever schema owns its kind; fail on kinds nobody owns."""
    key = (doc["apiVersion"], doc["kind"])
    knative = knative_schemas()
    if key in knative:
        return errors(knative[key], doc)
    cutman = _cutman_schemas()
    if key in cutman:
        return errors(cutman[key], doc)
    try:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        return [f"{'.'.join(str(p) for p in exc.path)}: {exc.message}"]
    return []


DOCS = _docs()


@pytest.mark.parametrize(("where", "doc"), DOCS, ids=[w for w, _ in DOCS])
def test_manifest_validates(where: str, doc: dict[str, Any]) -> None:
    assert schema_errors(doc) == [], where


def test_kustomization_lists_every_manifest() -> None:
    kust = yaml.safe_load((DEPLOY / "kustomization.yaml").read_text())
    files = {p.name for p in DEPLOY.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(kust["resources"]) == files
    assert kust["namespace"] == "cutman"


def test_install_has_the_pieces() -> None:
    kinds = {(d["kind"], d["metadata"]["name"]) for _, d in DOCS}
    for name in ("ingest", "step-cli", "step-agent", "sink", "reconciler"):
        assert ("Service", f"cutman-{name}") in kinds
    for piece in [("Broker", "default"), ("ApiServerSource", "cutman-resources"),
                  ("SinkBinding", "cutman-ingest"), ("Deployment", "cutman-redis"),
                  ("Role", "cutman-reconciler"), ("CustomResourceDefinition", "workflows.cutman.dev"),
                  ("ServiceAccount", "cutman-source-watcher")]:
        assert piece in kinds


def test_functions_scale_to_zero_with_readiness() -> None:
    services = [d for _, d in DOCS if d["kind"] == "Service" and d["apiVersion"].startswith("serving")]
    for svc in services:
        tmpl = svc["spec"]["template"]
        assert tmpl["metadata"]["annotations"]["autoscaling.knative.dev/min-scale"] == "0"
        container = tmpl["spec"]["containers"][0]
        assert container["resources"]["requests"]
        if container["image"] == "cutman":
            assert container["readinessProbe"]["httpGet"]["path"] == "/health/readiness"
            assert tmpl["spec"]["timeoutSeconds"] > 0


def test_planned_api_server_sources_use_the_installed_watcher_account() -> None:
    from cutman.core.watch_planning import WATCHER_SA

    role = next(d for _, d in DOCS if d["kind"] == "ClusterRole" and d["metadata"]["name"] == WATCHER_SA)
    assert all(set(r["verbs"]) <= {"get", "list", "watch"} for r in role["rules"])
    binding = next(d for _, d in DOCS if d["kind"] == "ClusterRoleBinding" and d["metadata"]["name"] == WATCHER_SA)
    assert binding["roleRef"]["name"] == WATCHER_SA and binding["subjects"][0]["name"] == WATCHER_SA


def test_reconciler_role_is_least_privilege() -> None:
    """Objects it creates: a Role in the installation namespace only. Cluster-wide: reading
    the CRs and writing their status, and `get` on the named Secrets, nothing else."""
    role = next(d for _, d in DOCS if d["kind"] == "Role" and d["metadata"]["name"] == "cutman-reconciler")
    assert {g for r in role["rules"] for g in r["apiGroups"]} == {"eventing.knative.dev", "sources.knative.dev"}
    crs = next(d for _, d in DOCS if d["kind"] == "ClusterRole" and d["metadata"]["name"] == "cutman-reconciler")
    assert {g for r in crs["rules"] for g in r["apiGroups"]} == {"cutman.dev"}
    assert all(set(r["verbs"]) <= {"get", "list", "watch", "update", "patch"} for r in crs["rules"])
    assert all(set(r["verbs"]) <= {"get", "list", "watch"} for r in crs["rules"] if "sources" in r["resources"])
    role = next(d for _, d in DOCS if d["kind"] == "ClusterRole" and d["metadata"]["name"] == "cutman-reconciler-secrets")
    for rule in role["rules"]:
        assert "*" not in rule["verbs"] and "*" not in rule["resources"]
        assert rule["resources"] == ["secrets"]
        assert rule["verbs"] == ["get"] and rule["resourceNames"]
    env_only = {ref["secretKeyRef"]["name"] for ref in _env_secret_refs()}
    secrets = {d["metadata"]["name"] for _, d in DOCS if d["kind"] == "Secret"} - env_only
    names = next(r["resourceNames"] for r in role["rules"] if "secrets" in r["resources"])
    assert secrets <= set(names)
    assert not env_only & set(names), "Secrets given to functions as env need no API access"


def _env_secret_refs() -> list[dict[str, Any]]:
    refs = []
    for _, d in DOCS:
        if d["kind"] == "Service" and d["apiVersion"] == "serving.knative.dev/v1":
            for c in d["spec"]["template"]["spec"]["containers"]:
                refs += [e["valueFrom"] for e in c.get("env", []) if "secretKeyRef" in e.get("valueFrom", {})]
    return refs


def test_approval_key_reaches_the_functions_that_sign_or_check_links() -> None:
    users = {d["metadata"]["name"] for _, d in DOCS if d["apiVersion"] == "serving.knative.dev/v1"
             and any(e["name"] == "CUTMAN_APPROVAL_KEY"
                     for c in d["spec"]["template"]["spec"]["containers"] for e in c.get("env", []))}
    assert users == {"cutman-ingest", "cutman-step-cli", "cutman-step-agent"}
    secret = next(d for _, d in DOCS if d["kind"] == "Secret" and d["metadata"]["name"] == "cutman-approvals")
    assert set(secret["stringData"]) == {"key", "publicURL"}


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        ({"apiVersion": "eventing.knative.dev/v1", "kind": "Trigger", "metadata": {"name": "t"},
          "spec": {"broker": "default", "subscriber": {"reff": {"kind": "Service"}}}}, "reff"),
        ({"apiVersion": "eventing.knative.dev/v1", "kind": "Broker", "metadata": {"name": "b"},
          "spek": {}}, "spek"),
        ({"apiVersion": "sources.knative.dev/v1", "kind": "PingSource", "metadata": {"name": "p"},
          "spec": {"schedule": "* * * * *", "sink": {"uri": "http://x"}, "timezon": "UTC"}}, "timezon"),
        ({"apiVersion": "serving.knative.dev/v1", "kind": "Service", "metadata": {"name": "k"},
          "spec": {"template": {"spec": {"containers": [{"image": "x", "readinesProbe": {}}]}}}},
         "readinesProbe"),
        ({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"},
          "spec": {"portz": []}}, "portz"),
    ],
)
def test_typos_are_caught(doc: dict[str, Any], expected: str) -> None:
    assert any(expected in e for e in schema_errors(doc)), schema_errors(doc)


@pytest.mark.alertmanager
def test_alertmanager_snippet_is_valid_config() -> None:
    amtool = shutil.which("amtool")
    assert amtool, "amtool comes with the prometheus-alertmanager Debian package (make deps-test)"
    snippet = DEPLOY / "alertmanager" / "receiver.yaml"
    result = subprocess.run([amtool, "check-config", str(snippet)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    url = yaml.safe_load(snippet.read_text())["receivers"][0]["webhook_configs"][0]["url"]
    assert url.startswith("http://cutman-ingest.cutman.svc")
