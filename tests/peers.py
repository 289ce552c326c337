"""Real peers for the sink tests, on free loopback ports: a Prometheus Pushgateway (Debian
`prometheus-pushgateway`) and moto's S3-compatible server (`moto[server]` from PyPI)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from cutman.runtime.redis_server import free_port, stop_process, wait_for_port

PUSHGATEWAY = shutil.which("prometheus-pushgateway") or shutil.which("pushgateway")


@dataclass
class Peer:
    """A server process of someone else's on a loopback port (tests/alertmanager.py and
    tests/prometheus.py start theirs as Peers too)."""

    proc: subprocess.Popen[bytes]
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        stop_process(self.proc, timeout=10)


def start_pushgateway(tmp: Path) -> Peer:
    if PUSHGATEWAY is None:
        raise RuntimeError("prometheus-pushgateway is not installed (apt-get install prometheus-pushgateway)")
    port = free_port()
    tmp.mkdir(parents=True, exist_ok=True)
    with open(tmp / "pushgateway.log", "wb") as log:
        proc = subprocess.Popen([PUSHGATEWAY, f"--web.listen-address=127.0.0.1:{port}",
                                 f"--persistence.file={tmp / 'pushgateway.data'}"], stdout=log, stderr=log)
    wait_for_port(port, timeout=20, proc=proc)
    return Peer(proc, port)


def start_moto_s3(tmp: Path) -> Peer:
    port = free_port()
    tmp.mkdir(parents=True, exist_ok=True)
    with open(tmp / "moto.log", "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                                stdout=log, stderr=log)
    wait_for_port(port, timeout=30, proc=proc)
    return Peer(proc, port)
