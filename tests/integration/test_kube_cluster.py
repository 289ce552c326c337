"""The reconciler with the Kubernetes backend, end to end over real HTTP.

Real: the reconciler's code, the official `kubernetes` client, Redis. Test double: the
Kubernetes API server, played by kmock's KubernetesEmulator (tests/kube_emulator.py adds
server-side apply's create/replace and label selectors). Every Trigger the backend writes
is also validated against the real Knative Trigger schema.
"""

from __future__ import annotations

import asyncio
import importlib
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import kmock
import pytest
import yaml
from cutman.adapters.cluster import LocalCluster
from cutman.adapters.kube import KubeCluster
from cutman.adapters.store import RedisStore
from cutman.errors import Invalid, Unavailable
from cutman.runtime.loader import load
from cutman.runtime.redis_server import free_port
from kubernetes import client

from tests.k8s_schema import errors, knative_schemas
from tests.kube_emulator import ApplyingEmulator, kube_api

NS = "team"
INSTALL = "cutman"
GROUP = "cutman.dev"
TRIGGERS = kmock.resource("eventing.knative.dev", "v1", "triggers")
SECRETS = kmock.resource("", "v1", "secrets")


def cr(kind: str, name: str, spec: dict[str, Any], generation: int = 1, ns: str = NS) -> dict[str, Any]:
    return {
        "apiVersion": "cutman.dev/v1alpha1", "kind": kind,
        "metadata": {"name": name, "namespace": ns, "uid": str(uuid.uuid4()), "generation": generation},
        "spec": spec,
    }


def workflow(steps: tuple[str, ...] = ("look", "fix"), sinks: tuple[str, ...] = ("console",)) -> dict[str, Any]:
    return cr("Workflow", "triage", {
        "steps": [{"name": s, "type": "cli", "command": "true"} for s in steps],
        "sinks": list(sinks),
    })


def source(workflow_name: str = "triage", auth: dict[str, Any] | None = None) -> dict[str, Any]:
    config: dict[str, Any] = {"path": "/webhook/team"}
    if auth:
        config["authentication"] = auth
    return cr("Source", "am", {"type": "webhook", "config": config, "triggerWorkflow": workflow_name})


def sink() -> dict[str, Any]:
    return cr("Sink", "console", {"type": "stdout"})


def put(emu: ApplyingEmulator, body: dict[str, Any]) -> None:
    """The object as the API server holds it (what the ApiServerSource would send)."""
    plural = body["kind"].lower() + "s"
    ns = body["metadata"]["namespace"]
    emu.objects[(kmock.resource(GROUP, "v1alpha1", plural), ns, body["metadata"]["name"])] = body


def status_of(emu: ApplyingEmulator, kind: str, name: str, ns: str = NS) -> dict[str, Any]:
    status: dict[str, Any] = emu.raw_objects(kind.lower() + "s", ns)[name].get("status") or {}
    return status


def ready(status: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in status["conditions"] if c["type"] == "Ready")


Scenario = Callable[[ApplyingEmulator, Any, RedisStore], Awaitable[None]]


def run(redis_url: str, scenario: Scenario) -> None:
    async def main() -> None:
        module = load("reconciler")
        reconciler_cls = importlib.import_module(module.__name__ + ".reconcile").Reconciler
        store = RedisStore(redis_url)
        try:
            async with kube_api() as (emu, api):
                await scenario(emu, reconciler_cls(store, KubeCluster(api)), store)
        finally:
            await store.close()

    asyncio.run(main())


