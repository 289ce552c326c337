"""kill -9 of each process of `cutman dev` mid-run: every run still ends, once, on time.

Real processes only: `cutman dev` as a subprocess (its own redis-server, the dev broker,
the five functions, the pinger that sweeps as the housekeeping PingSource does), with
timing knobs turned down so a test takes seconds: step leases of 2 s
(CUTMAN_LEASE_SECONDS) and a sweep every 0.5 s (CUTMAN_SWEEP_SECONDS). Alerts are bodies
captured from a real Alertmanager with distinct fingerprints. The sink is the stdout
sink, whose line per delivery cutman dev prints, so "at most once" is counted in its
output, and "recorded" in the run's sink records.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.e2e.test_walking_skeleton import payload
from tests.openai_stub import ScriptedOpenAI, answer
from tests.stack import Stack, start_stack, stop_stack

DEADLINE_S = 30
SWEEP_S = 0.5
MANIFESTS = f"""
apiVersion: cutman.dev/v1alpha1
kind: Source
metadata: {{name: crash}}
spec: {{type: webhook, config: {{path: /webhook/crash}}, triggerWorkflow: crash}}
---
apiVersion: cutman.dev/v1alpha1
kind: Sink
metadata: {{name: console}}
spec: {{type: stdout, config: {{timeoutSeconds: 1, template: "[crash] run {{{{ .run.id }}}} {{{{ .workflow.outputs.last }}}}"}}}}
---
apiVersion: cutman.dev/v1alpha1
kind: Workflow
metadata: {{name: crash}}
spec:
  timeoutMinutes: {DEADLINE_S / 60}
  steps:
    - {{name: slow, type: cli, command: "sleep 2; echo slept"}}
    - {{name: last, type: cli, command: "echo done"}}
  outputs:
    - {{name: last, value: "{{{{ .steps.last.output | trim }}}}"}}
  sinks: [console]
"""
FINAL = ("Succeeded", "Failed")


KNOBS = {"CUTMAN_LEASE_SECONDS": "2", "CUTMAN_SWEEP_SECONDS": str(SWEEP_S)}


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    manifests = tmp_path / "crash.yaml"
    manifests.write_text(MANIFESTS)
    s = start_stack(tmp_path, str(manifests), env=KNOBS)
    yield s
    stop_stack(s)


def fire(stack: Stack, n: int) -> None:
    body = payload("01-HighCPUUsage-firing-1alerts.json")
    alert = body["alerts"][0]
    body["alerts"] = []
    for i in range(n):
        a = copy.deepcopy(alert)
        a["labels"]["pod"] = f"crash-{i}"
        a["fingerprint"] = f"{i:016x}"
        body["alerts"].append(a)
    resp = stack.post("/webhook/crash", body)
    assert resp.status_code == 200 and resp.json()["firing"] == n, resp.text


def runs(stack: Stack) -> list[dict[str, Any]]:
    """Every run document, read from the stack's Redis (faster than the CLI while polling)."""
    info = json.loads((stack.state / "dev.json").read_text())
    client = redis.Redis.from_url(info["redis_url"], decode_responses=True, socket_timeout=2)
    try:
        keys = [k for k in client.scan_iter(match="cm:run:{*}", count=1000) if k.endswith("}")]
        return [json.loads(v) for v in client.mget(keys) if v] if keys else []
    except redis.RedisError:
        return []
    finally:
        client.close()


def kill(stack: Stack, child: str) -> int:
    pid = stack.child_pid(child)
    os.kill(pid, signal.SIGKILL)
    return pid


def settle(stack: Stack, n: int, started: float) -> list[dict[str, Any]]:
    """Wait for n runs in a final phase, no later than the deadline plus two sweeps."""
    budget = DEADLINE_S + 2 * SWEEP_S + 5 - (time.monotonic() - started)
    done = stack.wait_for(lambda: (rs := runs(stack)) and len(rs) == n and all(r["phase"] in FINAL for r in rs) and rs,
                          timeout=budget, what=f"{n} runs to end")
    return done  # type: ignore[no-any-return]


