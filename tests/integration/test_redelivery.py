"""Exactly-once step effects under at-least-once delivery (ARCHITECTURE 5).

Real components: the step-cli function served over HTTP by func-python (a subprocess,
as `cutman dev` runs it), a real Redis, and cli steps that append to a file so every
execution is counted. Deliveries are posted the way the broker posts them.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cutman.adapters.store import RedisStore
from cutman.models.cloudevent import from_http, make_event, to_binary
from cutman.models.events import EventType, Ext
from cutman.runtime.redis_server import RedisServer, free_port, stop_process, wait_for_port

from tests.stack import REPO


@pytest.fixture(scope="module")
def step_cli(redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    log = tmp_path_factory.mktemp("stepcli") / "step-cli.log"
    env = {**os.environ, "REDIS_URL": redis_server.url, "LISTEN_ADDRESS": f"127.0.0.1:{port}"}
    with open(log, "wb") as logf:
        proc = subprocess.Popen([sys.executable, "-m", "cutman.runtime.serve", "step-cli"], cwd=REPO, env=env,
                                stdout=logf, stderr=subprocess.STDOUT)
        try:
            wait_for_port(port, timeout=20, proc=proc)  # type: ignore[arg-type]
            yield f"http://127.0.0.1:{port}"
        finally:
            stop_process(proc, timeout=10)


@pytest.fixture
def counter(redis_url: str, tmp_path: Path) -> Path:
    """Configure workflow default/wf whose two steps append their name to a file."""
    count = tmp_path / "count"
    spec = {"runtime": {"environment": {"COUNT": str(count)}}, "steps": [
        {"name": "a", "type": "cli", "command": 'echo a >> "$COUNT"; sleep 0.5'},
        {"name": "b", "type": "cli", "command": 'echo b >> "$COUNT"; sleep 0.5'}]}

    async def configure() -> None:
        store = RedisStore(redis_url)
        await store.put_config("workflow", "default/wf", {"spec": spec, "metadata": {"name": "wf"}})
        await store.close()

    asyncio.run(configure())
    return count


def post(base: str, path: str, event: Any) -> httpx.Response:
    msg = to_binary(event)
    return httpx.post(base + path, headers=dict(msg.headers), content=msg.body, timeout=30)


def reply_of(resp: httpx.Response) -> Any:
    assert resp.status_code == 200, resp.text
    return from_http(dict(resp.headers), resp.content)


def alert_event() -> Any:
    return make_event(id="alert-1", type=EventType.ALERT_FIRING, source="/test", data={"alertname": "X"},
                      extensions={Ext.SOURCE: "default/am"})


def lines(path: Path) -> list[str]:
    return path.read_text().split() if path.exists() else []


def test_start_delivered_twice_runs_the_step_once_and_replies_the_same(step_cli: str, counter: Path) -> None:
    first = reply_of(post(step_cli, "/start/default/wf", alert_event()))
    second = reply_of(post(step_cli, "/start/default/wf", alert_event()))
    assert lines(counter) == ["a"]
    assert first.get_type() == second.get_type() == EventType.STEP_REQUESTED
    assert first.get_id() == second.get_id()
    assert first.get_extension(Ext.RUN) == second.get_extension(Ext.RUN)
    assert first.get_extension(Ext.STEP) == "b"


def test_concurrent_deliveries_run_once_and_the_other_gets_409(step_cli: str, counter: Path) -> None:
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        starts = list(pool.map(lambda _: post(step_cli, "/start/default/wf", alert_event()), range(2)))
    assert sorted(r.status_code for r in starts) == [200, 409]
    refused = next(r for r in starts if r.status_code == 409)
    assert "already running" in refused.json()["message"]
    nxt = reply_of(next(r for r in starts if r.status_code == 200))
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        steps = list(pool.map(lambda _: post(step_cli, "/", nxt), range(2)))
    assert sorted(r.status_code for r in steps) == [200, 409]
    assert lines(counter) == ["a", "b"]


def test_redelivered_request_for_a_finished_step_replies_the_same_event(step_cli: str, counter: Path) -> None:
    nxt = reply_of(post(step_cli, "/start/default/wf", alert_event()))
    done = reply_of(post(step_cli, "/", nxt))
    again = reply_of(post(step_cli, "/", nxt))
    also_start = reply_of(post(step_cli, "/start/default/wf", alert_event()))
    assert done.get_type() == again.get_type() == EventType.RUN_FINISHED
    assert done.get_id() == again.get_id() and done.get_extension(Ext.PHASE) == "Succeeded"
    assert also_start.get_id() == nxt.get_id()
    assert lines(counter) == ["a", "b"]


def test_a_different_event_starts_a_different_run(step_cli: str, counter: Path) -> None:
    one = reply_of(post(step_cli, "/start/default/wf", alert_event()))
    other = make_event(id="alert-2", type=EventType.ALERT_FIRING, source="/test", data={"alertname": "X"},
                       extensions={Ext.SOURCE: "default/am"})
    two = reply_of(post(step_cli, "/start/default/wf", other))
    assert one.get_extension(Ext.RUN) != two.get_extension(Ext.RUN)
    assert lines(counter) == ["a", "a"]
