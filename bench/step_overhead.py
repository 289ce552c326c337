"""What a step costs beyond its own work: step host + Redis + executor, cli and agent.

Real Redis (a private redis-server), the real step host and executors. The agent talks
to the scripted OpenAI-compatible server of the tests (a stand-in for the model, which
answers instantly), so the figures are cutman's own overhead per model call and per
tool call, not model latency. The floor for a cli step is one `sh -c true` spawn,
measured here too.

    .venv/bin/python bench/step_overhead.py [--runs 30]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from cutman.adapters.store import RedisStore
from cutman.models.cloudevent import make_event
from cutman.models.events import EventType, Ext
from cutman.runtime.loader import load
from cutman.runtime.redis_server import start_redis
from cutman.stephost import StepHost

from tests.openai_stub import ScriptedOpenAI, answer, tool_calls

TOOL_TURNS = 4


def model(req: dict[str, Any]) -> dict[str, Any]:
    turns = sum(1 for m in req["messages"] if m["role"] == "assistant")
    if turns < TOOL_TURNS:
        return tool_calls(("probe", {"x": str(turns)}))
    return answer({"summary": "done"})


async def one_run(store: RedisStore, host: StepHost, workflow: str, i: int) -> float:
    event = make_event(id=f"{workflow}-{i}", type=EventType.ALERT_FIRING, source="/bench",
                       data={"alertname": "X"}, extensions={Ext.SOURCE: "default/am"})
    started = time.perf_counter()
    reply = await host.handle(path=f"/start/default/{workflow}", event=event)
    assert reply.get_type() == EventType.RUN_FINISHED, reply
    return time.perf_counter() - started


async def bench(redis_url: str, llm_url: str, runs: int) -> dict[str, list[float]]:
    store = RedisStore(redis_url)
    await store.put_config("workflow", "default/cli", {"spec": {"steps": [
        {"name": "a", "type": "cli", "command": "true"}]}})
    await store.put_config("workflow", "default/agent", {"spec": {
        "runtime": {"llmConfig": {"provider": "local", "endpoint": llm_url, "model": "m"}},
        "steps": [{"name": "a", "type": "agent", "goal": "g",
                   "tools": [{"name": "probe", "parameters": {"x": "x"}, "command": "echo {{ .args.x }}"}]}]}})
    cli = StepHost(store, load("step-cli").runner.CliExecutor())
    agent = StepHost(store, load("step-agent").agent.AgentExecutor())
    out: dict[str, list[float]] = {"cli": [], "agent": []}
    for i in range(runs):
        out["cli"].append(await one_run(store, cli, "cli", i))
        out["agent"].append(await one_run(store, agent, "agent", i))
    await store.close()
    return out


def spawn_floor(runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(["/bin/sh", "-c", "true"], check=True)
        times.append(time.perf_counter() - started)
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        server = start_redis(Path(tmp), persist=False)
        try:
            with ScriptedOpenAI(model) as llm:
                figures = asyncio.run(bench(server.url, llm.url, args.runs))
        finally:
            server.stop()
    floor = statistics.median(spawn_floor(args.runs))
    cli, agent = statistics.median(figures["cli"]), statistics.median(figures["agent"])
    calls = TOOL_TURNS + 1
    print(f"runs: {args.runs}")
    print(f"cli step (sh -c true), whole run through the step host: median {cli * 1000:.1f} ms "
          f"(floor: one sh spawn {floor * 1000:.1f} ms, overhead {(cli - floor) * 1000:.1f} ms)")
    print(f"agent step, {calls} model calls + {TOOL_TURNS} command-tool calls: median {agent * 1000:.1f} ms "
          f"= {agent / calls * 1000:.1f} ms per model call (tool spawns included)")


if __name__ == "__main__":
    main()
