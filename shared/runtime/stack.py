"""Finding a running `cutman dev` from its state folder, and talking to it.

`cutman dev` writes `<state>/dev.json` (ports, Redis URL, pid); `cutman apply` and
`cutman runs` read it, so they work from the same folder without flags.
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

from ..models.cloudevent import make_event, to_structured
from ..models.events import EventType
from ..models.manifests import Document

STATE_ENV = "CUTMAN_STATE_DIR"


def state_dir(explicit: str | None = None) -> Path:
    return Path(explicit or os.environ.get(STATE_ENV) or ".cutman").resolve()


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
    resp = httpx.post(info.services["cutman-reconciler"], headers=msg.headers, content=msg.body, timeout=30)
    try:
        body = resp.json()
    except ValueError:
        body = {"message": resp.text}
    return resp.status_code, body
