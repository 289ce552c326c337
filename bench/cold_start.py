"""Cold start of each function: spawn to readiness 200, spawn to the first handled event.

In a scale-to-zero system the first alert after a quiet period pays spawn-to-first-event
(Knative's activator holds the request until the pod is ready, then the first request
pays any lazy import). The floor is func-python's server with a hello-world function.
Each function gets a real first event of its own kind (a webhook for ingest, a start
event for the step functions, run.finished for sink, a CR event for the reconciler),
with its own Redis configured by the reconciler's code; idle RSS is read after it.
`python -X importtime` gives each function's heaviest imports.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from cutman.adapters.cluster import LocalCluster
from cutman.adapters.store import RedisStore
from cutman.models.cloudevent import make_event, to_binary
from cutman.models.events import EventType, Ext
from cutman.runtime.loader import FUNCTIONS, invoke_mode, submodule
from cutman.runtime.redis_server import free_port, start_redis

from .common import FLOOR, REPO, alert, cr, rss_mb, spawn_floor, stop, webhook

sys.path.insert(0, str(REPO))
from tests.openai_stub import ScriptedOpenAI, answer

Request = tuple[str, dict[str, str], bytes]


@dataclass(frozen=True)
class Sample:
    ready_s: float
    first_event_s: float
    rss_mb: float


def _binary(event: Any) -> tuple[dict[str, str], bytes]:
    msg = to_binary(event)
    return dict(msg.headers), msg.body


def manifests(llm_url: str) -> list[dict[str, Any]]:
    return [
        cr("Sink", "console", {"type": "stdout"}),
        cr("Workflow", "cold", {"steps": [{"name": "one", "type": "cli", "command": "true"},
                                          {"name": "two", "type": "cli", "command": "true"}],
                                "sinks": ["console"]}),
        cr("Workflow", "agent", {"runtime": {"llmConfig": {"provider": "local", "endpoint": llm_url, "model": "m"}},
                                 "steps": [{"name": "a", "type": "agent", "goal": "g"}]}),
        cr("Source", "cold-src", {"type": "webhook", "config": {"path": "/webhook/cold"}}),
    ]


def start_event(workflow: str) -> Any:
    return make_event(id=str(uuid.uuid4()), type=EventType.ALERT_FIRING, source="/bench",
                      data={"alertname": "ColdStart", "labels": {"alertname": "ColdStart"}},
                      extensions={Ext.SOURCE: "default/cold-src"})


async def _apply(url: str, docs: list[dict[str, Any]]) -> None:
    reconciler = submodule("reconciler", "reconcile").Reconciler
    store = RedisStore(url)
    try:
        rec = reconciler(store, LocalCluster(store))
        for doc in docs:
            result = await rec.apply(doc)
            assert result.get("ok", True), result
    finally:
        await store.close()


def _post(base: str, req: Request, timeout: float = 30) -> httpx.Response:
    path, headers, body = req
    return httpx.post(base + path, headers=headers, content=body, timeout=timeout)


def run_finished_events(env: dict[str, str], n: int) -> list[Request]:
    """Real run.finished events for the sink, made by a warm step-cli running the workflow."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "cutman.runtime.serve", "step-cli"],
                            env={**env, "LISTEN_ADDRESS": f"127.0.0.1:{port}"},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    out: list[Request] = []
    try:
        _wait(base, proc)
        for _ in range(n):
            headers, body = _binary(start_event("cold"))
            reply = _post(base, ("/start/default/cold", headers, body))
            while reply.headers.get("ce-type") == EventType.STEP_REQUESTED:
                h = {k: v for k, v in reply.headers.items() if k.startswith("ce-") or k == "content-type"}
                reply = _post(base, ("/", h, reply.content))
            assert reply.headers.get("ce-type") == EventType.RUN_FINISHED, (reply.status_code, reply.text)
            h = {k: v for k, v in reply.headers.items() if k.startswith("ce-") or k == "content-type"}
            out.append(("/sinks/default/console", h, reply.content))
    finally:
        stop(proc)
    return out


