"""Where the read commands get their data: the `Backend` port and its local implementation.

Every read command (`get`, `describe`, `runs`, `alerts`) talks to a `Backend`, so none
of them branches on where it runs. `LocalBackend` reads the Redis of a running
`cutman dev` through the API's query layer (cutman.api.queries); `HTTPBackend`
(cutman.cli.http_backend) asks an installation's HTTP API `/api/v1`. Both therefore
answer the same JSON (docs/api.md), secrets already redacted.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

from ..adapters.store import RedisStore
from ..api import queries
from ..errors import BadRequest, NotFound
from ..models.resources import API_VERSION, Kind


def manifest(view: dict[str, Any]) -> dict[str, Any]:
    """An API resource view (docs/api.md) shaped back into its manifest, as `-o yaml` shows it."""
    meta = {"name": view.get("name"), "namespace": view.get("namespace", "default")}
    for key in ("labels", "annotations", "generation", "creationTimestamp"):
        if view.get(key):
            meta[key] = view[key]
    status = dict(view.get("status") or {})
    if view.get("conditions"):
        status["conditions"] = view["conditions"]
    doc: dict[str, Any] = {"apiVersion": API_VERSION, "kind": view.get("kind"), "metadata": meta,
                           "spec": view.get("spec") or {}}
    if status:
        doc["status"] = status
    if view.get("stats"):
        doc["stats"] = view["stats"]
    return doc


class Backend(Protocol):
    """The read API of an installation, in the shapes of docs/api.md."""

    async def resources(self, kind: Kind, namespace: str | None) -> list[dict[str, Any]]:
        """Sources, Workflows or Sinks of one namespace (None: all), with Ready and status."""
        ...

    async def resource(self, kind: Kind, namespace: str, name: str) -> dict[str, Any] | None:
        """One resource with its stats (a Workflow also with `recentRuns`)."""
        ...

    async def runs(self, *, namespace: str | None, workflow: str | None, limit: int) -> list[dict[str, Any]]:
        """Run summaries, newest first (`workflow` is a name in `namespace`, or ns/name)."""
        ...

    async def run(self, run_id: str) -> dict[str, Any] | None:
        """One run with step output, results, tool calls, approvals and sink deliveries."""
        ...

    async def alerts(self, *, namespace: str | None) -> list[dict[str, Any]]:
        """Alert lifecycle per Source: firing since, count, resolved."""
        ...

    async def triggers(self, namespace: str) -> list[dict[str, Any]] | None:
        """The Triggers planned for the CRs of a namespace; None where this backend cannot see them."""
        ...

    async def delete_run(self, run_id: str) -> None:
        """Forget a run (NotFound if there is none)."""
        ...

    def warnings(self) -> list[str]:
        """What the last calls skipped or could not show, for `warning:` lines."""
        ...

    async def close(self) -> None: ...


def _workflow_key(namespace: str | None, workflow: str | None) -> str | None:
    if workflow and "/" not in workflow:
        return f"{namespace or 'default'}/{workflow}"
    return workflow


class _Skipped(logging.Handler):
    """Collects the store's "run skipped" reports (runs stored but unreadable) for a warning."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        fields = getattr(record, "fields", {}) or {}
        if record.getMessage() == "run skipped" and fields.get("run"):
            self.lines.append(f"skipped run {fields['run']} is stored but cannot be read: {fields.get('reason', '')}")


class LocalBackend:
    """A `cutman dev` stack's Redis, through the API's own query layer (same answers).

    Runs the store cannot parse are left out of lists, as the API leaves them out; the
    CLI says which in a warning (`skipped`), so a damaged run is visible, not a crash.
    """

    def __init__(self, store: RedisStore) -> None:
        self.store = store
        self.skipped = _Skipped()
        runs_logger = logging.getLogger("cutman.runs")
        runs_logger.addHandler(self.skipped)
        runs_logger.propagate = False

    def warnings(self) -> list[str]:
        return list(self.skipped.lines)

    async def _masked(self, doc: Any) -> Any:
        return queries.masked(doc, await queries.secret_values(self.store))

    async def resources(self, kind: Kind, namespace: str | None) -> list[dict[str, Any]]:
        views = await queries.list_resources(self.store, kind.plural, namespace=namespace)
        return list(await self._masked(views))

    async def resource(self, kind: Kind, namespace: str, name: str) -> dict[str, Any] | None:
        view = await queries.get_resource(self.store, kind.plural, namespace, name)
        return None if view is None else dict(await self._masked(view))

    async def runs(self, *, namespace: str | None, workflow: str | None, limit: int) -> list[dict[str, Any]]:
        page = await queries.list_runs(self.store, namespace=namespace, workflow=_workflow_key(namespace, workflow),
                                       limit=min(limit, queries.MAX_LIMIT))
        return list(await self._masked(page.items))

    async def run(self, run_id: str) -> dict[str, Any] | None:
        view = await queries.get_run(self.store, run_id)
        return None if view is None else dict(await self._masked(view))

    async def alerts(self, *, namespace: str | None) -> list[dict[str, Any]]:
        return await queries.list_alerts(self.store, namespace=namespace)

    async def triggers(self, namespace: str) -> list[dict[str, Any]] | None:
        out = []
        for trig in (await self.store.triggers()).values():
            meta = trig.get("metadata") or {}
            labels = meta.get("labels") or {}
            if labels.get("cutman.dev/namespace", meta.get("namespace")) == namespace:
                out.append(trig)
        return sorted(out, key=lambda t: str(t["metadata"]["name"]))

    async def delete_run(self, run_id: str) -> None:
        if not await self.store.delete_run(run_id):
            raise NotFound(f'run "{run_id}" not found')

    async def close(self) -> None:
        logging.getLogger("cutman.runs").removeHandler(self.skipped)
        await self.store.close()


__all__ = ["Backend", "BadRequest", "LocalBackend", "manifest"]
