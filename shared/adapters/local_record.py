"""Local mode's stand-in for the API server's storage: the manifests `cutman apply` sent.

In a cluster the reconciler rebuilds lost compiled config from the CRs the API lists. In
`cutman dev` nothing but Redis held them, so a Redis that lost its data (a flush, a
restart without its append-only file) would lose every Source, Workflow, Sink and Secret.
The reconciler therefore records each applied manifest here (`CUTMAN_RESOURCES_DIR`, set
by `cutman dev` to `.cutman/resources`) and replays them, in the order they were first
applied, when the config is gone.

    <dir>/<Kind>/<namespace>/<name>.json    {"seq": first-applied ns, "body": manifest}

Files are 0600 in 0700 directories: Secrets are among them, as they are in the files the
user applied.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

REPLAY_ORDER = ("Secret", "Sink", "Workflow", "Source")


class LocalRecord:
    def __init__(self, root: Path) -> None:
        self.root = root

    @classmethod
    def from_cfg(cls, cfg: Mapping[str, str]) -> LocalRecord | None:
        where = cfg.get("CUTMAN_RESOURCES_DIR", "")
        return cls(Path(where)) if where else None

    def _path(self, body: Mapping[str, Any]) -> Path | None:
        meta = body.get("metadata") or {}
        kind, name, ns = str(body.get("kind", "")), str(meta.get("name", "")), str(meta.get("namespace", "default"))
        if kind not in REPLAY_ORDER or not name or "/" in name + ns or name.startswith("."):
            return None
        return self.root / kind / ns / f"{name}.json"

    def remember(self, body: Mapping[str, Any]) -> None:
        path = self._path(body)
        if path is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        seq = time.time_ns()
        if path.exists():
            try:
                seq = int(json.loads(path.read_text())["seq"])
            except (ValueError, KeyError, TypeError):
                pass
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump({"seq": seq, "body": dict(body)}, f)
        tmp.replace(path)

    def forget(self, body: Mapping[str, Any]) -> None:
        path = self._path(body)
        if path is not None:
            path.unlink(missing_ok=True)

    def bodies(self) -> list[dict[str, Any]]:
        """Every recorded manifest: Secrets, Sinks, Workflows, then Sources, each oldest first."""
        out: list[tuple[int, int, dict[str, Any]]] = []
        for rank, kind in enumerate(REPLAY_ORDER):
            for path in (self.root / kind).glob("*/*.json"):
                try:
                    doc = json.loads(path.read_text())
                    out.append((rank, int(doc["seq"]), dict(doc["body"])))
                except (OSError, ValueError, KeyError, TypeError):
                    continue
        return [body for _, _, body in sorted(out, key=lambda t: (t[0], t[1]))]