def _wait(base: str, proc: subprocess.Popen[bytes]) -> None:
    while True:
        try:
            if httpx.get(base + "/health/readiness", timeout=0.5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            raise RuntimeError(f"function exited with {proc.returncode}")
        time.sleep(0.002)


def measure(argv: list[str], env: dict[str, str], first: Request) -> Sample:
    """Spawn, poll readiness; then (in a second spawn) post the first event as soon as a
    connection is accepted, as the activator would hold it for a pod coming up."""
    port = free_port()
    env = {**env, "LISTEN_ADDRESS": f"127.0.0.1:{port}"}
    base = f"http://127.0.0.1:{port}"
    started = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait(base, proc)
        ready = time.perf_counter() - started
    finally:
        stop(proc)
    port = free_port()
    env["LISTEN_ADDRESS"] = f"127.0.0.1:{port}"
    base = f"http://127.0.0.1:{port}"
    started = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while True:
            try:
                resp = _post(base, first)
                break
            except httpx.ConnectError:
                if proc.poll() is not None:
                    raise RuntimeError(f"{argv} exited with {proc.returncode}") from None
                time.sleep(0.002)
        handled = time.perf_counter() - started
        if resp.status_code >= 300:
            raise RuntimeError(f"{argv}: first event answered {resp.status_code}: {resp.text[:300]}")
        time.sleep(0.5)
        rss = rss_mb(proc.pid)
    finally:
        stop(proc)
    return Sample(ready, handled, rss)


_IMPORT = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \|(\s+)(\S+)$")


def import_times(name: str, top: int = 5) -> list[tuple[str, float]]:
    """The heaviest top-level imports (cumulative ms) of serving function `name`."""
    code = f"from cutman.runtime.loader import load; load({name!r}); import func_python.{invoke_mode(name)}"
    done = subprocess.run([sys.executable, "-X", "importtime", "-c", code], capture_output=True, text=True,
                          cwd=REPO, check=True)
    rows = []
    for line in done.stderr.splitlines():
        m = _IMPORT.match(line)
        if m and len(m.group(3)) <= 2:  # top-level: imported by the program itself
            rows.append((m.group(4), int(m.group(2)) / 1000))
    return sorted(rows, key=lambda r: -r[1])[:top]


def run(*, runs: int) -> dict[str, float]:
    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="cutman-bench-cold-") as tmp, \
            ScriptedOpenAI(lambda _req: answer({"summary": "done"})) as llm:
        server = start_redis(Path(tmp), persist=False)
        broker_port = free_port()
        broker = spawn_floor(broker_port)  # stands in for the broker ingest posts to
        try:
            asyncio.run(_apply(server.url, manifests(llm.url)))
            env = {**os.environ, "REDIS_URL": server.url, "K_SINK": f"http://127.0.0.1:{broker_port}/",
                   "CUTMAN_APPROVAL_KEY": "bench-approval-key-0123456789abcdef"}
            finished = run_finished_events(env, runs)
            firsts: dict[str, Callable[[int], Request]] = {
                "floor": lambda i: ("/", {"content-type": "application/json"}, b"{}"),
                "ingest": lambda i: ("/webhook/cold", {"content-type": "application/json"},
                                     json.dumps(webhook(alert(f"cold-{uuid.uuid4().hex}"))).encode()),
                "step-cli": lambda i: ("/start/default/cold", *_binary(start_event("cold"))),
                "step-agent": lambda i: ("/start/default/agent", *_binary(start_event("agent"))),
                "sink": lambda i: finished[i],
                "reconciler": lambda i: ("/", *_binary(_cr_event(i))),
            }
            samples: dict[str, list[Sample]] = {}
            for name in ("floor", *FUNCTIONS):
                argv = ([sys.executable, "-c", FLOOR] if name == "floor"
                        else [sys.executable, "-m", "cutman.runtime.serve", name])
                samples[name] = [measure(argv, env, firsts[name](i)) for i in range(runs)]
        finally:
            stop(broker)
            server.stop()
    floor_ready = statistics.median(s.ready_s for s in samples["floor"])
    floor_first = statistics.median(s.first_event_s for s in samples["floor"])
    for name, rows in samples.items():
        ready = statistics.median(s.ready_s for s in rows)
        first = statistics.median(s.first_event_s for s in rows)
        key = "coldstart." + name
        out[key + ".ready_ms"] = ready * 1000
        out[key + ".first_event_ms"] = first * 1000
        out[key + ".rss_mb"] = statistics.median(s.rss_mb for s in rows)
        if name != "floor":
            out[key + ".ratio_to_floor"] = ready / floor_ready
            out[key + ".first_event_ratio_to_floor"] = first / floor_first
    for name in FUNCTIONS:
        for module, ms in import_times(name):
            out[f"coldstart.{name}.import_ms.{module}"] = ms
    return out


def _cr_event(i: int) -> Any:
    body = cr("Sink", f"cold-{i}-{uuid.uuid4().hex[:6]}", {"type": "stdout"})
    return make_event(type=EventType.APISERVER_UPDATE, source="https://bench.local",
                      subject=f"/apis/cutman.dev/v1alpha1/namespaces/default/sinks/{body['metadata']['name']}",
                      data=body, extensions={"kind": "Sink", "name": body["metadata"]["name"],
                                             "namespace": "default"})


if __name__ == "__main__":
    for k, v in run(runs=int(sys.argv[1]) if len(sys.argv) > 1 else 3).items():
        print(f"{k:55s} {v:10.1f}")
