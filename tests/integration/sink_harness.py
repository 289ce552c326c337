"""The sink test harness: the sink function served over HTTP, real Redis, real receivers.

The sink function runs as `cutman dev` runs it (`python -m cutman.runtime.serve sink`, a
subprocess) against a real Redis; events are posted the way the broker posts them
(binary CloudEvents). Remote services we cannot run here (Slack, PagerDuty, Jira, a
customer's webhook) are `Receiver`s (tests/receiver.py): real HTTP servers on loopback
that record every request and answer from a handler the test writes, speaking each API's
documented wire format. No doubles of our code.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from cutman.adapters.store import RedisStore
from cutman.core import engine
from cutman.models.cloudevent import make_event, to_binary
from cutman.models.events import EventType, Ext
from cutman.models.resources import WorkflowSpec
from cutman.models.run import Run, RunPhase
from cutman.runtime.redis_server import free_port, wait_for_port

from tests.receiver import Receiver
from tests.stack import REPO

NS = "ops"
ALERT = {"alertname": "HighCPU", "severity": "critical", "summary": "CPU is high", "status": "firing",
         "labels": {"alertname": "HighCPU", "severity": "critical", "pod": "web-1"},
         "annotations": {"summary": "CPU is high"}, "fingerprint": "fp-1",
         "startsAt": "2026-12-01T10:00:00Z"}


@dataclass
class SinkRig:
    url: str
    redis_url: str
    log: Path

    def _store(self, fn: Callable[[RedisStore], Any]) -> Any:
        async def go() -> Any:
            store = RedisStore(self.redis_url)
            try:
                return await fn(store)
            finally:
                await store.close()
        return asyncio.run(go())

    def sink(self, name: str, spec: dict[str, Any], *, namespace: str = NS) -> None:
        from cutman.models.resources import SinkSpec

        SinkSpec.model_validate(spec)  # what the reconciler accepts at apply
        doc = {"apiVersion": "cutman.dev/v1alpha1", "kind": "Sink",
               "metadata": {"name": name, "namespace": namespace}, "spec": spec}
        self._store(lambda s: s.put_config("sink", f"{namespace}/{name}", doc))

    def secret(self, name: str, data: dict[str, str], *, namespace: str = NS) -> None:
        self._store(lambda s: s.put_secret(f"{namespace}/{name}", data))

    def run(self, run_id: str = "run-1", *, alert: dict[str, Any] | None = ALERT,
            phase: RunPhase = RunPhase.SUCCEEDED, outputs: dict[str, Any] | None = None,
            error: str | None = None) -> Run:
        spec = WorkflowSpec.model_validate({"steps": [{"name": "analyze", "type": "cli", "command": "true"}]})
        run = engine.new_run(run_id=run_id, workflow=f"{NS}/wf", spec=spec, event_id=f"ev-{run_id}",
                             event_type=EventType.ALERT_FIRING.value, source=f"{NS}/am", source_context={},
                             alert=alert, data=None, now="2026-12-01T10:00:01.000Z")
        run = run.model_copy(update={
            "phase": phase, "error": error, "completionTime": "2026-12-01T10:01:13.000Z",
            "outputs": outputs if outputs is not None else
            {"summary": "web-1 is CPU bound", "root_cause": "a busy loop in v2.3", "recommendations": "roll back"}})
        self._store(lambda s: s.create_run(run))
        return run

    def deliver(self, sink: str, run_id: str = "run-1", *, approval: dict[str, Any] | None = None,
                namespace: str = NS, timeout: float = 30) -> httpx.Response:
        etype = EventType.RUN_AWAITING_APPROVAL if approval else EventType.RUN_FINISHED
        event = make_event(id=f"{run_id}-{sink}-done", type=etype, source="/test",
                           data=approval or {"id": run_id},
                           extensions={Ext.WORKFLOW: f"{namespace}/wf", Ext.RUN: run_id, Ext.PHASE: "Succeeded"})
        msg = to_binary(event)
        return httpx.post(f"{self.url}/sinks/{namespace}/{sink}", headers=msg.headers, content=msg.body,
                          timeout=timeout)

    def records(self, run_id: str = "run-1") -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = self._store(lambda s: s.sink_records(run_id))
        return out

    def stats(self, sink: str, *, namespace: str = NS) -> dict[str, str]:
        out: dict[str, str] = self._store(lambda s: s.sink_stats(f"{namespace}/{sink}"))
        return out


def start_sink(redis_url: str, tmp: Path, **env: str) -> tuple[subprocess.Popen[bytes], SinkRig]:
    port = free_port()
    log = tmp / "sink.log"
    full = {**os.environ, "REDIS_URL": redis_url, "LISTEN_ADDRESS": f"127.0.0.1:{port}", **env}
    with open(log, "wb") as logf:
        proc = subprocess.Popen([sys.executable, "-m", "cutman.runtime.serve", "sink"], cwd=REPO, env=full,
                                stdout=logf, stderr=subprocess.STDOUT)
    wait_for_port(port, timeout=20, proc=proc)  # type: ignore[arg-type]
    return proc, SinkRig(f"http://127.0.0.1:{port}", redis_url, log)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def concurrently(fn: Callable[[], httpx.Response], n: int = 4) -> list[httpx.Response]:
    """`fn` n times at once (as a redelivering broker may)."""
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(n) as pool:
        return [f.result() for f in [pool.submit(fn) for _ in range(n)]]


