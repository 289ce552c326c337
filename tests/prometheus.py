"""A real Prometheus (Debian `prometheus`) on a free loopback port, scraping itself.

It evaluates one recording rule (`cutman:test:answer = 42`) so tests have a known
series; startup waits (bounded) until the rule has produced a sample.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import httpx
import yaml
from cutman.runtime.redis_server import free_port, wait_for_port

from tests.peers import Peer

BINARY = shutil.which("prometheus")


Prometheus = Peer  # a running prometheus: its url, stop()


def start_prometheus(tmp: Path, *, timeout: float = 30.0) -> Prometheus:
    if BINARY is None:
        raise RuntimeError("prometheus is not installed (apt-get install prometheus)")
    port = free_port()
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "rules.yml").write_text(yaml.safe_dump({"groups": [{
        "name": "cutman-test", "interval": "1s",
        "rules": [{"record": "cutman:test:answer", "expr": "vector(42)", "labels": {"team": "sre"}}]}]}))
    (tmp / "prometheus.yml").write_text(yaml.safe_dump({
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(tmp / "rules.yml")],
        "scrape_configs": [{"job_name": "prometheus", "static_configs": [{"targets": [f"127.0.0.1:{port}"]}]}],
    }))
    with open(tmp / "prometheus.log", "wb") as log:
        proc = subprocess.Popen(
            [BINARY, f"--config.file={tmp / 'prometheus.yml'}", f"--storage.tsdb.path={tmp / 'data'}",
             f"--web.listen-address=127.0.0.1:{port}"], stdout=log, stderr=log,
        )
    prom = Prometheus(proc, port)
    try:
        wait_for_port(port, timeout=timeout, proc=proc)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            resp = httpx.get(f"{prom.url}/api/v1/query", params={"query": "cutman:test:answer"}, timeout=5)
            if resp.status_code == 200 and resp.json()["data"]["result"]:
                return prom
            time.sleep(0.2)
        raise TimeoutError(f"prometheus produced no rule sample in {timeout}s; see {tmp / 'prometheus.log'}")
    except BaseException:
        prom.stop()
        raise
