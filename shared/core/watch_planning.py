"""The ApiServerSource a `kubernetes` Source needs: changes to the watched objects reach
ingest at /sources/<ns>/<name>, which wraps each into `dev.cutman.source.event`.

Pure, like trigger planning. It lives in the installation namespace, like every planned
object, and watches the Source's own namespace through `namespaceSelector` (the
`kubernetes.io/metadata.name` label every namespace carries). It runs as the ServiceAccount
`cutman-source-watcher` (deploy/knative/base/rbac.yaml): the reconciler cannot grant RBAC, so
the platform team lists there what Sources may watch. `config.resource` is `Kind` (core
v1), `v1/Kind` or `group/version/Kind`; `config.labelSelector` takes equality (`k=v`,
`k==v`) and existence (`k`) terms.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..models.resources import Source, SourceType
from .ids import object_name
from .planning import LABEL_ROLE, SERVICES, owned_metadata, service_ref

WATCHER_SA = "cutman-source-watcher"
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"
LABEL_SOURCE = "cutman.dev/source"


class SelectorError(ValueError):
    pass


def label_selector(text: str) -> dict[str, Any]:
    """A Kubernetes LabelSelector from `k=v,k2==v2,k3` (what an ApiServerSource takes)."""
    labels: dict[str, str] = {}
    exists: list[dict[str, Any]] = []
    for term in (t.strip() for t in text.split(",")):
        if not term:
            continue
        key, eq, value = term.replace("==", "=").partition("=")
        key, value = key.strip(), value.strip()
        if not key or any(c in key + value for c in "!()<> "):
            raise SelectorError(f"labelSelector term {term!r}: use k=v or k")
        if eq:
            labels[key] = value
        else:
            exists.append({"key": key, "operator": "Exists"})
    out: dict[str, Any] = {}
    if labels:
        out["matchLabels"] = labels
    if exists:
        out["matchExpressions"] = exists
    return out


def watched(resource: str) -> dict[str, str]:
    api_version, _, kind = resource.strip().rpartition("/")
    return {"apiVersion": api_version or "v1", "kind": kind}


def api_server_source(source: Source, *, installation: str) -> dict[str, Any]:
    meta, cfg = source.metadata, source.spec.config
    res: dict[str, Any] = watched(cfg.resource or "")
    if cfg.label_selector:
        res["selector"] = label_selector(cfg.label_selector)
    metadata = owned_metadata(name=object_name("cm", meta.namespace, "watch", meta.name),
                              installation=installation, owner_namespace=meta.namespace,
                              labels={LABEL_SOURCE: meta.name, LABEL_ROLE: "kubernetes"}, owner=source)
    return {
        "apiVersion": "sources.knative.dev/v1",
        "kind": "ApiServerSource",
        "metadata": metadata,
        "spec": {
            "mode": "Resource",
            "serviceAccountName": WATCHER_SA,
            "resources": [res],
            "namespaceSelector": {"matchLabels": {NAMESPACE_NAME_LABEL: meta.namespace}},
            "sink": {"ref": service_ref(SERVICES["ingest"], installation),
                     "uri": f"/sources/{meta.namespace}/{meta.name}"},
        },
    }


def plan_watch_objects(sources: Iterable[Source], *, installation: str) -> tuple[tuple[dict[str, Any], ...], dict[str, tuple[str, ...]]]:
    """An ApiServerSource per kubernetes Source, and the Sources whose selector is unusable."""
    out: list[dict[str, Any]] = []
    problems: dict[str, tuple[str, ...]] = {}
    for src in sorted(sources, key=lambda s: s.metadata.name):
        if src.spec.type is not SourceType.KUBERNETES:
            continue
        try:
            out.append(api_server_source(src, installation=installation))
        except SelectorError as exc:
            problems[f"{src.metadata.namespace}/{src.metadata.name}"] = (str(exc),)
    return tuple(out), problems
