"""Sinks through the whole local stack: workflow chaining, and no credential anywhere.

Real components: `cutman dev` (its own redis-server, the dev broker, the five functions)
as a subprocess, the `cutman` command, and Alertmanager payloads captured from a real
Alertmanager. Slack, PagerDuty and a customer's webhook are paid or remote services:
local receivers over real HTTP (tests/receiver.Receiver) that check the
bearer token, routing key and HMAC signature they get.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from cutman.runtime.stack import StackInfo

from tests.e2e.test_walking_skeleton import payload
from tests.receiver import Receiver, Reply, Request
from tests.stack import Stack, start_stack, stop_stack

SLACK_TOKEN = "xoxb-e2e-9999-8888-feedfacecafe"
ROUTING_KEY = "R0UT1NGKEYe2e0123456789abcdefabc"
HMAC_KEY = "hmac-e2e-signing-key-77"
HEADER_TOKEN = "hdr-e2e-bearer-55"
QUERY_TOKEN = "query-e2e-token-33"
CREDENTIALS = (SLACK_TOKEN, ROUTING_KEY, HMAC_KEY, HEADER_TOKEN, QUERY_TOKEN)


class Remotes:
    def __init__(self) -> None:
        self.problems: list[str] = []
        self.receiver = Receiver(self)

    def __call__(self, req: Request) -> Reply:
        if req.path == "/slack/chat.postMessage":
            if req.headers.get("authorization") != f"Bearer {SLACK_TOKEN}":
                return Reply(200, {"ok": False, "error": "invalid_auth"})
            return Reply(200, {"ok": True, "channel": "C1", "ts": "1700000000.000001"})
        if req.path == "/v2/enqueue":
            if req.json().get("routing_key") != ROUTING_KEY:
                return Reply(400, {"status": "invalid event"})
            return Reply(202, {"status": "success", "dedup_key": req.json()["dedup_key"]})
        if req.path == "/hook":
            want = "sha256=" + hmac.new(HMAC_KEY.encode(), req.body, hashlib.sha256).hexdigest()
            if not hmac.compare_digest(req.headers.get("x-cutman-signature", ""), want):
                self.problems.append("bad signature")
                return Reply(401)
            if req.headers.get("authorization") != f"Bearer {HEADER_TOKEN}" or req.query.get("token") != [QUERY_TOKEN]:
                return Reply(403)
            return Reply(200)
        return Reply(404)


def manifests(url: str) -> str:
    return f"""
apiVersion: v1
kind: Secret
metadata: {{name: slack-bot-token-secret, namespace: ops}}
stringData: {{token: "{SLACK_TOKEN}"}}
---
apiVersion: v1
kind: Secret
metadata: {{name: pd, namespace: ops}}
stringData: {{routingKey: "{ROUTING_KEY}"}}
---
apiVersion: v1
kind: Secret
metadata: {{name: hook, namespace: ops}}
stringData: {{secret: "{HMAC_KEY}"}}
---
apiVersion: v1
kind: Secret
metadata: {{name: hook-headers, namespace: ops}}
stringData: {{Authorization: "Bearer {HEADER_TOKEN}"}}
---
apiVersion: cutman.dev/v1alpha1
kind: Source
metadata: {{name: am, namespace: ops}}
spec: {{type: webhook, config: {{path: /webhook/ops}}, triggerWorkflow: triage}}
---
apiVersion: cutman.dev/v1alpha1
kind: Workflow
metadata: {{name: triage, namespace: ops}}
spec:
  steps:
    - name: look
      type: cli
      command: |
        echo '{{"verdict": "throttled"}}'
  outputs:
    - {{name: verdict, value: "{{{{ .steps.look.result.verdict }}}}"}}
  sinks: [slack, pagerduty, hook, followup]
---
apiVersion: cutman.dev/v1alpha1
kind: Workflow
metadata: {{name: followup, namespace: ops}}
spec:
  steps:
    - name: report
      type: cli
      command: 'echo "parent {{{{ .parent.run.id }}}} said {{{{ .parent.outputs.verdict }}}} about {{{{ .alert.alertname }}}}"'
  outputs:
    - {{name: line, value: "{{{{ .steps.report.output }}}}"}}
  sinks: [back]
---
apiVersion: cutman.dev/v1alpha1
kind: Sink
metadata: {{name: slack, namespace: ops}}
spec: {{type: slack, config: {{channel: "#ops", botToken: slack-bot-token-secret}}}}
---
apiVersion: cutman.dev/v1alpha1
kind: Sink
metadata: {{name: pagerduty, namespace: ops}}
spec: {{type: pagerduty, config: {{routingKey: pd}}}}
---
apiVersion: cutman.dev/v1alpha1
kind: Sink
metadata: {{name: hook, namespace: ops}}
spec: {{type: webhook, config: {{endpoint: "{url}/hook?token={QUERY_TOKEN}", secretRef: hook,
                                 headersSecret: hook-headers}}}}