def test_create_applies_triggers_with_ssa_owner_refs_and_valid_schema(redis_url: str) -> None:
    async def scenario(emu: ApplyingEmulator, rec: Any, store: RedisStore) -> None:
        wf, src, snk = workflow(), source(), sink()
        for body in (snk, wf, src):
            put(emu, body)
            await rec.apply(body)
        triggers = emu.raw_objects("triggers", INSTALL)
        assert set(triggers) == {
            "cm-team-triage-start-am", "cm-team-triage-step-look", "cm-team-triage-step-fix",
            "cm-team-triage-sink-console", "cm-team-status",
        }
        schema = knative_schemas()[("eventing.knative.dev/v1", "Trigger")]
        for name, trig in triggers.items():
            assert errors(schema, trig) == [], name
            assert trig["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "cutman"
            assert trig["metadata"]["labels"]["cutman.dev/namespace"] == NS
            assert trig["spec"]["subscriber"]["ref"]["namespace"] == INSTALL
            assert "ownerReferences" not in trig["metadata"]  # no cross-namespace owners
        assert emu.raw_objects("triggers", NS) == {}
        applies = [r for r in emu._requests if r.method == kmock.method.PATCH and r.resource == TRIGGERS]
        assert applies and all(
            r.params.get("fieldManager") == "cutman" and r.params.get("force", "").lower() == "true"
            and r.headers["Content-Type"] == "application/apply-patch+yaml" for r in applies
        )
        assert await store.get_config("workflow", f"{NS}/triage") is not None
        assert ready(status_of(emu, "Workflow", "triage"))["status"] == "True"
        assert status_of(emu, "Workflow", "triage")["steps"] == "look,fix"
        assert status_of(emu, "Source", "am")["ready"] is True

    run(redis_url, scenario)


def test_step_renamed_old_trigger_goes_and_unowned_objects_stay(redis_url: str) -> None:
    async def scenario(emu: ApplyingEmulator, rec: Any, store: RedisStore) -> None:
        emu.objects[(TRIGGERS, INSTALL, "hand-made")] = {
            "apiVersion": "eventing.knative.dev/v1", "kind": "Trigger",
            "metadata": {"name": "hand-made", "namespace": INSTALL}, "spec": {"broker": "default"},
        }
        put(emu, sink())
        await rec.apply(sink())
        await rec.apply(workflow(steps=("look", "fix")))
        result = await rec.apply(workflow(steps=("look", "repair")))
        names = set(emu.raw_objects("triggers", INSTALL))
        assert "cm-team-triage-step-fix" not in names and "cm-team-triage-step-repair" in names
        assert "hand-made" in names
        assert result["deletedTriggers"] == ["cm-team-triage-step-fix"]

    run(redis_url, scenario)


def test_delete_removes_objects_and_redis_config(redis_url: str) -> None:
    async def scenario(emu: ApplyingEmulator, rec: Any, store: RedisStore) -> None:
        wf, src = workflow(sinks=()), source()
        for body in (wf, src):
            put(emu, body)
            await rec.apply(body)
        assert await store.route("/webhook/team") == f"{NS}/am"
        await rec.delete(src)
        assert "cm-team-triage-start-am" not in emu.raw_objects("triggers", INSTALL)
        assert await store.route("/webhook/team") is None
        await rec.delete(wf)
        assert emu.raw_objects("triggers", INSTALL) == {}
        assert await store.get_config("workflow", f"{NS}/triage") is None
        assert await store.get_config("source", f"{NS}/am") is None

    run(redis_url, scenario)


def test_resync_repairs_missed_events(redis_url: str) -> None:
    async def scenario(emu: ApplyingEmulator, rec: Any, store: RedisStore) -> None:
        gone = cr("Workflow", "gone", {"steps": [{"name": "x", "type": "cli", "command": "true"}]})
        put(emu, gone)
        await rec.apply(gone)
        del emu.objects[(kmock.resource(GROUP, "v1alpha1", "workflows"), NS, "gone")]
        for body in (sink(), workflow(), source()):
            put(emu, body)
        result = await rec.resync([NS])
        names = set(emu.raw_objects("triggers", INSTALL))
        assert "cm-team-gone-step-x" not in names
        assert {"cm-team-triage-start-am", "cm-team-triage-step-look", "cm-team-triage-sink-console"} <= names
        assert await store.get_config("workflow", f"{NS}/gone") is None
        assert await store.get_config("source", f"{NS}/am") is not None
        assert result[NS]["refused"] == []

    run(redis_url, scenario)


def test_status_reports_missing_references_then_recovers(redis_url: str) -> None:
    async def scenario(emu: ApplyingEmulator, rec: Any, store: RedisStore) -> None:
        wf, src = workflow(sinks=("slack",)), source(workflow_name="nope")
        for body in (wf, src):
            put(emu, body)
            await rec.apply(body)
        cond = ready(status_of(emu, "Workflow", "triage"))
        assert (cond["status"], cond["reason"]) == ("False", "SinkNotFound")
        assert "sink 'slack' does not exist" in cond["message"]
        cond = ready(status_of(emu, "Source", "am"))
        assert (cond["status"], cond["reason"]) == ("False", "WorkflowNotFound")
        assert status_of(emu, "Workflow", "triage")["observedGeneration"] == 1

        slack = cr("Sink", "slack", {"type": "stdout"})
        put(emu, slack)
        wf_now = {**wf, "status": status_of(emu, "Workflow", "triage")}
        await rec.apply(slack)
        await rec.apply(wf_now)
        assert ready(status_of(emu, "Workflow", "triage"))["status"] == "True"

        await rec.run_finished(workflow=f"{NS}/triage", run="triage-1", phase="Succeeded")
        status = status_of(emu, "Workflow", "triage")
        assert (status["lastRun"], status["phase"]) == ("triage-1", "Succeeded")

    run(redis_url, scenario)


def test_invalid_cr_is_refused_and_says_why_in_status(redis_url: str) -> None:
    async def scenario(emu: ApplyingEmulator, rec: Any, store: RedisStore) -> None:
        bad = cr("Workflow", "bad", {"steps": [{"name": "x", "type": "cli", "command": "{{ oops"}]})
        put(emu, bad)
        with pytest.raises(Invalid):
            await rec.apply(bad)
        cond = ready(status_of(emu, "Workflow", "bad"))
        assert (cond["status"], cond["reason"]) == ("False", "InvalidSpec")
        assert "spec.steps[0]" in cond["message"]

    run(redis_url, scenario)


def test_source_auth_secret_resolved_from_the_api(redis_url: str) -> None:
    async def scenario(emu: ApplyingEmulator, rec: Any, store: RedisStore) -> None:
        src = source(auth={"type": "bearer", "secretRef": "hook"})
        put(emu, src)
        with pytest.raises(Invalid, match="Secret team/hook"):
            await rec.apply(src)
        cond = ready(status_of(emu, "Source", "am"))
        assert (cond["status"], cond["reason"]) == ("False", "SecretNotFound")
        assert "Secret team/hook does not exist" in cond["message"]
        emu.objects[(SECRETS, NS, "hook")] = {
            "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "hook", "namespace": NS},
            "data": {"token": "czNjcjN0"},  # "s3cr3t"
        }
        await rec.apply(src)
        doc = await store.get_config("source", f"{NS}/am")
        assert doc is not None and doc["ingest"]["auth"]["tokenHash"]
        assert "s3cr3t" not in str(doc)

    run(redis_url, scenario)


def test_function_resyncs_on_start_with_kubeconfig(redis_url: str, tmp_path: Path) -> None:
    """The served function's start(cfg) picks the Kubernetes backend and resyncs."""

    async def scenario(emu: ApplyingEmulator, rec: Any, store: RedisStore) -> None:
        for body in (sink(), workflow()):
            put(emu, body)
        host = rec.cluster.api.configuration.host
        kubeconfig = tmp_path / "kubeconfig"
        kubeconfig.write_text(yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config", "current-context": "kmock",
            "clusters": [{"name": "kmock", "cluster": {"server": host}}],
            "users": [{"name": "u", "user": {"token": "t"}}],
            "contexts": [{"name": "kmock", "context": {"cluster": "kmock", "user": "u"}}],
        }))
        fn = load("reconciler").new()
        fn.start({"REDIS_URL": redis_url, "CUTMAN_CLUSTER": "kubernetes",
                  "KUBECONFIG": str(kubeconfig), "CUTMAN_NAMESPACES": NS})
        try:
            assert fn.resynced is not None
            await asyncio.wait_for(fn.resynced, timeout=10)
            assert "cm-team-triage-step-look" in emu.raw_objects("triggers", INSTALL)
        finally:
            fn.cluster.close()
            await fn.store.close()
            fn.stop()

    run(redis_url, scenario)


