"""Finding a running `cutman dev` from its state folder, and talking to it.

`cutman dev` writes `<state>/dev.json` (ports, Redis URL, pid); `cutman apply` and
`cutman runs` read it, so they work from the same folder without flags.

Applying keeps what the Kubernetes API server would: `metadata.creationTimestamp` set
when an object is created and kept after, `metadata.generation` bumped when its spec
changes; and says, like kubectl, whether each object was created, configured or left
unchanged (an unchanged object is not sent again).
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

from .. import clock
from ..adapters.store import RedisStore
from ..errors import Unavailable
from ..models.cloudevent import make_event, to_structured
from ..models.events import EventType
from ..models.manifests import Document, ManifestError, parse_resource
from ..models.secret import is_namespace, is_secret, secret_data

STATE_ENV = "CUTMAN_STATE_DIR"


def state_dir(explicit: str | None = None) -> Path:
    return Path(explicit or os.environ.get(STATE_ENV) or ".cutman").resolve()


def secret_key(folder: Path) -> str | None:
    """The key sealing the stack's local Secrets ($CUTMAN_SECRET_KEY, else `cutman dev`'s
    `<state>/secret.key`), so the CLI reads the same Secrets the functions do."""
    if os.environ.get("CUTMAN_SECRET_KEY"):
        return os.environ["CUTMAN_SECRET_KEY"]
    try:
        return (folder / "secret.key").read_text().strip() or None
    except OSError:
        return None


@dataclass(frozen=True)
class StackInfo:
    pid: int
    port: int
    redis_url: str
    broker_url: str
    services: dict[str, str]
    metrics: dict[str, str] = field(default_factory=dict)

    def save(self, folder: Path) -> None:
        """Written 0600: the Redis URL holds the local Redis's password."""
        tmp = folder / f"dev.json.{uuid.uuid4().hex}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(json.dumps(asdict(self), indent=2))
        tmp.replace(folder / "dev.json")

    @classmethod
    def load(cls, folder: Path) -> StackInfo | None:
        try:
            info = cls(**json.loads((folder / "dev.json").read_text()))
        except (OSError, ValueError, TypeError):
            return None
        try:
            os.kill(info.pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass
        return info


def apiserver_event(doc: Document, *, delete: bool = False) -> Any:
    """The event an ApiServerSource (Resource mode) would send for this object."""
    body = doc.body
    meta = body.get("metadata") or {}
    ns, name = meta.get("namespace", "default"), meta.get("name", "")
    kind = str(body.get("kind", ""))
    plural = kind.lower() + "s"
    return make_event(
        type=EventType.APISERVER_DELETE if delete else EventType.APISERVER_UPDATE,
        source="https://cutman-dev.local",
        subject=f"/apis/{body.get('apiVersion', '')}/namespaces/{ns}/{plural}/{name}",
        data=body,
        extensions={"kind": kind, "name": name, "namespace": ns},
    )


def send_to_reconciler(info: StackInfo, doc: Document, *, delete: bool = False) -> tuple[int, dict[str, Any]]:
    msg = to_structured(apiserver_event(doc, delete=delete))
    url = info.services["cutman-reconciler"]
    try:
        resp = httpx.post(url, headers=msg.headers, content=msg.body, timeout=30)
    except httpx.TransportError as exc:
        raise Unavailable(f"the reconciler at {url} did not answer ({type(exc).__name__}): "
                          "is `cutman dev` running? Nothing was applied.") from None
    try:
        body = resp.json()
    except ValueError:
        body = {"message": resp.text}
    return resp.status_code, body


@dataclass(frozen=True)
class Change:
    """What applying a document does (`created`, `configured`, `unchanged`) and the body to send."""

    verb: str
    body: dict[str, Any]


def _key(body: dict[str, Any]) -> str:
    meta = body.get("metadata") or {}
    return f"{meta.get('namespace', 'default')}/{meta.get('name')}"


async def existing(store: RedisStore, body: dict[str, Any]) -> dict[str, Any] | None:
    """The stored counterpart of a document: a Secret's data, a CR's compiled config."""
    if is_secret(body):
        data = await store.get_secret(_key(body))
        return None if data is None else {"data": data}
    return await store.get_config(str(body.get("kind", "")).lower(), _key(body))


def change(doc: Document, current: dict[str, Any] | None, *, now: str) -> Change:
    body = doc.body
    if is_namespace(body):
        return Change("configured", body)
    if is_secret(body):
        data = secret_data(body, where=doc.where)
        if current is None:
            return Change("created", body)
        return Change("unchanged" if current["data"] == data else "configured", body)
    spec = parse_resource(body, where=doc.where).spec.model_dump(by_alias=True, mode="json", exclude_none=True)
    meta = dict(body.get("metadata") or {})
    if current is None:
        meta.setdefault("creationTimestamp", now)
        meta["generation"] = 1
        return Change("created", {**body, "metadata": meta})
    old = current.get("metadata") or {}
    same_spec = current.get("spec") == spec
    same = same_spec and all((old.get(k) or {}) == (meta.get(k) or {}) for k in ("labels", "annotations"))
    meta["creationTimestamp"] = old.get("creationTimestamp") or now
    generation = int(old.get("generation") or 1)
    meta["generation"] = generation if same_spec else generation + 1
    return Change("unchanged" if same else "configured", {**body, "metadata": meta})


async def plan_changes(redis_url: str, docs: list[Document], *, secret_key: str | None = None) -> list[Change]:
    """Changes for documents not validated yet: an invalid one is sent as is (and refused)."""
    store = RedisStore(redis_url, secret_key=secret_key)
    out = []
    try:
        for d in docs:
            try:
                out.append(change(d, await existing(store, d.body), now=clock.now()))
            except ManifestError:
                out.append(Change("created", d.body))
        return out
    finally:
        await store.close()
