"""`KubeCluster`: the `Cluster` port on the Kubernetes API, with the official client.

Planned objects are written with server-side apply (field manager `cutman`, forced, so
cutman's fields win over a hand edit and a rename leaves no merged leftovers); objects
carrying the owner label that are no longer planned are deleted. CR status goes through
the `status` subresource as a merge patch. The client is synchronous, so calls run in a
worker thread; every `ApiException` or connection error is translated here (404 to
"absent", 409 to `Conflict`, 5xx and network trouble to `Unavailable`, so the broker
retries) and never reaches a handler.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import urllib3
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException

from ..core.labels import LABEL_MANAGED, LABEL_NAMESPACE, MANAGED_BY
from ..core.namespaces import DEFAULT_NAMESPACE
from ..errors import Conflict, CutmanError, Invalid, Unavailable
from ..models.resources import GROUP, VERSION, Kind
from .cluster import is_owned, object_key

FIELD_MANAGER = "cutman"
APPLY = "application/apply-patch+yaml"
MERGE = "application/merge-patch+json"
REQUEST_TIMEOUT = (5.0, 30.0)  # connect, read (seconds)
T = TypeVar("T")


@dataclass(frozen=True)
class ObjectType:
    group: str
    version: str
    plural: str


# The kinds the planner produces; anything else is refused before it reaches the API.
OWNED: dict[str, ObjectType] = {
    "Trigger": ObjectType("eventing.knative.dev", "v1", "triggers"),
    "PingSource": ObjectType("sources.knative.dev", "v1", "pingsources"),
    "ApiServerSource": ObjectType("sources.knative.dev", "v1", "apiserversources"),
}


def api_client(cfg: Mapping[str, str]) -> client.ApiClient:
    """In a pod: the service account; otherwise KUBECONFIG (or ~/.kube/config)."""
    try:
        if Path("/var/run/secrets/kubernetes.io/serviceaccount/token").exists():
            config.load_incluster_config()
            return client.ApiClient()
        return config.new_client_from_config(config_file=cfg.get("KUBECONFIG") or None)
    except ConfigException as exc:
        raise CutmanError(f"no Kubernetes credentials: {exc}") from None


def _translate(exc: Exception, what: str) -> CutmanError:
    if isinstance(exc, ApiException):
        if exc.status == 409:
            return Conflict(f"{what}: conflict")
        if exc.status in (400, 422):
            return Invalid(f"{what}: refused by the API server ({exc.reason})")
        if exc.status == 403:
            return Invalid(f"{what}: forbidden; the reconciler's Role (deploy/knative/base/rbac.yaml) "
                           "does not allow it")
        if exc.status == 401:
            return Unavailable(f"{what}: the API server did not accept the reconciler's credentials")
        return Unavailable(f"{what}: API server answered {exc.status}")
    return Unavailable(f"{what}: API server unreachable ({type(exc).__name__})")


def _unchanged(current: Mapping[str, Any] | None, desired: Mapping[str, Any]) -> bool:
    """Whether applying `desired` would change nothing cutman owns (saves a request per
    object on every event; a field the API server defaulted just means one extra apply)."""
    if current is None or current.get("spec") != desired.get("spec"):
        return False
    have, want = current.get("metadata") or {}, desired["metadata"]
    labels = have.get("labels") or {}
    if any(labels.get(k) != v for k, v in (want.get("labels") or {}).items()):
        return False
    return bool(have.get("ownerReferences") == want.get("ownerReferences"))


class KubeCluster:
    mirrors_secrets = True

    def __init__(self, api: client.ApiClient, namespace: str = DEFAULT_NAMESPACE) -> None:
        self.api = api
        self.namespace = namespace
        self.custom = client.CustomObjectsApi(api)
        self.core = client.CoreV1Api(api)

    async def _call(
        self, what: str, fn: Callable[..., T], *args: Any, absent_ok: bool = True, **kwargs: Any
    ) -> T | None:
        """Run one client call in a thread; None on 404 (when `absent_ok`), CutmanError on
        anything else. Every call has a deadline, so a stuck API server cannot hang a handler."""
        kwargs.setdefault("_request_timeout", REQUEST_TIMEOUT)
        try:
            return await asyncio.to_thread(fn, *args, **kwargs)
        except ApiException as exc:
            if exc.status == 404 and absent_ok:
                return None
            if exc.status == 404:
                raise Unavailable(f"{what}: not found; is the resource type installed "
                                  "(Knative Eventing) and the namespace there?") from None
            raise _translate(exc, what) from None
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise _translate(exc, what) from None

    async def owned(self, scope: str) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for kind, t in OWNED.items():
            listing = await self._call(
                f"list {t.plural}", self.custom.list_namespaced_custom_object,
                t.group, t.version, self.namespace, t.plural,
                label_selector=f"{LABEL_MANAGED}={MANAGED_BY},{LABEL_NAMESPACE}={scope}",
            )
            for item in (listing or {}).get("items", []):
                item.setdefault("kind", kind)
                if is_owned(item, scope):
                    out[object_key(item)] = item
        return out

    async def apply_objects(self, scope: str, objects: Sequence[dict[str, Any]]) -> list[str]:
        for obj in objects:
            if obj["kind"] not in OWNED:
                raise Invalid(f"the planner produced a {obj['kind']}, which cutman does not own")
        namespace = self.namespace
        current = await self.owned(scope)
        for obj in objects:
            if _unchanged(current.get(object_key(obj)), obj):
                continue
            t = OWNED[obj["kind"]]
            name = obj["metadata"]["name"]
            body = {**obj, "metadata": {**obj["metadata"], "namespace": namespace}}
            await self._call(
                f"apply {obj['kind']} {namespace}/{name}",
                self.custom.patch_namespaced_custom_object,
                t.group, t.version, namespace, t.plural, name, body,
                field_manager=FIELD_MANAGER, force=True, _content_type=APPLY, absent_ok=False,
            )
        stale = sorted(set(current) - {object_key(o) for o in objects})
        for key in stale:
            kind, name = key.split("/", 1)
            t = OWNED[kind]
            await self._call(
                f"delete {key}", self.custom.delete_namespaced_custom_object,
                t.group, t.version, namespace, t.plural, name,
            )
        return stale

    async def patch_status(self, kind: Kind, namespace: str, name: str, status: dict[str, Any]) -> None:
        await self._call(
            f"status of {kind.value} {namespace}/{name}",
            self.custom.patch_namespaced_custom_object_status,
            GROUP, VERSION, namespace, kind.plural, name, {"status": status},
            _content_type=MERGE,
        )

    async def list_resources(self, kind: Kind, namespace: str | None) -> list[dict[str, Any]] | None:
        if namespace is None:
            listing = await self._call(f"list {kind.plural}", self.custom.list_cluster_custom_object,
                                       GROUP, VERSION, kind.plural)
        else:
            listing = await self._call(f"list {kind.plural}", self.custom.list_namespaced_custom_object,
                                       GROUP, VERSION, namespace, kind.plural)
        items: list[dict[str, Any]] = (listing or {}).get("items", [])
        for item in items:
            item.setdefault("apiVersion", f"{GROUP}/{VERSION}")
            item.setdefault("kind", kind.value)
        return items

    async def read_secret(self, namespace: str, name: str) -> dict[str, str] | None:
        secret = await self._call(
            f"read Secret {namespace}/{name}", self.core.read_namespaced_secret, name, namespace
        )
        if secret is None:
            return None
        out: dict[str, str] = {}
        for key, value in (secret.data or {}).items():
            try:
                out[str(key)] = base64.b64decode(str(value), validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                raise Invalid(f"Secret {namespace}/{name}: data.{key} is not base64 UTF-8") from None
        return out

    def close(self) -> None:
        self.api.close()