---
apiVersion: cutman.dev/v1alpha1
kind: Sink
metadata: {{name: followup, namespace: ops}}
spec:
  type: workflow
  config: {{workflowName: followup, triggerCondition: '{{{{ eq .run.phase "Succeeded" }}}}'}}
---
apiVersion: cutman.dev/v1alpha1
kind: Sink
metadata: {{name: back, namespace: ops}}
spec: {{type: workflow, config: {{workflowName: triage}}}}
"""


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Stack, Remotes]]:
    tmp = tmp_path_factory.mktemp("sinks-e2e")
    remotes = Remotes()
    url = remotes.receiver.url
    stack = start_stack(tmp, env={"CUTMAN_SLACK_API_URL": f"{url}/slack", "CUTMAN_PAGERDUTY_URL": url})
    try:
        (tmp / "all.yaml").write_text(manifests(url))
        applied = stack.cli("apply", "-f", str(tmp / "all.yaml"))
        assert "not Ready" not in applied.stdout, applied.stdout
        assert stack.post("/webhook/ops", payload("01-HighCPUUsage-firing-1alerts.json")).is_success
        yield stack, remotes
    finally:
        stop_stack(stack)
        remotes.receiver.close()


def read_key(client: redis.Redis, key: bytes, *, drop_endpoint_of: str = "") -> Any:
    kind = client.type(key).decode()
    if kind == "string":
        return client.get(key)
    if kind == "hash":
        data = client.hgetall(key)
        if drop_endpoint_of and drop_endpoint_of.encode() in data:
            doc = json.loads(data[drop_endpoint_of.encode()])
            if doc.get("kind") == "Sink":
                doc["spec"]["config"].pop("endpoint")
                data[drop_endpoint_of.encode()] = json.dumps(doc).encode()
        return data
    if kind == "list":
        return client.lrange(key, 0, -1)
    if kind == "set":
        return client.smembers(key)
    if kind == "zset":
        return client.zrange(key, 0, -1)
    if kind == "stream":
        return client.xrange(key)
    return b""


def runs(stack: Stack, workflow: str) -> list[dict[str, Any]]:
    return [stack.json("runs", "get", r["id"]) for r in stack.json("runs", "list", "--workflow", workflow)
            if r["phase"] in ("Succeeded", "Failed")]


def test_workflow_sink_chains_with_the_parent_and_refuses_a_loop(env: tuple[Stack, Remotes]) -> None:
    stack, _ = env
    [child] = stack.wait_for(lambda: runs(stack, "ops/followup"), timeout=60, what="the chained run")
    [parent] = runs(stack, "ops/triage")
    assert child["phase"] == "Succeeded", child
    assert child["outputs"]["line"].strip() == f"parent {parent['id']} said throttled about HighCPUUsage"
    back = stack.wait_for(lambda: stack.json("runs", "get", child["id"])["sinks"].get("back"),
                          what="the loop-back sink record")
    assert back["phase"] == "Failed" and "would loop (ops/triage → ops/followup → ops/triage)" in back["detail"]
    assert len(stack.json("runs", "list", "--workflow", "ops/triage")) == 1
    assert stack.json("runs", "get", parent["id"])["sinks"]["followup"]["phase"] == "Delivered"


def test_credentials_appear_in_no_redis_value_log_or_run(env: tuple[Stack, Remotes]) -> None:
    stack, remotes = env
    [parent] = stack.wait_for(lambda: runs(stack, "ops/triage"), timeout=60, what="the triage run")

    def delivered() -> bool:
        sinks = stack.json("runs", "get", parent["id"])["sinks"]
        return all(sinks.get(s, {}).get("phase") == "Delivered" for s in ("slack", "pagerduty", "hook"))

    stack.wait_for(delivered, timeout=30, what="slack, pagerduty and webhook deliveries")
    assert remotes.problems == []
    info = StackInfo.load(stack.state)
    assert info is not None
    client = redis.Redis.from_url(info.redis_url)
    dumped: list[str] = []
    without_hook_endpoint: list[str] = []
    try:
        for key in client.scan_iter(count=1000):
            name = key.decode()
            if name.startswith("cm:secret:"):
                continue  # the local Secret store itself (a cluster keeps them in the API)
            dumped.append(f"{name} {read_key(client, key)!r}")
            without_hook_endpoint.append(f"{name} {read_key(client, key, drop_endpoint_of='ops/hook')!r}")
    finally:
        client.close()
    logs = "".join(p.read_text(errors="replace") for p in (stack.state / "logs").glob("*.log"))
    every_run = json.dumps([stack.json("runs", "get", r["id"]) for r in stack.json("runs", "list")])
    haystack = "\n".join(dumped) + logs + "".join(stack.lines) + every_run
    assert f"{parent['id']}" in haystack and "cm:run:" in haystack  # the grep looks where the data is
    for secret in CREDENTIALS:
        if secret == QUERY_TOKEN:
            # written in the Sink's endpoint, so its compiled config (the CR's spec) holds
            # it; no run, record, status, event or log does
            assert secret not in "\n".join(without_hook_endpoint) + logs + "".join(stack.lines) + every_run
            continue
        assert secret not in haystack, secret
