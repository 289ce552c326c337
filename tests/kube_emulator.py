"""A Kubernetes API test double: kmock's KubernetesEmulator over real HTTP, plus the two
API server behaviours the cluster backend relies on and kmock leaves out.

- Server-side apply (PATCH `application/apply-patch+yaml`) creates a missing object and
  replaces the applier's fields instead of deep-merging them (one field manager only).
- `labelSelector` equality terms (`k=v,k2=v2`) filter lists.

Garbage collection by ownerReferences is a controller, not the API server: tests assert
the references, not the collection. Used by tests/integration/test_kube_*.py.
"""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp.web
import attrs
import kmock
from kmock._internal import rendering
from kubernetes import client

APPLY = "application/apply-patch+yaml"


@attrs.define(kw_only=True)
class ApplyingEmulator(kmock.KubernetesEmulator):
    async def _handle(self, request: rendering.Request) -> aiohttp.web.StreamResponse:
        is_apply = (
            request.method == kmock.method.PATCH
            and request.headers.get("Content-Type", "").startswith(APPLY)
            and request.name is not None
            and request.resource is not None
            and not request.subresource
        )
        if is_apply:
            key = (request.resource, request.namespace, request.name)
            async with self._lock:
                body = copy.deepcopy(request.data)
                if key in self.objects and not self.objects[key].deleted:
                    kept = self.objects[key].raw
                    if kept.get("status"):
                        body["status"] = kept["status"]
                    self.objects[key].delete()
                    self.objects[key].create(body)
                elif key in self.objects:
                    self.objects[key].create(body)
                else:
                    self.objects[key] = body
        return await super()._handle(request)

    async def _serve_list(self, request: rendering.Request) -> rendering.Payload:
        result: dict[str, Any] = await super()._serve_list(request)  # type: ignore[assignment]
        selector = request.params.get("labelSelector")
        if selector:
            terms = dict(t.split("=", 1) for t in selector.split(","))
            result["items"] = [
                i for i in result["items"]
                if all((i.get("metadata", {}).get("labels") or {}).get(k) == v for k, v in terms.items())
            ]
        return result

    def raw_objects(self, plural: str, namespace: str) -> dict[str, dict[str, Any]]:
        """Live objects of a resource (by plural) in a namespace, by name."""
        return {
            name: obj.raw
            for (res, ns, name), obj in self.objects.items()
            if res.plural == plural and ns == namespace and not obj.deleted
        }


@asynccontextmanager
async def kube_api() -> AsyncIterator[tuple[ApplyingEmulator, client.ApiClient]]:
    """The emulator on a free loopback port, and an official-client ApiClient pointed at it."""
    async with ApplyingEmulator() as emulator, kmock.Server(emulator) as server:
        cfg = client.Configuration()
        cfg.host = str(server.url).rstrip("/")
        api = client.ApiClient(cfg)
        try:
            yield emulator, api
        finally:
            api.close()
