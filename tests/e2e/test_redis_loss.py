"""Compiled config survives a Redis loss: flushed under a running `cutman dev`, ingest
answers 503 with Retry-After (which Alertmanager retries) instead of 404 (which it does
not) until the reconciler has rebuilt the config, then the alert runs; nothing is lost.

Real components only: `cutman dev` as a subprocess (its own redis-server, the dev broker,
the five functions); the config keys are deleted with a real Redis client, and the
webhook is retried as Alertmanager would retry it. The rebuild is asked for by ingest
(`dev.cutman.config.resync` through the dev broker's built-in Trigger) and replayed by
the reconciler from its record of applied manifests.
"""

from __future__ import annotations

import copy
import time

import redis
from cutman.runtime.stack import StackInfo

from tests.e2e.test_walking_skeleton import finished_runs, payload
from tests.stack import Stack

CONFIG_KEYS = ["cm:cfg:source", "cm:cfg:workflow", "cm:cfg:sink", "cm:routes", "cm:triggers", "cm:cfg:synced"]


def test_flushed_config_is_rebuilt_and_the_alert_runs(stack: Stack) -> None:
    firing = payload("01-HighCPUUsage-firing-1alerts.json")
    assert stack.post("/webhook/alerts", firing).status_code == 200
    stack.wait_for(lambda: len(finished_runs(stack)) == 1, what="the first run")

    info = StackInfo.load(stack.state)
    assert info is not None
    client = redis.Redis.from_url(info.redis_url, decode_responses=True)
    try:
        assert client.exists(*CONFIG_KEYS) == len(CONFIG_KEYS), "the config the test removes is there"
        client.delete(*CONFIG_KEYS)
    finally:
        client.close()

    second = copy.deepcopy(firing)
    for a in second["alerts"]:
        a["labels"]["pod"] = "web-2"
        a["fingerprint"] = "f" * 16
    statuses: list[int] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        resp = stack.post("/webhook/alerts", second)
        statuses.append(resp.status_code)
        if resp.status_code == 200:
            break
        assert resp.status_code == 503, resp.text
        assert resp.headers["retry-after"] and "compiled config is missing" in resp.json()["message"]
        time.sleep(0.3)
    assert statuses[0] == 503 and statuses[-1] == 200, statuses
    assert 404 not in statuses
    assert resp.json()["firing"] == 1

    runs = stack.wait_for(lambda: len(finished_runs(stack)) == 2 and finished_runs(stack), what="the second run")
    assert all(r["phase"] == "Succeeded" for r in runs), runs
    client = redis.Redis.from_url(info.redis_url, decode_responses=True)
    try:
        assert client.exists("cm:cfg:synced") and client.hget("cm:routes", "/webhook/alerts") == "default/alertmanager"
    finally:
        client.close()
    assert stack.post("/webhook/nobody-serves-this", second).status_code == 404, "404 again once rebuilt"