def test_local_and_cluster_backends_build_identical_triggers(redis_url: str) -> None:
    """`cutman dev` (LocalCluster, Triggers in Redis) and a cluster (KubeCluster) get the
    same Triggers from the same CRs, field for field."""

    async def scenario(emu: ApplyingEmulator, rec: Any, store: RedisStore) -> None:
        module = load("reconciler")
        local = importlib.import_module(module.__name__ + ".reconcile").Reconciler(store, LocalCluster(store, INSTALL))
        for body in (sink(), workflow(), source()):
            put(emu, body)
            await rec.apply(body)
            await local.apply(body)
        in_redis = {k.split("/", 1)[1]: v for k, v in (await store.triggers()).items()}
        in_api = emu.raw_objects("triggers", INSTALL)
        assert len(in_redis) == 5
        assert in_api == in_redis

    run(redis_url, scenario)


def test_workflow_secrets_mirrored_for_steps_and_forbidden_ones_reported(redis_url: str) -> None:
    """Steps read secretEnv from Redis; in a cluster the reconciler copies the named
    Secrets there. A Secret its Role may not read (403) refuses the Workflow with a status
    that says so."""

    async def scenario(emu: ApplyingEmulator, rec: Any, store: RedisStore) -> None:
        emu.objects[(SECRETS, NS, "db")] = {
            "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db", "namespace": NS},
            "data": {"password": "aHVudGVyMg=="},  # "hunter2"
        }
        wf = workflow(sinks=())
        wf["spec"]["runtime"] = {"secretEnv": {"DB_PASSWORD": "db/password", "MISSING": "absent"}}
        put(emu, wf)
        await rec.apply(wf)
        assert await store.get_secret(f"{NS}/db") == {"password": "hunter2"}
        assert await store.get_secret(f"{NS}/absent") is None

        emu[kmock.method.GET, SECRETS, kmock.name("locked")] << 403
        wf["spec"]["runtime"] = {"secretEnv": {"TOKEN": "locked"}}
        with pytest.raises(Invalid, match="forbidden"):
            await rec.apply(wf)
        cond = ready(status_of(emu, "Workflow", "triage"))
        assert (cond["status"], cond["reason"]) == ("False", "InvalidSpec")
        assert "rbac.yaml" in cond["message"]
        stored = await store.get_config("workflow", f"{NS}/triage")
        assert stored is not None and "TOKEN" not in str(stored), "a refused spec is not stored"

    run(redis_url, scenario)


