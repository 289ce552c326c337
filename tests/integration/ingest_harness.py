"""Ingest served for real, alone: its own Redis, a real dev broker, a recording subscriber.

Each piece is a real process or server the fault tests can stop and start again on the
same port: redis-server, `python -m cutman.runtime.broker`, and the ingest function
served by func-python (`python -m cutman.runtime.serve ingest`) with K_SINK pointing at
the broker. Sources are applied through the reconciler's own `Reconciler.apply` against
the same Redis; a Trigger that leaves out only housekeeping checks sends every event the broker accepts to
`Recorder`, a real HTTP server in the test (tests/receiver.py) that records CloudEvent headers.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from cutman.adapters.cluster import LocalCluster
from cutman.adapters.store import RedisStore
from cutman.runtime.loader import load
from cutman.runtime.redis_server import (
    RedisServer,
    free_port,
    start_redis,
    stop_process,
    wait_for_http,
)

from tests.receiver import Receiver, Reply

REPO = Path(__file__).resolve().parents[2]


class Recorder(Receiver):
    """A real HTTP subscriber: records the headers (and body, by ce-id) of every event delivered to it.

    It answers 200 with no body, so the broker never takes the answer for a reply event.
    """

    def __init__(self) -> None:
        super().__init__(lambda _req: Reply(200, b""))

    @property
    def url(self) -> str:
        return super().url + "/"

    @property
    def events(self) -> list[dict[str, str]]:
        return [r.headers for r in self.posts()]

    @property
    def bodies(self) -> dict[str, bytes]:
        return {r.headers.get("ce-id", ""): r.body for r in self.posts()}

    def of_type(self, kind: str) -> list[dict[str, str]]:
        return [e for e in self.events if e.get("ce-type") == kind]


@dataclass
class Proc:
    argv: list[str]
    env: dict[str, str]
    port: int
    log: Path
    ready: str
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.log, "ab") as logf:
            self.proc = subprocess.Popen(self.argv, env=self.env, stdout=logf, stderr=logf, cwd=REPO)
        try:
            wait_for_http(self.port, self.ready, timeout=30, proc=self.proc)
        except (TimeoutError, RuntimeError) as exc:
            raise TimeoutError(f"{self.argv} did not become ready ({exc}); see {self.log}") from None

    def stop(self) -> None:
        if self.proc:
            stop_process(self.proc, timeout=10)


@dataclass
class IngestRig:
    tmp: Path
    redis: RedisServer
    broker: Proc
    ingest: Proc
    recorder: Recorder
    env: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.ingest.port}"

    def restart_redis(self) -> None:
        self.redis = start_redis(self.tmp / "redis", port=self.redis.port, persist=True)

    def apply(self, *docs: dict[str, Any]) -> list[dict[str, Any]]:
        """Apply manifests through the reconciler's own code, against this Redis."""
        return asyncio.run(self._apply(list(docs)))

    async def _apply(self, docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        reconciler = load("reconciler")
        store = RedisStore(self.redis.url)
        try:
            rec = importlib.import_module(reconciler.__name__ + ".reconcile").Reconciler(store, LocalCluster(store))
            out = [await rec.apply(d) for d in docs]
            await store.mark_config_synced("2026-11-28T10:00:00Z")
            await store.put_triggers({"default/recorder": {
                "apiVersion": "eventing.knative.dev/v1", "kind": "Trigger",
                "metadata": {"name": "recorder", "namespace": "default"},
                # every event ingest hands over, but its best-effort housekeeping checks
                "spec": {"broker": "default", "subscriber": {"uri": self.recorder.url},
                         "filters": [{"not": {"exact": {"type": "dev.cutman.housekeeping.check"}}}]},
            }}, [])
            return out
        finally:
            await store.close()

    def redis_call(self, fn: Callable[[Any], Any]) -> Any:
        import redis as redis_sync

        client = redis_sync.Redis.from_url(self.redis.url, decode_responses=True)
        try:
            return fn(client)
        finally:
            client.close()

    def metrics(self) -> str:
        return httpx.get(self.url + "/metrics", timeout=10).text

    def close(self) -> None:
        self.ingest.stop()
        self.broker.stop()
        self.recorder.close()
        self.redis.stop()


def start_rig(tmp: Path, **ingest_env: str) -> IngestRig:
    tmp.mkdir(parents=True, exist_ok=True)
    redis = start_redis(tmp / "redis", persist=True)
    recorder = Recorder()
    bport, iport = free_port(), free_port()
    broker_url = f"http://127.0.0.1:{bport}/default/default"
    env = {**os.environ, "REDIS_URL": redis.url, "K_SINK": broker_url, "PYTHONUNBUFFERED": "1"}
    broker = Proc([sys.executable, "-m", "cutman.runtime.broker", "--port", str(bport), "--redis-url", redis.url,
                   "--addressables", json.dumps({}), "--backoff-delay", "PT0.05S"],
                  dict(env), bport, tmp / "broker.log", "/health")
    ingest = Proc([sys.executable, "-m", "cutman.runtime.serve", "ingest"],
                  {**env, "LISTEN_ADDRESS": f"127.0.0.1:{iport}", **ingest_env}, iport, tmp / "ingest.log",
                  "/health/readiness")
    rig = IngestRig(tmp, redis, broker, ingest, recorder)
    try:
        broker.start()
        ingest.start()
    except BaseException:
        rig.close()
        raise
    return rig


def source(name: str = "am", path: str = "/webhook/am", **config: Any) -> dict[str, Any]:
    return {"apiVersion": "cutman.dev/v1alpha1", "kind": "Source",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"type": "webhook", "config": {"path": path, **config}}}


def secret(name: str, **data: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": "default"},
            "stringData": data}


def am_payload(*alerts: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"version": "4", "groupKey": "{}:{alertname=\"X\"}", "truncatedAlerts": 0, "status": "firing",
            "receiver": "cutman", "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {},
            "externalURL": "http://am.example:9093", "alerts": list(alerts), **extra}


def alert(status: str = "firing", **labels: str) -> dict[str, Any]:
    return {"status": status, "labels": {"alertname": "X", **labels}, "annotations": {},
            "startsAt": "2026-01-01T00:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prom/graph", "fingerprint": "abc123"}


async def storm(url: str, body: bytes, *, n: int, concurrency: int,
                retry_5xx: bool = False, headers: dict[str, str] | None = None,
                attempts: list[int] | None = None) -> list[httpx.Response]:
    """POST `body` to `url` n times, `concurrency` at once; with `retry_5xx`, each request is
    retried on 5xx or a connection error until it gets an answer below 500, as Alertmanager's
    webhook notifier retries. Every attempt's status (0: no answer) is appended to `attempts`."""
    seen = attempts if attempts is not None else []
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    gate = asyncio.Semaphore(concurrency)
    hdrs = {"content-type": "application/json", **(headers or {})}

    async def one(client: httpx.AsyncClient) -> httpx.Response:
        async with gate:
            while True:
                try:
                    resp = await client.post(url, content=body, headers=hdrs)
                except httpx.HTTPError:
                    seen.append(0)
                    if not retry_5xx:
                        raise
                    await asyncio.sleep(0.1)
                    continue
                seen.append(resp.status_code)
                if resp.status_code < 500 or not retry_5xx:
                    return resp
                await asyncio.sleep(0.1)

    async with httpx.AsyncClient(limits=limits, timeout=60) as client:
        return list(await asyncio.gather(*(one(client) for _ in range(n))))