def assert_ended_well(finished: list[dict[str, Any]]) -> None:
    """Every run succeeds: a kill of the broker or the sink loses no step and hangs none.

    (A rare run that stalled until its deadline here was a step's lease keeper that never
    stopped, a lost cancellation on Python 3.11: tests/integration/test_step_lease.py.)"""
    assert all(r["phase"] == "Succeeded" for r in finished), [(r["id"], r["phase"], r.get("error")) for r in finished]


def check_deliveries(stack: Stack, finished: list[dict[str, Any]], *, lossy: bool = False) -> None:
    """Every run's sink line printed exactly once (none lost, none twice) and recorded.

    `lossy`: the sink itself was killed, so a delivery caught mid-post may be recorded
    Unknown (the stdout sink has no idempotency key: it is not sent again) with its line
    printed at most once; never silently nothing.
    """
    if lossy:
        for r in finished:
            view = stack.wait_for(
                lambda r=r: (v := stack.json("runs", "get", r["id"]))["sinks"].get("console", {}).get("phase")
                in ("Delivered", "Unknown") and v, timeout=60, what=f"a final delivery record of {r['id']}")
            printed = [x for x in stack.lines if x.startswith(f"[crash] run {r['id']} ")]
            assert len(printed) <= 1, f"run {r['id']} delivered {len(printed)} times"
            if view["sinks"]["console"]["phase"] == "Delivered":
                assert len(printed) == 1, view
        return
    for r in finished:
        line = f"[crash] run {r['id']} "
        stack.wait_for(lambda line=line: any(x.startswith(line) for x in stack.lines), timeout=15,
                       what=f"the sink line of {r['id']}")
        view = stack.wait_for(lambda r=r: (v := stack.json("runs", "get", r["id"]))["sinks"].get("console") and v,
                              timeout=10, what=f"the delivery record of {r['id']}")
        assert view["sinks"]["console"]["phase"] == "Delivered"
    time.sleep(1.0)
    for r in finished:
        printed = [x for x in stack.lines if x.startswith(f"[crash] run {r['id']} ")]
        assert len(printed) == 1, f"run {r['id']} delivered {len(printed)} times"


def wait_running(stack: Stack, n: int) -> None:
    """Until n runs have their first step under way (its `sleep 2` running)."""
    stack.wait_for(lambda: len([r for r in runs(stack) if r["steps"][0]["phase"] == "Running"]) == n,
                   timeout=20, what=f"{n} runs under way")


def test_kill_step_cli_mid_step(stack: Stack) -> None:
    """Interrupted `sleep 2` steps are not idempotent: they fail with the reason, and the
    run ends (with its sink delivery) long before the deadline."""
    started = time.monotonic()
    fire(stack, 5)
    wait_running(stack, 5)
    kill(stack, "step-cli")
    finished = settle(stack, 5, started)
    for r in finished:
        full = stack.json("runs", "get", r["id"])
        slow = full["steps"][0]
        if full["phase"] == "Failed":
            assert slow["phase"] == "Failed" and "interrupted" in slow["error"], full
            assert "not idempotent" in slow["error"]
        else:
            assert [s["phase"] for s in full["steps"]] == ["Succeeded", "Succeeded"]
    assert any(r["phase"] == "Failed" for r in finished), "the kill interrupted no step"
    assert any("step-cli exited" in x for x in stack.lines), "cutman dev did not say step-cli died"
    check_deliveries(stack, finished)


def test_kill_broker_mid_run(stack: Stack) -> None:
    started = time.monotonic()
    fire(stack, 5)
    wait_running(stack, 5)
    kill(stack, "broker")
    finished = settle(stack, 5, started)
    assert_ended_well(finished)
    check_deliveries(stack, finished)


def test_kill_sink_mid_delivery(stack: Stack) -> None:
    started = time.monotonic()
    fire(stack, 5)
    wait_running(stack, 5)
    time.sleep(1.9)
    kill(stack, "sink")
    finished = settle(stack, 5, started)
    assert_ended_well(finished)
    check_deliveries(stack, finished, lossy=True)