def test_unchanged_objects_are_not_reapplied(redis_url: str) -> None:
    async def scenario(emu: ApplyingEmulator, rec: Any, store: RedisStore) -> None:
        wf = workflow(sinks=())
        put(emu, wf)
        await rec.apply(wf)

        def applies() -> int:
            return sum(1 for r in emu._requests if r.method == kmock.method.PATCH and r.resource == TRIGGERS)

        before = applies()
        await rec.apply(wf)
        assert applies() == before
        await rec.apply(workflow(steps=("look", "fix", "more"), sinks=()) | {"metadata": wf["metadata"]})
        assert applies() == before + 1

    run(redis_url, scenario)


def test_status_patches_settle(redis_url: str) -> None:
    """The update event a status patch causes (it carries that status) patches nothing,
    and a stale event does not re-patch its neighbours."""

    async def scenario(emu: ApplyingEmulator, rec: Any, store: RedisStore) -> None:
        bodies = [sink(), workflow(), source()]
        for body in bodies:
            put(emu, body)
            await rec.apply(body)

        def status_patches() -> int:
            return sum(1 for r in emu._requests if r.method == kmock.method.PATCH and r.subresource == "status")

        before = status_patches()
        for body in bodies:
            await rec.apply({**body, "status": status_of(emu, body["kind"], body["metadata"]["name"])})
        assert status_patches() == before
        for body in bodies:  # stale events (no status): each CR re-asserts only its own
            await rec.apply(body)
        assert status_patches() == before + len(bodies)

    run(redis_url, scenario)


def test_api_trouble_becomes_retryable_errors(redis_url: str) -> None:
    """A missing resource type on apply and an unreachable API server are `Unavailable`
    (503: the ApiServerSource retries), never a client exception in the handler."""

    async def scenario(emu: ApplyingEmulator, rec: Any, store: RedisStore) -> None:
        emu[kmock.method.PATCH, TRIGGERS] << 404
        with pytest.raises(Unavailable, match="Knative Eventing"):
            await rec.apply(workflow(sinks=()))

        cfg = client.Configuration()
        cfg.host = f"http://127.0.0.1:{free_port()}"
        dead = KubeCluster(client.ApiClient(cfg))
        try:
            with pytest.raises(Unavailable, match="unreachable"):
                await dead.owned(NS)
        finally:
            dead.close()

    run(redis_url, scenario)


def test_schedule_source_ping_source_applied_and_removed(redis_url: str) -> None:
    async def scenario(emu: ApplyingEmulator, rec: Any, store: RedisStore) -> None:
        wf = workflow(sinks=())
        nightly = cr("Source", "nightly", {"type": "schedule", "config": {"cron": "0 3 * * *"},
                                           "triggerWorkflow": "triage"})
        for body in (wf, nightly):
            put(emu, body)
            await rec.apply(body)
        pings = emu.raw_objects("pingsources", INSTALL)
        assert set(pings) == {"cm-team-ping-nightly"}
        ping = pings["cm-team-ping-nightly"]
        assert errors(knative_schemas()[("sources.knative.dev/v1", "PingSource")], ping) == []
        assert ping["metadata"]["labels"]["cutman.dev/namespace"] == NS
        assert "cm-team-triage-start-nightly" in emu.raw_objects("triggers", INSTALL)
        result = await rec.delete(nightly)
        assert emu.raw_objects("pingsources", INSTALL) == {}
        assert "PingSource/cm-team-ping-nightly" in result["deleted"]

    run(redis_url, scenario)


