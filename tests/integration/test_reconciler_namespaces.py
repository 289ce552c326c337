"""The reconciler's namespace model in local mode (LocalCluster: Triggers in Redis for the
dev broker), over a real Redis: CRs of the same names in several namespaces, global
webhook paths, Secrets from the CR's own namespace, per-CR reasons for not being Ready.
No doubles: the reconciler's own code against a private redis-server."""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from cutman.adapters.cluster import LocalCluster
from cutman.adapters.store import RedisStore
from cutman.runtime.loader import load

from tests.k8s_schema import errors, knative_schemas


def cr(kind: str, name: str, ns: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "cutman.dev/v1alpha1", "kind": kind, "metadata": {"name": name, "namespace": ns},
            "spec": spec}


def trio(ns: str, path: str = "/webhook/alerts") -> list[dict[str, Any]]:
    return [
        cr("Sink", "console", ns, {"type": "stdout"}),
        cr("Workflow", "triage", ns, {"steps": [{"name": "gather-context", "type": "cli", "command": "true"}],
                                      "sinks": ["console"]}),
        cr("Source", "am", ns, {"type": "webhook", "config": {"path": path}, "triggerWorkflow": "triage"}),
    ]


def run(redis_url: str, scenario: Callable[[Any, RedisStore], Awaitable[None]], **kw: Any) -> None:
    async def main() -> None:
        module = load("reconciler")
        store = RedisStore(redis_url)
        try:
            rec = importlib.import_module(module.__name__ + ".reconcile").Reconciler(store, LocalCluster(store, "cutman"), **kw)
            await scenario(rec, store)
        finally:
            await store.close()

    asyncio.run(main())


def test_same_names_in_two_namespaces_live_side_by_side_in_the_installation(redis_url: str) -> None:
    async def scenario(rec: Any, store: RedisStore) -> None:
        for body in trio("ops") + trio("web", path="/webhook/web"):
            await rec.apply(body)
        triggers = await store.triggers()
        assert all(k.startswith("cutman/") for k in triggers)
        assert len(triggers) == 8
        schema = knative_schemas()[("eventing.knative.dev/v1", "Trigger")]
        assert all(errors(schema, t) == [] for t in triggers.values())
        assert {t["metadata"]["labels"]["cutman.dev/namespace"] for t in triggers.values()} == {"ops", "web"}
        assert await store.get_config("workflow", "ops/triage") is not None
        assert await store.get_config("workflow", "web/triage") is not None
        result = await rec.delete(trio("web")[1])
        assert {t["metadata"]["labels"]["cutman.dev/namespace"] for t in (await store.triggers()).values()} == {"ops"}
        assert len(result["deletedTriggers"]) == 4

    run(redis_url, scenario)


def test_a_taken_path_is_reported_and_handed_over_when_its_owner_goes(redis_url: str) -> None:
    async def scenario(rec: Any, store: RedisStore) -> None:
        for body in trio("ops"):
            await rec.apply(body)
        for body in trio("web")[:2]:
            await rec.apply(body)
        result = await rec.apply(trio("web")[2])
        why = result["notReady"]["Source web/am"]
        assert why.startswith("PathConflict: path /webhook/alerts is already served by Source ops/am")
        assert await store.route("/webhook/alerts") == "ops/am"
        doc = await store.get_config("source", "web/am")
        assert doc is not None and doc["status"]["ready"] is False

        await rec.delete(trio("ops")[2])
        assert await store.route("/webhook/alerts") == "web/am"
        doc = await store.get_config("source", "web/am")
        assert doc is not None and doc["status"]["ready"] is True
        assert doc["status"]["conditions"][0]["reason"] == "Ready"

    run(redis_url, scenario)


def test_moving_to_another_path_hands_the_old_one_over(redis_url: str) -> None:
    async def scenario(rec: Any, store: RedisStore) -> None:
        for body in trio("ops") + trio("web"):
            await rec.apply(body)
        assert await store.route("/webhook/alerts") == "ops/am"
        await rec.apply(trio("ops", path="/webhook/ops")[2])
        assert await store.route("/webhook/ops") == "ops/am"
        assert await store.route("/webhook/alerts") == "web/am"

    run(redis_url, scenario)


def test_workflow_secrets_resolve_in_its_own_namespace_or_it_says_which_is_missing(redis_url: str) -> None:
    async def scenario(rec: Any, store: RedisStore) -> None:
        wf = cr("Workflow", "triage", "ops", {
            "runtime": {"secretEnv": {"DB": "db/password", "TOKEN": "api"}},
            "steps": [{"name": "a", "type": "cli", "command": "true"}]})
        await rec.apply({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db", "namespace": "web"},
                         "stringData": {"password": "elsewhere"}})
        result = await rec.apply(wf)
        why = result["notReady"]["Workflow ops/triage"]
        assert why.startswith("SecretNotFound: spec.runtime.secretEnv.DB: Secret ops/db does not exist")
        assert "Secret ops/api does not exist" in why
        await rec.apply({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db", "namespace": "ops"},
                         "stringData": {"user": "u"}})
        result = await rec.apply({"apiVersion": "v1", "kind": "Secret",
                                  "metadata": {"name": "api", "namespace": "ops"}, "stringData": {"x": "only"}})
        assert result["notReady"] == {"Workflow ops/triage": (
            "SecretNotFound: spec.runtime.secretEnv.DB: Secret ops/db has no key 'password' (keys: user)")}
        result = await rec.apply({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db", "namespace": "ops"},
                                  "stringData": {"password": "p"}})
        assert result["notReady"] == {}
        doc = await store.get_config("workflow", "ops/triage")
        assert doc is not None and doc["status"]["conditions"][0]["status"] == "True"

    run(redis_url, scenario)


def test_namespace_documents_are_accepted(redis_url: str) -> None:
    async def scenario(rec: Any, store: RedisStore) -> None:
        result = await rec.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "punchingfist-system"}})
        assert result["result"].startswith("Namespace punchingfist-system accepted")

    run(redis_url, scenario)


@pytest.mark.parametrize("namespaces", [("ops",)])
def test_crs_outside_cutman_namespaces_are_ignored(redis_url: str, namespaces: tuple[str, ...]) -> None:
    async def scenario(rec: Any, store: RedisStore) -> None:
        for body in trio("web"):
            result = await rec.apply(body)
            assert "ignored: namespace not in CUTMAN_NAMESPACES (ops)" in result["result"]
        assert await store.triggers() == {}
        assert await store.get_config("workflow", "web/triage") is None
        for body in trio("ops"):
            await rec.apply(body)
        assert len(await store.triggers()) == 4

    run(redis_url, scenario, namespaces=namespaces)