def test_kill_redis_server_mid_run(stack: Stack) -> None:
    """cutman dev restarts redis-server on its port with its data (the AOF) and says so;
    every client reconnects and every run still ends, with one delivery each."""
    started = time.monotonic()
    fire(stack, 5)
    wait_running(stack, 5)
    old = kill(stack, "redis")
    stack.wait_for(lambda: any("redis-server restarted" in x for x in stack.lines), timeout=20,
                   what="cutman dev to restart redis-server")
    assert any("redis-server exited" in x for x in stack.lines)
    assert stack.child_pid("redis") != old
    finished = settle(stack, 5, started)
    assert len({r["id"] for r in finished}) == 5
    check_deliveries(stack, finished)
    assert stack.cli("apply", "-f", str(stack.state.parent / "crash.yaml")).returncode == 0, \
        "a command after the restart must not fail on a stale pooled connection"


def test_hung_child_is_restarted(tmp_path: Path) -> None:
    """A child that stops answering its liveness check (SIGSTOP: alive, but silent) is
    killed and restarted, and cutman dev says so."""
    manifests = tmp_path / "crash.yaml"
    manifests.write_text(MANIFESTS)
    stack = start_stack(tmp_path, str(manifests), env={**KNOBS, "CUTMAN_DEV_HEALTH_SECONDS": "0.5"})
    try:
        frozen = stack.child_pid("reconciler")
        os.kill(frozen, signal.SIGSTOP)
        stack.wait_for(lambda: any("reconciler restarted" in x for x in stack.lines), timeout=20,
                       what="the hung reconciler to be restarted")
        assert any("reconciler did not answer /health/liveness" in x for x in stack.lines)
        assert stack.child_pid("reconciler") != frozen
        stack.wait_for(lambda: stack.cli("apply", "-f", str(manifests), check=False).returncode == 0, timeout=30,
                       what="the new reconciler to serve")
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(frozen, signal.SIGCONT)
        stop_stack(stack)


AGENT_MANIFESTS = """
apiVersion: cutman.dev/v1alpha1
kind: Source
metadata: {name: crash}
spec: {type: webhook, config: {path: /webhook/crash}, triggerWorkflow: crash}
---
apiVersion: cutman.dev/v1alpha1
kind: Sink
metadata: {name: console}
spec: {type: stdout, config: {template: "[crash] run {{ .run.id }} {{ .workflow.outputs.last }}"}}
---
apiVersion: cutman.dev/v1alpha1
kind: Workflow
metadata: {name: crash}
spec:
  timeoutMinutes: 0.5
  runtime: {llmConfig: {provider: local, endpoint: "LLM", model: scripted}}
  steps:
    - {name: think, type: agent, goal: "Why?", maxIterations: 2}
  outputs:
    - {name: last, value: "{{ .steps.think.result.summary }}"}
  sinks: [console]
"""


def test_kill_step_agent_mid_model_call(tmp_path: Path) -> None:
    """Agent steps (read-only tools, no approval) are idempotent: an attempt killed while
    the model is thinking runs again and the run succeeds. The model is the scripted
    OpenAI-compatible server (tests/openai_stub.py), answering after 1.5 s."""
    def slow(_req: dict[str, Any]) -> dict[str, Any]:
        time.sleep(1.5)
        return answer({"summary": "ok"})

    with ScriptedOpenAI(slow) as llm:
        manifests = tmp_path / "agent.yaml"
        manifests.write_text(AGENT_MANIFESTS.replace("LLM", llm.url))
        # a longer lease: step-agent imports the model client on its first call, which holds
        # its event loop (and so its lease renewals) for a second or more on a busy machine
        stack = start_stack(tmp_path, str(manifests), env={**KNOBS, "CUTMAN_LEASE_SECONDS": "6"})
        try:
            started = time.monotonic()
            fire(stack, 3)
            wait_running(stack, 3)
            stack.wait_for(lambda: len(llm.requests) >= 3, timeout=20, what="the model calls")
            kill(stack, "step-agent")
            finished = settle(stack, 3, started)
            assert all(r["phase"] == "Succeeded" for r in finished), finished
            assert max(r["steps"][0]["attempts"] for r in finished) == 2, "the killed attempts ran again"
            check_deliveries(stack, finished)
        finally:
            stop_stack(stack)
