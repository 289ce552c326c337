"""Every object of every install validates: `deploy/knative` (production defaults) and each
overlay under deploy/knative/overlays are rendered by the real kustomize (`kustomize`, else
`kubectl kustomize`), and each rendered object is checked: Knative kinds against the real
Knative CRD schemas (tests/fixtures/knative-schemas, copied from knative/eventing,
knative/serving and knative-extensions/eventing-rabbitmq), cutman kinds against
deploy/knative/base/crds.yaml, built-in kinds against kubernetes-validate. Unknown fields
are errors wherever a schema lists `properties`. No doubles; the Alertmanager snippet is
checked by the real `amtool`."""

from __future__ import annotations

import re
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
BASE = DEPLOY / "base"
K8S_VERSION = "1.33"
OVERLAYS = sorted(p.parent.name for p in (DEPLOY / "overlays").glob("*/kustomization.yaml"))
INSTALLS = ["production", *OVERLAYS]


def kustomize_command() -> list[str]:
    """The real kustomize: the standalone binary, else kubectl's built-in (kustomize v4+)."""
    if shutil.which("kustomize"):
        return ["kustomize", "build"]
    kubectl = shutil.which("kubectl")
    assert kubectl, "kustomize or kubectl is needed to render deploy/knative (make deps-test)"
    version = subprocess.run([kubectl, "version", "--client", "-o", "json"], capture_output=True,
                             text=True, check=False).stdout
    assert '"kustomizeVersion": "v' in version and '"kustomizeVersion": "v2' not in version \
        and '"kustomizeVersion": "v3' not in version, \
        f"kubectl's kustomize is too old for deploy/knative (needs v4+): {version[-200:]}"
    return [kubectl, "kustomize"]


