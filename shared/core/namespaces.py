"""The namespace model: one installation, CRs in any namespace (README "Namespaces").

The five functions, the Broker and every object the reconciler plans (Triggers,
PingSources, ApiServerSources) live in the installation namespace (`CUTMAN_NAMESPACE`,
default `cutman`), because a stock Knative Trigger can only use a Broker of its own
namespace and subscribe a Service of that namespace. CRs live anywhere; everything is
keyed by `<namespace>/<name>`, and each planned object carries the label
`cutman.dev/namespace` naming the CR namespace it was planned for, which is how a
replan of one namespace finds (and deletes) its own stale objects and nobody else's.
`cutman dev` reads the same setting, so its broker is `<installation>/default` too.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

DEFAULT_NAMESPACE = "cutman"
BROKER = "default"
NAMESPACE_ENV = "CUTMAN_NAMESPACE"
WATCH_ENV = "CUTMAN_NAMESPACES"

_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")


def valid_namespace(name: str) -> bool:
    """A Kubernetes namespace name: a DNS-1123 label (lowercase, digits, '-', <= 63)."""
    return bool(_LABEL.fullmatch(name))


def installation_namespace(cfg: Mapping[str, str]) -> str:
    """Where the functions, the Broker and all planned objects live."""
    ns = cfg.get(NAMESPACE_ENV) or DEFAULT_NAMESPACE
    if not valid_namespace(ns):
        raise ValueError(f"{NAMESPACE_ENV}={ns!r} is not a namespace name (DNS-1123 label)")
    return ns


def watched_namespaces(cfg: Mapping[str, str]) -> tuple[str, ...] | None:
    """The CR namespaces the reconciler serves: `CUTMAN_NAMESPACES` (comma-separated),
    or None for every namespace."""
    names = tuple(sorted({n.strip() for n in cfg.get(WATCH_ENV, "").split(",") if n.strip()}))
    bad = [n for n in names if not valid_namespace(n)]
    if bad:
        raise ValueError(f"{WATCH_ENV}: {', '.join(bad)} not namespace names (DNS-1123 labels)")
    return names or None


def broker_path(installation: str) -> str:
    """The Broker ingress path (Knative's `/<namespace>/<broker>`)."""
    return f"/{installation}/{BROKER}"
