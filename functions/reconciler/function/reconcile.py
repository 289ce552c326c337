"""Reconciling one changed CR: compile it into Redis, then re-plan its namespace.

Every change re-plans the whole namespace with the pure planner, makes the owned objects
exactly the plan, and brings every CR's status up to date, so a missed or reordered event
is repaired by the next one; `resync` does the same from the API's own list of CRs when
the reconciler starts. One lock serialises reconciles in a process: a replan reads and
writes the whole namespace.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from cutman import clock, metrics
from cutman import log as logs
from cutman.adapters.cluster import Cluster
from cutman.adapters.store import Store
from cutman.core.planning import plan_namespace
from cutman.core.routes import route_of
from cutman.core.writer_routing import route_approved_steps
from cutman.errors import BadRequest, CutmanError, Invalid
from cutman.models.manifests import parse_resource
from cutman.models.resources import Kind, Sink, Source, Workflow
from cutman.models.secret import SecretError, is_namespace, is_secret, secret_data

from .checks import check_resource
from .secrets import secret_problems, sink_secrets, workflow_secrets
from .sources import compile_config
from .status import Reason, changed, desired_status, sink_counters, source_counters

logger = logs.get("cutman.reconciler")


@dataclass
class Reconciler:
    store: Store
    cluster: Cluster
    namespaces: tuple[str, ...] | None = None
    """The CR namespaces served (`CUTMAN_NAMESPACES`); None for all."""
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    step_writers: bool = False
    """`CUTMAN_STEP_WRITERS`: approval-gated steps run on the writer Services (overlays/step-writer)."""

    def serves(self, body: dict[str, Any]) -> bool:
        ns = (body.get("metadata") or {}).get("namespace", "default")
        return self.namespaces is None or ns in self.namespaces

    def _ignored(self, body: dict[str, Any]) -> dict[str, Any]:
        meta = body.get("metadata") or {}
        return {"result": f"{body.get('kind')} {meta.get('namespace', 'default')}/{meta.get('name')} ignored: "
                          f"namespace not in CUTMAN_NAMESPACES ({', '.join(self.namespaces or ())})"}

    async def apply(self, body: dict[str, Any]) -> dict[str, Any]:
        if not self.serves(body):
            return self._ignored(body)
        async with self.lock:
            try:
                return await self._apply(body)
            except Invalid as err:
                await self._refused(body, err)
                raise

    async def _apply(self, body: dict[str, Any]) -> dict[str, Any]:
        if is_secret(body):
            return await self._secret(body)
        if is_namespace(body):
            return _namespace(body)
        res = await self._configure(body)
        meta = res.metadata
        freed = await self._claim(res)
        result = await self._replan(meta.namespace, f"{res.kind} {meta.namespace}/{meta.name} configured")
        await self._hand_over(freed, skip=meta.namespace)
        return result

    async def _claim(self, res: Source | Workflow | Sink) -> list[str]:
        """A Source claims its path (the first claimant keeps it; a later one is stored
        but not Ready, see `_replan`); paths it no longer uses are freed and returned."""
        if not isinstance(res, Source):
            return []
        key = f"{res.metadata.namespace}/{res.metadata.name}"
        route = route_of(res)
        if route is not None:
            await self.store.set_route(route.path, key)
        return await self.store.drop_routes(key, keep=route.path if route else None)

    async def _hand_over(self, paths: Sequence[str], *, skip: str | None = None) -> None:
        """Give each freed path to the oldest other Source that claims it, and replan
        that Source's namespace so its status turns Ready."""
        if not paths:
            return
        docs = sorted(await self.store.list_configs("source"), key=_age)
        waiting = [Source.model_validate(d) for d in docs]
        touched: set[str] = set()
        for path in paths:
            for src in waiting:
                route = route_of(src)
                if route is None or route.path != path or not self.serves(src.model_dump(by_alias=True)):
                    continue
                key = f"{src.metadata.namespace}/{src.metadata.name}"
                if await self.store.set_route(path, key) == key:
                    touched.add(src.metadata.namespace)
                break
        for ns in sorted(touched - ({skip} if skip else set())):
            await self._replan(ns, f"path handed over in namespace {ns}")

    async def _configure(self, body: dict[str, Any]) -> Source | Workflow | Sink:
        res = parse_resource(body, where="event")
        check_resource(res)
        doc = await compile_config(res, secrets=self._read_secret)
        kind, meta = Kind(res.kind), res.metadata
        key = f"{meta.namespace}/{meta.name}"
        if isinstance(res, Workflow) and self.cluster.mirrors_secrets:
            await self._mirror(workflow_secrets(res))
        if isinstance(res, Sink) and self.cluster.mirrors_secrets:
            await self._mirror(sink_secrets(res))
        await self.store.put_config(kind.value.lower(), key, doc)
        return res

    async def _mirror(self, keys: list[str]) -> None:
        for key in keys:
            data = await self._read_secret(key)
            if data is None:
                logs.warning(logger, "secret not found; steps that need it will fail", secret=key)
                continue
            await self.store.put_secret(key, data)

    async def _read_secret(self, key: str) -> dict[str, str] | None:
        """secretRefs resolve through the cluster: the API in a cluster, local Secrets in dev."""
        namespace, _, name = key.partition("/")
        return await self.cluster.read_secret(namespace, name)

    async def _refused(self, body: dict[str, Any], err: Invalid) -> None:
        """A refused CR says why in its status, where `kubectl get` shows it."""
        kind, meta = body.get("kind"), body.get("metadata") or {}
        if kind not in set(Kind) or not meta.get("name"):
            return
        status = desired_status(
            kind=Kind(str(kind)), problems=[err.message], previous=body.get("status"),
            generation=meta.get("generation"), now=clock.now(),
            reason=Reason.SECRET_NOT_FOUND if isinstance(err, SecretError) else Reason.INVALID,
        )
        if changed(body.get("status"), status):
            try:
                await self.cluster.patch_status(Kind(str(kind)), meta.get("namespace", "default"),
                                                meta["name"], status)
            except CutmanError as exc:
                logs.warning(logger, "status patch failed", reason=exc.message)

    async def _secret(self, body: dict[str, Any], *, delete: bool = False) -> dict[str, Any]:
        """Local mode keeps Secrets so the same manifests work without a cluster."""
        meta = body.get("metadata") or {}
        if not meta.get("name"):
            raise BadRequest("a Secret needs metadata.name")
        key = f"{meta.get('namespace', 'default')}/{meta['name']}"
        ns = key.partition("/")[0]
        if delete:
            await self.store.delete_secret(key)
            return {**await self._replan(ns, f"Secret {key} deleted"), "result": f"Secret {key} deleted"}
        await self.store.put_secret(key, secret_data(body, where=f"Secret {key}"))
        # CRs naming it may turn Ready (or, on delete, not)
        return {**await self._replan(ns, f"Secret {key} configured"), "result": f"Secret {key} configured"}

    async def delete(self, body: dict[str, Any]) -> dict[str, Any]:
        if not self.serves(body):
            return self._ignored(body)
        async with self.lock:
            if is_secret(body):
                return await self._secret(body, delete=True)
            if is_namespace(body):
                return _namespace(body, delete=True)
            kind, meta = body.get("kind"), body.get("metadata") or {}
            if kind not in {k.value for k in Kind} or not meta.get("name"):
                raise BadRequest("a delete needs kind and metadata.name")
            ns = meta.get("namespace", "default")
            freed = await self._forget(Kind(str(kind)), f"{ns}/{meta['name']}")
            result = await self._replan(ns, f"{kind} {ns}/{meta['name']} deleted")
            await self._hand_over(freed)
            return result

    async def _forget(self, kind: Kind, key: str) -> list[str]:
        freed = await self.store.drop_routes(key) if kind is Kind.SOURCE else []
        await self.store.delete_config(kind.value.lower(), key)
        return freed

    async def run_finished(self, *, workflow: str, run: str, phase: str) -> dict[str, Any]:
        """A finished run becomes its Workflow's `lastRun` and `phase`."""
        ns, _, name = workflow.partition("/")
        if not ns or not name or not run:
            raise BadRequest("run.finished needs the workflow (ns/name) and run extensions")
        async with self.lock:
            if await self.store.count_run(workflow, run, phase):
                metrics.RUNS_FINISHED.labels(workflow, phase).inc()
            status = {"lastRun": run, "phase": phase, **await self.store.workflow_stats(workflow)}
            await self.cluster.patch_status(Kind.WORKFLOW, ns, name, status)
            await self._record(Kind.WORKFLOW, workflow, status)
            await self._sink_statuses(workflow)
        return {"result": f"Workflow {workflow} last run {run} {phase}"}

    async def sink_delivered(self, *, sink: str) -> dict[str, Any]:
        """A delivery just happened: the Sink's counters go to its status now, not a run late."""
        ns, _, name = sink.partition("/")
        if not ns or not name:
            raise BadRequest("sink.delivered needs the cmsink extension (ns/name)")
        async with self.lock:
            if await self.store.get_config("sink", sink) is None:
                return {"result": f"Sink {sink} is not configured"}
            counters = sink_counters(await self.store.sink_stats(sink))
            if counters:
                await self.cluster.patch_status(Kind.SINK, ns, name, counters)
                await self._record(Kind.SINK, sink, counters)
        return {"result": f"Sink {sink} status {counters}"}

    async def _sink_statuses(self, workflow: str) -> None:
        """Publish the counters of the workflow's Sinks (they lag the run's own delivery by one)."""
        doc = await self.store.get_config("workflow", workflow)
        ns = workflow.partition("/")[0]
        for sink in (doc or {}).get("spec", {}).get("sinks", []):
            key = f"{ns}/{sink}"
            if await self.store.get_config("sink", key) is None:
                continue
            counters = sink_counters(await self.store.sink_stats(key))
            if counters:
                await self.cluster.patch_status(Kind.SINK, ns, sink, counters)
                await self._record(Kind.SINK, key, counters)

    async def resync(self, namespaces: Sequence[str] | None = None) -> dict[str, Any]:
        """Make Redis and the owned objects match the CRs the API has (after missed events),
        in the given namespaces or (None) in every namespace that has cutman CRs."""
        async with self.lock:
            listed: dict[Kind, list[dict[str, Any]]] = {}
            for kind in Kind:
                items: list[dict[str, Any]] = []
                for ns in (namespaces if namespaces is not None else [None]):
                    found = await self.cluster.list_resources(kind, ns)
                    if found is None:
                        return {}
                    items += found
                listed[kind] = sorted(items, key=_age)
            scopes = set(namespaces or ()) | {
                (b.get("metadata") or {}).get("namespace", "default") for v in listed.values() for b in v}
            if namespaces is None:
                scopes |= {(d.get("metadata") or {}).get("namespace", "default")
                           for k in Kind for d in await self.store.list_configs(k.value.lower())}
            refused: dict[str, list[str]] = {ns: [] for ns in scopes}
            for kind, items in listed.items():
                live = set()
                for body in items:
                    meta = body["metadata"]
                    key = f"{meta.get('namespace', 'default')}/{meta['name']}"
                    live.add(key)
                    try:
                        res = await self._configure(body)
                        await self._claim(res)
                    except Invalid as err:
                        refused[meta.get("namespace", "default")].append(f"{kind.value} {key}")
                        await self._refused(body, err)
                for ns in scopes:
                    for doc in await self.store.list_configs(kind.value.lower(), ns):
                        key = f"{ns}/{doc['metadata']['name']}"
                        if key not in live:
                            await self._hand_over(await self._forget(kind, key))
            out: dict[str, Any] = {}
            for ns in sorted(scopes):
                result = await self._replan(ns, f"namespace {ns} resynced")
                out[ns] = {**result, "refused": refused[ns]}
            return out

    async def _replan(self, namespace: str, what: str) -> dict[str, Any]:
        load = self.store.list_configs
        workflows = [Workflow.model_validate(d) for d in await load("workflow", namespace)]
        sources = [Source.model_validate(d) for d in await load("source", namespace)]
        sinks = [Sink.model_validate(d) for d in await load("sink", namespace)]
        routes = {}
        for src in sources:
            route = route_of(src)
            owner = await self.store.route(route.path) if route else None
            if route is not None and owner is not None:
                routes[route.path] = owner
        plan = plan_namespace(namespace=namespace, installation=self.cluster.namespace, workflows=workflows,
                              sources=sources, sinks=sinks, routes=routes)
        objects = route_approved_steps(plan.objects, workflows) if self.step_writers else list(plan.objects)
        deleted = await self.cluster.apply_objects(namespace, objects)
        wf_problems = dict(plan.workflow_problems)
        for wf in workflows:
            key = f"{namespace}/{wf.metadata.name}"
            found = await secret_problems(wf, self._read_secret)
            if found:
                wf_problems[key] = (*wf_problems.get(key, ()), *found)
        not_ready = await self._statuses(workflows, sources, sinks, wf_problems, plan.source_problems)
        return {
            "notReady": not_ready,
            "result": what,
            "objects": sorted(plan.keys()),
            "triggers": sorted(o["metadata"]["name"] for o in plan.objects if o["kind"] == "Trigger"),
            "deletedTriggers": [k.split("/", 1)[1] for k in deleted if k.startswith("Trigger/")],
            "deleted": deleted,
            "problems": {k: list(v) for k, v in wf_problems.items()},
            "sourceProblems": {k: list(v) for k, v in plan.source_problems.items()},
        }

    async def _statuses(
        self,
        workflows: list[Workflow],
        sources: list[Source],
        sinks: list[Sink],
        wf_problems: dict[str, tuple[str, ...]],
        src_problems: dict[str, tuple[str, ...]],
    ) -> dict[str, str]:
        """Bring every CR's status up to date; returns `Kind ns/name` -> `Reason: why` of
        each CR that is not Ready (what `cutman apply` prints)."""
        now = clock.now()
        not_ready: dict[str, str] = {}
        every: list[Source | Workflow | Sink] = [*workflows, *sources, *sinks]
        for res in every:
            kind, meta = Kind(res.kind), res.metadata
            key = f"{meta.namespace}/{meta.name}"
            problems = (wf_problems if kind is Kind.WORKFLOW else src_problems).get(key, ())
            counters = await self._counters(res, key)
            previous = res.status.dump() if res.status is not None else None
            reason = None
            if kind is Kind.WORKFLOW and problems and not problems[0].startswith("sink "):
                reason = Reason.SECRET_NOT_FOUND
            if kind is Kind.SOURCE and any(p.startswith("path ") for p in problems):
                reason = Reason.PATH_CONFLICT
            elif kind is Kind.SOURCE and any(not p.startswith("workflow ") for p in problems):
                reason = Reason.INVALID
            status = desired_status(kind=kind, problems=problems, previous=previous,
                                    generation=meta.generation, now=now, counters=counters, reason=reason)
            if changed(previous, status):
                await self.cluster.patch_status(kind, meta.namespace, meta.name, status)
                await self._record(kind, key, status)
            cond = status["conditions"][0]
            if cond["status"] != "True":
                not_ready[f"{kind.value} {key}"] = f"{cond['reason']}: {cond['message']}"
        return not_ready

    async def _record(self, kind: Kind, key: str, status: dict[str, Any]) -> None:
        """Keep what was written beside the compiled config, so the next replan patches
        only what changed (in a cluster, the update event that follows carries it too)."""
        doc = await self.store.get_config(kind.value.lower(), key)
        if doc is not None:
            merged = {**(doc.get("status") or {}), **status}
            if merged != doc.get("status"):
                await self.store.put_config(kind.value.lower(), key, {**doc, "status": merged})

    async def _counters(self, res: Source | Workflow | Sink, key: str) -> dict[str, Any]:
        if isinstance(res, Source):
            return source_counters(await self.store.source_stats(key))
        if isinstance(res, Workflow):
            out: dict[str, Any] = {"steps": ",".join(s.name for s in res.spec.steps)}
            runs = await self.store.list_runs(workflow=key, limit=1)
            if runs:
                out |= {"lastRun": runs[0].id, "phase": runs[0].phase.value}
            return out | await self.store.workflow_stats(key)
        return sink_counters(await self.store.sink_stats(key))


def _age(body: dict[str, Any]) -> tuple[str, str, str]:
    """Oldest first, so after a resync the first claimant of a path still serves it."""
    meta = body.get("metadata") or {}
    return (str(meta.get("creationTimestamp") or ""), str(meta.get("namespace", "default")),
            str(meta.get("name", "")))


def _namespace(body: dict[str, Any], *, delete: bool = False) -> dict[str, Any]:
    """A v1 Namespace beside the CRs (the earlier system's files start with one): in a
    cluster kubectl creates it; locally namespaces need no creating, so it is accepted."""
    name = (body.get("metadata") or {}).get("name")
    if not name:
        raise BadRequest("a Namespace needs metadata.name")
    what = "left alone (cutman dev does not delete namespaces)" if delete else "accepted (nothing to create locally)"
    return {"result": f"Namespace {name} {what}"}
