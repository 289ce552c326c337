"""Local mode keeps CR status like a cluster: `cutman dev` (real Redis, dev broker, the
five functions) routes run.finished to the reconciler through the planned status
Trigger, and the Workflow's compiled config records the last run and Ready."""

from __future__ import annotations

import json
from typing import Any

import redis
from cutman.runtime.stack import StackInfo

from tests.e2e.test_walking_skeleton import finished_runs, payload
from tests.stack import Stack


def workflow_status(stack: Stack, key: str = "workflow:default/triage") -> dict[str, Any]:
    info = StackInfo.load(stack.state)
    assert info is not None
    client = redis.Redis.from_url(info.redis_url)
    try:
        kind, _, name = key.partition(":")
        raw = client.hget(f"cm:cfg:{kind}", name)
    finally:
        client.close()
    assert raw is not None
    status: dict[str, Any] = json.loads(raw).get("status") or {}
    return status


def test_run_finished_updates_workflow_status(stack: Stack) -> None:
    status = stack.wait_for(lambda: workflow_status(stack).get("conditions") and workflow_status(stack),
                            what="the Workflow's Ready condition")
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "True"
    assert stack.post("/webhook/alerts", payload("01-HighCPUUsage-firing-1alerts.json")).is_success
    runs = stack.wait_for(lambda: finished_runs(stack), what="the run to finish")
    status = stack.wait_for(lambda: workflow_status(stack).get("lastRun") == runs[0]["id"] and workflow_status(stack),
                            what="the Workflow's lastRun")
    assert status["phase"] == runs[0]["phase"]
    assert status["runsTotal"] == 1 and status["runsSucceeded"] == 1


def test_counters_count_each_run_once_and_sinks_report_deliveries(stack: Stack) -> None:
    first = payload("01-HighCPUUsage-firing-1alerts.json")
    second = payload("02-PodCrashLooping-firing-1alerts.json")
    assert stack.post("/webhook/alerts", first).is_success
    stack.wait_for(lambda: workflow_status(stack).get("runsTotal") == 1, what="the first run counted")
    assert stack.post("/webhook/alerts", first).json()["duplicates"] == 1
    assert stack.post("/webhook/alerts", second).is_success
    status = stack.wait_for(lambda: workflow_status(stack).get("runsTotal") == 2 and workflow_status(stack),
                            what="the second run counted")
    assert status["runsSucceeded"] == 2 and "runsFailed" not in status
    # current after each delivery (the sink's reply), not one run late
    stack.wait_for(lambda: workflow_status(stack, "sink:default/console").get("messagesSent") == 2,
                   what="the console Sink's counters to show both deliveries")
    assert workflow_status(stack, "sink:default/console")["lastSentTime"]
