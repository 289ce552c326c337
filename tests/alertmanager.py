"""A real Prometheus Alertmanager (Debian `prometheus-alertmanager`) on a free loopback port."""

from __future__ import annotations

import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import yaml
from cutman.runtime.redis_server import free_port, wait_for_port

from tests.peers import Peer

BINARY = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")


class Alertmanager(Peer):
    """A running Alertmanager: a Peer that alerts can be fired at and resolved through its v2 API."""

    def fire(self, labels: dict[str, str], annotations: dict[str, str] | None = None) -> None:
        self._post([{"labels": labels, "annotations": annotations or {},
                     "startsAt": _iso(datetime.now(UTC) - timedelta(seconds=5))}])

    def resolve(self, labels: dict[str, str]) -> None:
        now = datetime.now(UTC)
        self._post([{"labels": labels, "startsAt": _iso(now - timedelta(minutes=1)),
                     "endsAt": _iso(now - timedelta(seconds=1))}])

    def _post(self, alerts: list[dict[str, Any]]) -> None:
        resp = httpx.post(f"{self.url}/api/v2/alerts", json=alerts, timeout=10)
        resp.raise_for_status()


def _iso(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def start_alertmanager(tmp: Path, *, webhook_url: str, bearer: str | None = None) -> Alertmanager:
    if BINARY is None:
        raise RuntimeError("prometheus-alertmanager is not installed (apt-get install prometheus-alertmanager)")
    webhook: dict[str, Any] = {"url": webhook_url, "send_resolved": True}
    if bearer:
        webhook["http_config"] = {"authorization": {"type": "Bearer", "credentials": bearer}}
    config = {
        "route": {"receiver": "cutman", "group_by": ["alertname"], "group_wait": "1s",
                  "group_interval": "1s", "repeat_interval": "1h"},
        "receivers": [{"name": "cutman", "webhook_configs": [webhook]}],
    }
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "alertmanager.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    with open(tmp / "alertmanager.log", "wb") as log:
        proc = subprocess.Popen(
            [BINARY, f"--config.file={tmp / 'alertmanager.yml'}", f"--storage.path={tmp / 'data'}",
             f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address="],
            stdout=log, stderr=log,
        )
    wait_for_port(port, timeout=20, proc=proc)
    return Alertmanager(proc, port)