def test_kubernetes_source_api_server_source_applied_and_removed(redis_url: str) -> None:
    """A kubernetes Source, applied through the reconciler, becomes an owned ApiServerSource
    (Resource mode, label selector) that goes away with its Source."""

    async def scenario(emu: ApplyingEmulator, rec: Any, store: RedisStore) -> None:
        wf = workflow(sinks=())
        pods = cr("Source", "pods", {"type": "kubernetes",
                                     "config": {"resource": "v1/Pod", "labelSelector": "app=web"},
                                     "triggerWorkflow": "triage"})
        for body in (wf, pods):
            put(emu, body)
            await rec.apply(body)
        applied = emu.raw_objects("apiserversources", INSTALL)["cm-team-watch-pods"]
        assert applied["spec"]["resources"][0]["selector"] == {"matchLabels": {"app": "web"}}
        assert errors(knative_schemas()[("sources.knative.dev/v1", "ApiServerSource")], applied) == []
        assert applied["spec"]["namespaceSelector"] == {"matchLabels": {"kubernetes.io/metadata.name": NS}}
        result = await rec.delete(pods)
        assert emu.raw_objects("apiserversources", INSTALL) == {}
        assert "ApiServerSource/cm-team-watch-pods" in result["deleted"]

    run(redis_url, scenario)


def in_ns(body: dict[str, Any], ns: str) -> dict[str, Any]:
    return {**body, "metadata": {**body["metadata"], "namespace": ns, "uid": str(uuid.uuid4())}}


def test_two_namespaces_same_names_share_the_installation_without_collisions(redis_url: str) -> None:
    """CRs of the same names in `team` and `ops`: all Triggers in `cutman`, labelled per
    namespace; replanning one namespace never touches the other's; the second Source on
    the same path is not Ready naming the first, and gets the path when the first goes."""

    async def scenario(emu: ApplyingEmulator, rec: Any, store: RedisStore) -> None:
        for ns in (NS, "ops"):
            for body in (sink(), workflow(), source()):
                body = in_ns(body, ns)
                put(emu, body)
                await rec.apply(body)
        triggers = emu.raw_objects("triggers", INSTALL)
        assert len(triggers) == 10
        by_ns = {ns: {n for n, t in triggers.items() if t["metadata"]["labels"]["cutman.dev/namespace"] == ns}
                 for ns in (NS, "ops")}
        assert by_ns["ops"] == {n.replace("cm-team-", "cm-ops-") for n in by_ns[NS]}
        schema = knative_schemas()[("eventing.knative.dev/v1", "Trigger")]
        assert all(errors(schema, t) == [] for t in triggers.values())
        assert await store.route("/webhook/team") == f"{NS}/am"
        cond = ready(status_of(emu, "Source", "am", ns="ops"))
        assert (cond["status"], cond["reason"]) == ("False", "PathConflict")
        assert f"already served by Source {NS}/am" in cond["message"]
        assert ready(status_of(emu, "Source", "am"))["status"] == "True"

        await rec.delete(in_ns(workflow(), "ops"))
        assert set(emu.raw_objects("triggers", INSTALL)) == by_ns[NS]

        first = emu.raw_objects("sources", NS)["am"]
        del emu.objects[(kmock.resource(GROUP, "v1alpha1", "sources"), NS, "am")]
        await rec.delete(first)
        assert await store.route("/webhook/team") == "ops/am"
        cond = ready(status_of(emu, "Source", "am", ns="ops"))
        assert cond["reason"] == "WorkflowNotFound"  # the path is its own now; its workflow went earlier

    run(redis_url, scenario)


def test_resync_of_every_namespace_lists_across_the_cluster(redis_url: str) -> None:
    """CUTMAN_NAMESPACES unset: the resync lists CRs cluster-wide and plans each namespace."""

    async def scenario(emu: ApplyingEmulator, rec: Any, store: RedisStore) -> None:
        for ns in ("ops", "punchingfist-system"):
            for body in (sink(), workflow()):
                put(emu, in_ns(body, ns))
        result = await rec.resync(None)
        assert set(result) == {"ops", "punchingfist-system"}
        names = set(emu.raw_objects("triggers", INSTALL))
        assert "cm-ops-triage-step-look" in names
        assert [n for n in names if n.startswith("cm-punchingfist-system-triage-step-look-")]
        assert await store.get_config("workflow", "punchingfist-system/triage") is not None

    run(redis_url, scenario)