@cache
def rendered(install: str) -> tuple[dict[str, Any], ...]:
    path = DEPLOY if install == "production" else DEPLOY / "overlays" / install
    done = subprocess.run([*kustomize_command(), str(path)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    return tuple(d for d in yaml.safe_load_all(done.stdout) if d)


def _docs() -> list[tuple[str, dict[str, Any]]]:
    out = []
    for install in INSTALLS:
        out += [(f"{install}: {d['kind']} {d['metadata']['name']}", d) for d in rendered(install)]
    return out


def objects(install: str = "production") -> list[dict[str, Any]]:
    return list(rendered(install))


@cache
def _cutman_schemas() -> dict[tuple[str, str], dict[str, Any]]:
    return crd_schemas(list(yaml.safe_load_all((BASE / "crds.yaml").read_text())))


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


def test_every_install_is_rendered_and_namespaced() -> None:
    assert set(INSTALLS) >= {"production", "dev", "rabbitmq", "managed-redis", "expose"}
    for install in INSTALLS:
        namespaced = [d for d in rendered(install) if d["kind"] not in CLUSTER_SCOPED]
        assert namespaced and all(d["metadata"].get("namespace") == "cutman" for d in namespaced), install


CLUSTER_SCOPED = {"Namespace", "CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding"}


def test_base_kustomization_lists_every_manifest() -> None:
    kust = yaml.safe_load((BASE / "kustomization.yaml").read_text())
    files = {p.name for p in BASE.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(kust["resources"]) == files
    assert kust["namespace"] == "cutman"


def test_install_has_the_pieces() -> None:
    kinds = {(d["kind"], d["metadata"]["name"]) for d in objects()}
    for name in ("ingest", "step-cli", "step-agent", "sink", "reconciler"):
        assert ("Service", f"cutman-{name}") in kinds
    for piece in [("Broker", "default"), ("ApiServerSource", "cutman-resources"),
                  ("SinkBinding", "cutman-ingest"), ("StatefulSet", "cutman-redis"),
                  ("Role", "cutman-reconciler"), ("CustomResourceDefinition", "workflows.cutman.dev"),
                  ("ServiceAccount", "cutman-source-watcher")]:
        assert piece in kinds


def test_functions_scale_to_zero_with_readiness() -> None:
    services = [d for d in objects() if d["kind"] == "Service" and d["apiVersion"].startswith("serving")]
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

    role = next(d for d in objects() if d["kind"] == "ClusterRole" and d["metadata"]["name"] == WATCHER_SA)
    assert all(set(r["verbs"]) <= {"get", "list", "watch"} for r in role["rules"])
    binding = next(d for d in objects() if d["kind"] == "ClusterRoleBinding" and d["metadata"]["name"] == WATCHER_SA)
    assert binding["roleRef"]["name"] == WATCHER_SA and binding["subjects"][0]["name"] == WATCHER_SA


def test_reconciler_role_is_least_privilege() -> None:
    """Objects it creates: a Role in the installation namespace only. Cluster-wide: reading
    the CRs and writing their status, and `get` on the named Secrets, nothing else."""
    role = next(d for d in objects() if d["kind"] == "Role" and d["metadata"]["name"] == "cutman-reconciler")
    assert {g for r in role["rules"] for g in r["apiGroups"]} == {"eventing.knative.dev", "sources.knative.dev"}
    crs = next(d for d in objects() if d["kind"] == "ClusterRole" and d["metadata"]["name"] == "cutman-reconciler")
    assert {g for r in crs["rules"] for g in r["apiGroups"]} == {"cutman.dev"}
    assert all(set(r["verbs"]) <= {"get", "list", "watch", "update", "patch"} for r in crs["rules"])
    assert all(set(r["verbs"]) <= {"get", "list", "watch"} for r in crs["rules"] if "sources" in r["resources"])
    role = next(d for d in objects() if d["kind"] == "ClusterRole" and d["metadata"]["name"] == "cutman-reconciler-secrets")
    for rule in role["rules"]:
        assert "*" not in rule["verbs"] and "*" not in rule["resources"]
        assert rule["resources"] == ["secrets"]
        assert rule["verbs"] == ["get"] and rule["resourceNames"]
    env_only = {ref["secretKeyRef"]["name"] for ref in _env_secret_refs()}
    secrets = {d["metadata"]["name"] for d in objects() if d["kind"] == "Secret"} - env_only
    names = next(r["resourceNames"] for r in role["rules"] if "secrets" in r["resources"])
    assert secrets <= set(names)
    assert not env_only & set(names), "Secrets given to functions as env need no API access"


def _env_secret_refs() -> list[dict[str, Any]]:
    refs = []
    for d in objects():
        if d["kind"] == "Service" and d["apiVersion"] == "serving.knative.dev/v1":
            for c in d["spec"]["template"]["spec"]["containers"]:
                refs += [e["valueFrom"] for e in c.get("env", []) if "secretKeyRef" in e.get("valueFrom", {})]
    return refs


def test_approval_key_reaches_the_functions_that_sign_or_check_links() -> None:
    users = {d["metadata"]["name"] for d in objects() if d["apiVersion"] == "serving.knative.dev/v1"
             and any(e["name"] == "CUTMAN_APPROVAL_KEY"
                     for c in d["spec"]["template"]["spec"]["containers"] for e in c.get("env", []))}
    assert users == {"cutman-ingest", "cutman-step-cli", "cutman-step-agent"}


def _by(install: str, kind: str, name: str) -> dict[str, Any]:
    return next(d for d in rendered(install) if d["kind"] == kind and d["metadata"]["name"] == name)


def test_no_install_ships_a_secret_and_the_generated_ones_are_what_functions_use() -> None:
    for install in INSTALLS:
        assert not [d for d in rendered(install) if d["kind"] == "Secret"], install
    script = (BASE / "scripts" / "init-secrets.sh").read_text()
    generated = set(re.findall(r"^create_once (\S+)", script, re.MULTILINE))
    assert generated == {"cutman-approvals", "cutman-redis", "cutman-api"}
    assert {ref["secretKeyRef"]["name"] for ref in _env_secret_refs()} == generated
    job = _by("production", "Job", "cutman-secrets-init")
    role = _by("production", "Role", "cutman-secrets-init")
    assert job["spec"]["template"]["spec"]["serviceAccountName"] == "cutman-secrets-init"
    assert {v for r in role["rules"] for v in r["verbs"]} == {"create", "get"}
    assert all(set(r.get("resourceNames", [])) <= generated for r in role["rules"])


READ = {"get", "list", "watch"}


def test_step_functions_run_read_only_and_never_see_secrets() -> None:
    for name in ("cutman-step-cli", "cutman-step-agent"):
        spec = _by("production", "Service", name)["spec"]["template"]["spec"]
        assert spec["serviceAccountName"] == "cutman-step-reader"
        assert spec.get("automountServiceAccountToken", True)
    role = _by("production", "ClusterRole", "cutman-step-reader")
    for rule in role["rules"]:
        assert set(rule["verbs"]) <= READ, rule
        assert "*" not in rule["resources"] and "secrets" not in rule["resources"]
        assert not {"pods/exec", "pods/attach", "pods/portforward", "serviceaccounts/token"} & set(rule["resources"])
    assert any("pods/log" in r["resources"] for r in role["rules"])
    assert any("events" in r["resources"] for r in role["rules"])
    binding = _by("production", "ClusterRoleBinding", "cutman-step-reader")
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "cutman-step-reader", "namespace": "cutman"}]
    others = [d for d in rendered("production") if d["kind"] == "Service" and "serving" in d["apiVersion"]
              and d["metadata"]["name"] not in ("cutman-step-cli", "cutman-step-agent", "cutman-reconciler")]
    assert all(d["spec"]["template"]["spec"].get("automountServiceAccountToken") is False for d in others)


def _redis_args(install: str) -> dict[str, str]:
    args = _by(install, "StatefulSet", "cutman-redis")["spec"]["template"]["spec"]["containers"][0]["args"]
    return dict(zip(args[::2], args[1::2], strict=True))


def test_redis_is_authenticated_bounded_and_durable_in_production() -> None:
    sts = _by("production", "StatefulSet", "cutman-redis")
    container = sts["spec"]["template"]["spec"]["containers"][0]
    args = _redis_args("production")
    assert args["--appendonly"] == "yes" and args["--maxmemory-policy"] == "noeviction"
    assert args["--requirepass"] == "$(REDIS_PASSWORD)"
    assert container["env"][0]["valueFrom"]["secretKeyRef"] == {"name": "cutman-redis", "key": "password"}
    assert int(args["--maxmemory"].removesuffix("mb")) < int(container["resources"]["limits"]["memory"].removesuffix("Mi"))
    assert sts["spec"]["volumeClaimTemplates"][0]["metadata"]["name"] == "data"
    dev = _by("dev", "StatefulSet", "cutman-redis")
    assert "volumeClaimTemplates" not in dev["spec"] and _redis_args("dev")["--appendonly"] == "no"
    assert not [d for d in rendered("managed-redis") if d["metadata"]["name"] == "cutman-redis"]
    assert _by("managed-redis", "ConfigMap", "cutman-settings")["data"]["redisURL"].startswith("rediss")


def test_the_broker_is_durable_except_in_dev() -> None:
    def broker_class(install: str) -> str:
        return str(_by(install, "Broker", "default")["metadata"]["annotations"]["eventing.knative.dev/broker.class"])

    assert broker_class("production") == "Kafka"
    assert _by("production", "Broker", "default")["spec"]["config"]["name"] == "cutman-kafka-broker-config"
    assert broker_class("rabbitmq") == "RabbitMQBroker"
    assert _by("rabbitmq", "RabbitmqBrokerConfig", "cutman-rabbitmq")["spec"]["queueType"] == "quorum"
    assert broker_class("dev") == "MTChannelBasedBroker"
    assert "dev" == next(i for i in INSTALLS if broker_class(i) == "MTChannelBasedBroker")


def test_only_approvals_and_the_operator_view_are_exposed() -> None:
    for install in INSTALLS:
        for d in rendered(install):
            if d["kind"] == "Service" and "serving" in d["apiVersion"]:
                assert d["metadata"]["labels"]["networking.knative.dev/visibility"] == "cluster-local", install
    ingress = _by("expose", "Ingress", "cutman-public")
    paths = {p["path"] for rule in ingress["spec"]["rules"] for p in rule["http"]["paths"]}
    assert paths == {"/approvals/", "/api/v1/", "/ui"}
    host = ingress["spec"]["rules"][0]["host"]
    assert _by("expose", "ConfigMap", "cutman-settings")["data"]["publicURL"] == f"https://{host}"
    assert not [d for d in rendered("production") if d["kind"] == "Ingress"]


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


def test_the_resync_trigger_is_the_one_the_dev_broker_builds_in() -> None:
    from cutman.core.resync import RESYNC_TRIGGER, resync_trigger

    for install in INSTALLS:
        trig = _by(install, "Trigger", RESYNC_TRIGGER)
        expected = resync_trigger("cutman")
        assert trig["spec"] == expected["spec"], install
        assert "app.kubernetes.io/managed-by" not in trig["metadata"].get("labels", {}), "replans must keep it"


def test_step_services_time_out_where_the_planner_expects() -> None:
    from cutman.core.planning import STEP_SERVICE_TIMEOUT_S

    for name in ("cutman-step-cli", "cutman-step-agent"):
        spec = _by("production", "Service", name)["spec"]["template"]["spec"]
        assert spec["timeoutSeconds"] == STEP_SERVICE_TIMEOUT_S, name


def test_housekeeping_is_planned_only_while_approvals_wait() -> None:
    """No static PingSource wakes ingest; the reconciler's is valid and only planned while
    an approval is pending, and the Triggers that make it re-plan are installed."""
    from cutman.core.housekeeping import housekeeping_objects, housekeeping_triggers

    for install in INSTALLS:
        assert not [d for d in rendered(install) if d["kind"] == "PingSource"], install
        for expected in housekeeping_triggers("cutman"):
            assert _by(install, "Trigger", expected["metadata"]["name"])["spec"] == expected["spec"]
    assert housekeeping_objects(installation="cutman", approvals_pending=False) == []
    (ping,) = housekeeping_objects(installation="cutman", approvals_pending=True)
    assert schema_errors(ping) == []
    assert ping["spec"]["sink"]["uri"] == "/housekeeping/approvals"


def test_write_access_is_an_overlay_bound_to_approval_gated_steps() -> None:
    """Only overlays/step-writer has a write-capable identity; its Services equal the
    read-only ones but for the name, the ServiceAccount and CUTMAN_STEP_WRITER."""
    for install in INSTALLS:
        has = [d for d in rendered(install) if d["metadata"]["name"] == "cutman-step-writer"]
        assert bool(has) == (install == "step-writer"), install
    role = _by("step-writer", "ClusterRole", "cutman-step-writer")
    assert all("secrets" not in r["resources"] and "*" not in r["verbs"] for r in role["rules"])
    for name in ("cutman-step-cli", "cutman-step-agent"):
        reader, writer = _by("step-writer", "Service", name), _by("step-writer", "Service", f"{name}-writer")
        rspec, wspec = reader["spec"]["template"]["spec"], writer["spec"]["template"]["spec"]
        assert wspec["serviceAccountName"] == "cutman-step-writer"
        assert rspec["serviceAccountName"] == "cutman-step-reader", "the ordinary step Services stay read-only"
        wenv = wspec["containers"][0]["env"]
        assert {"name": "CUTMAN_STEP_WRITER", "value": "true"} in wenv
        strip = {**wspec, "serviceAccountName": None,
                 "containers": [{**wspec["containers"][0], "env": [e for e in wenv if e["name"] != "CUTMAN_STEP_WRITER"]}]}
        assert strip == {**rspec, "serviceAccountName": None}
    env = _by("step-writer", "Service", "cutman-reconciler")["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {"name": "CUTMAN_STEP_WRITERS", "value": "true"} in env
    allowed = _by("step-writer", "NetworkPolicy", "cutman-redis")["spec"]["ingress"][0]["from"][0]
    assert {"cutman-step-cli-writer", "cutman-step-agent-writer"} <= set(allowed["podSelector"]["matchExpressions"][0]["values"])
