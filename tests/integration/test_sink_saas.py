"""Slack, PagerDuty and Jira sinks against local receivers that check the documented shapes.

Real components: the sink function as a subprocess, a real Redis. Slack (Web API
`chat.postMessage`, Block Kit, incoming webhooks), PagerDuty (Events API v2) and Jira
(REST API v2) are paid remote services: each is a local receiver over real HTTP that
checks the request against the documented wire format and answers as the service does.
"""

from __future__ import annotations

import base64
import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cutman.runtime.redis_server import RedisServer, stop_process

from tests.integration.sink_harness import SinkRig, concurrently, start_sink
from tests.receiver import Receiver, Reply, Request

TOKEN = "xoxb-test-1111-2222-abcdefabcdef"
ROUTING = "R0UT1NGKEY0123456789abcdefabcdef"
APPROVAL = {"run": "run-1", "workflow": "ops/wf", "step": "fix", "expiresAt": "2026-12-01T11:00:00Z",
            "approve": "cutman approve run-1 fix", "deny": "cutman deny run-1 fix",
            "approveUrl": "http://cutman.example/approvals/yes-token", "denyUrl": "http://cutman.example/approvals/no-token"}


class Slack:
    """chat.postMessage as Slack documents it: bearer token, JSON body, `{"ok", "channel", "ts"}`."""

    def __init__(self) -> None:
        self.ts = itertools.count(1)
        self.problems: list[str] = []
        self.limited = 0

    def __call__(self, req: Request) -> Reply:
        if req.path.startswith("/services/"):
            body = req.json()
            if "text" not in body:
                self.problems.append("webhook without text")
            return Reply(body=b"ok", headers={"content-type": "text/plain"})
        if req.path != "/chat.postMessage" or req.method != "POST":
            return Reply(404, {"ok": False, "error": "unknown_method"})
        if self.limited:
            self.limited -= 1
            return Reply(429, {"ok": False, "error": "ratelimited"}, headers={"Retry-After": "1"})
        if req.headers.get("authorization") != f"Bearer {TOKEN}":
            return Reply(200, {"ok": False, "error": "invalid_auth"})
        if not req.headers.get("content-type", "").startswith("application/json"):
            self.problems.append("not JSON")
        body = req.json()
        for block in body.get("blocks", []):
            if block.get("type") not in ("header", "section", "context", "actions", "divider"):
                self.problems.append(f"unknown block {block.get('type')}")
        if not body.get("channel") or not isinstance(body.get("text"), str):
            return Reply(200, {"ok": False, "error": "channel_not_found"})
        return Reply(200, {"ok": True, "channel": "C0123", "ts": f"1700000000.{next(self.ts):06d}",
                           "message": {"text": body["text"]}})


class PagerDuty:
    """Events API v2: POST /v2/enqueue, 202 `{"status": "success", "dedup_key"}`."""

    def __call__(self, req: Request) -> Reply:
        body = req.json()
        ok = (req.path == "/v2/enqueue" and body.get("routing_key") == ROUTING
              and body.get("event_action") in ("trigger", "acknowledge", "resolve") and body.get("dedup_key"))
        if ok and body["event_action"] == "trigger":
            p = body.get("payload") or {}
            ok = bool(p.get("summary") and p.get("source")) and p.get("severity") in (
                "critical", "error", "warning", "info")
        if not ok:
            return Reply(400, {"status": "invalid event", "message": "Event object is invalid"})
        return Reply(202, {"status": "success", "message": "Event processed", "dedup_key": body["dedup_key"]})


class Jira:
    """REST v2: POST /rest/api/2/issue (201 `{id, key, self}`), POST .../issue/<key>/comment."""

    def __init__(self, auth: str) -> None:
        self.auth, self.n = auth, itertools.count(1)

    def __call__(self, req: Request) -> Reply:
        if req.headers.get("authorization") != self.auth:
            return Reply(401, {"errorMessages": ["You are not authenticated."]})
        if req.path == "/rest/api/2/issue" and req.method == "POST":
            fields = req.json().get("fields") or {}
            if not (fields.get("project", {}).get("key") and fields.get("summary")
                    and fields.get("issuetype", {}).get("name")):
                return Reply(400, {"errors": {"summary": "required"}})
            n = next(self.n)
            return Reply(201, {"id": str(10000 + n), "key": f"{fields['project']['key']}-{n}",
                               "self": f"http://jira/rest/api/2/issue/{10000 + n}"})
        if req.path.startswith("/rest/api/2/issue/") and req.path.endswith("/comment"):
            return Reply(201, {"id": "1", "body": req.json().get("body")})
        return Reply(404, {"errorMessages": ["Issue does not exist"]})


@pytest.fixture(scope="module")
def remotes() -> Iterator[dict[str, Receiver]]:
    out = {"slack": Receiver(Slack()), "pagerduty": Receiver(PagerDuty())}
    yield out
    for r in out.values():
        r.close()


@pytest.fixture(scope="module")
def sink_proc(redis_server: RedisServer, remotes: dict[str, Receiver],
              tmp_path_factory: pytest.TempPathFactory) -> Iterator[SinkRig]:
    proc, rig = start_sink(redis_server.url, tmp_path_factory.mktemp("sink"),
                           CUTMAN_SLACK_API_URL=remotes["slack"].url, CUTMAN_PAGERDUTY_URL=remotes["pagerduty"].url,
                           CUTMAN_PUBLIC_URL="http://cutman.example")
    yield rig
    stop_process(proc, timeout=10)


@pytest.fixture
def rig(sink_proc: SinkRig, redis_url: str, remotes: dict[str, Receiver]) -> SinkRig:
    for r in remotes.values():
        r.requests.clear()
    return sink_proc


def slack_sink(rig: SinkRig, **config: Any) -> None:
    rig.secret("slack-bot-token-secret", {"token": TOKEN})
    rig.sink("slack", {"type": "slack", "config": {"channel": "#alerts", "botToken": "slack-bot-token-secret",
                                                   **config}})


def test_slack_posts_block_kit_with_the_template_as_text(rig: SinkRig, remotes: dict[str, Receiver]) -> None:
    slack_sink(rig, template="*Alert:* {{ .alert.alertname }} {{ .workflow.outputs.summary }}",
               mentionUsers=["U024BE7LH", "@here"])
    rig.run()
    resp = rig.deliver("slack")
    assert resp.status_code == 200 and resp.json()["phase"] == "Delivered", resp.text
    [req] = remotes["slack"].posts("/chat.postMessage")
    body = req.json()
    assert body["channel"] == "#alerts"
    assert body["text"] == "<@U024BE7LH> <!here> *Alert:* HighCPU web-1 is CPU bound"
    text = json.dumps(body["blocks"])
    for shown in ("HighCPU", "web-1 is CPU bound", "a busy loop in v2.3", "roll back",
                  "http://cutman.example/api/v1/runs/run-1"):
        assert shown in text
    assert body["blocks"][0]["type"] == "header"
    assert TOKEN not in json.dumps(rig.records()) + rig.log.read_text()
    assert rig.stats("slack")["messagesSent"] == "1"


def test_slack_approval_has_approve_and_deny_url_buttons(rig: SinkRig, remotes: dict[str, Receiver]) -> None:
    slack_sink(rig)
    rig.run()
    assert rig.deliver("slack", approval=APPROVAL).status_code == 200
    [req] = remotes["slack"].posts("/chat.postMessage")
    [actions] = [b for b in req.json()["blocks"] if b["type"] == "actions"]
    assert [(e["type"], e["url"], e["style"]) for e in actions["elements"]] == [
        ("button", APPROVAL["approveUrl"], "primary"), ("button", APPROVAL["denyUrl"], "danger")]
    assert "waits for approval of step fix" in req.json()["text"]


def test_slack_threads_follow_ups_of_the_same_fingerprint(rig: SinkRig, remotes: dict[str, Receiver]) -> None:
    slack_sink(rig, messageType="thread")
    rig.run("run-1")
    rig.run("run-2", alert={"alertname": "HighCPU", "fingerprint": "fp-1", "status": "resolved",
                            "labels": {"alertname": "HighCPU"}})
    rig.run("run-3", alert={"alertname": "DiskFull", "fingerprint": "fp-2", "labels": {"alertname": "DiskFull"}})
    for run_id in ("run-1", "run-2", "run-3"):
        assert rig.deliver("slack", run_id).status_code == 200
    first, second, third = (r.json() for r in remotes["slack"].posts("/chat.postMessage"))
    assert "thread_ts" not in first and "thread_ts" not in third
    first_ts = rig.records("run-1")["slack"]["detail"].rsplit("(ts ", 1)[1].rstrip(")")
    assert first_ts.startswith("1700000000.") and second["thread_ts"] == first_ts
    assert rig.records("run-3")["slack"]["detail"].startswith("posted to C0123 as a new message")


def test_slack_429_retry_after_is_honoured(rig: SinkRig, remotes: dict[str, Receiver]) -> None:
    handler = remotes["slack"].handler
    assert isinstance(handler, Slack)
    handler.limited = 1
    slack_sink(rig)
    rig.run()
    resp = rig.deliver("slack")
    assert resp.status_code == 200 and resp.json()["attempts"] == 1
    assert len(remotes["slack"].posts("/chat.postMessage")) == 2


def test_slack_error_answers_are_permanent(rig: SinkRig, remotes: dict[str, Receiver]) -> None:
    rig.secret("slack-bot-token-secret", {"token": "xoxb-wrong"})
    rig.sink("slack", {"type": "slack", "config": {"channel": "#alerts", "botToken": "slack-bot-token-secret"}})
    rig.run()
    assert rig.deliver("slack").json()["phase"] == "Failed"
    assert "invalid_auth" in rig.stats("slack")["lastError"]
    assert "xoxb-wrong" not in json.dumps(rig.records()) + rig.log.read_text()


def test_slack_incoming_webhook_from_a_secret(rig: SinkRig, remotes: dict[str, Receiver]) -> None:
    url = remotes["slack"].url + "/services/T000/B000/hooksecret"
    rig.secret("slack-hook", {"url": url})
    rig.sink("slack", {"type": "slack", "config": {"webhookUrlSecret": "slack-hook", "template": "hi"}})
    rig.run()
    assert rig.deliver("slack").json()["phase"] == "Delivered"
    [req] = remotes["slack"].posts("/services/T000/B000/hooksecret")
    assert req.json()["text"] == "hi" and req.json()["blocks"]
    assert "hooksecret" not in json.dumps(rig.records()) + rig.log.read_text()


@pytest.mark.parametrize("kind", ["slack", "pagerduty"])
def test_redelivered_and_concurrent_posts_once(rig: SinkRig, remotes: dict[str, Receiver], kind: str) -> None:
    if kind == "slack":
        slack_sink(rig)
    else:
        rig.secret("pd", {"routingKey": ROUTING})
        rig.sink("pagerduty", {"type": "pagerduty", "config": {"routingKey": "pd"}})
    rig.run()
    answers = concurrently(lambda: rig.deliver(kind), n=4)
    assert {a.status_code for a in answers} <= {200, 409} and 200 in {a.status_code for a in answers}
    assert rig.deliver(kind).status_code == 200
    assert len(remotes[kind].posts()) == 1


def test_pagerduty_events_v2_trigger_then_resolve(rig: SinkRig, remotes: dict[str, Receiver]) -> None:
    rig.secret("pd", {"routingKey": ROUTING, "other": "x"})
    rig.sink("pagerduty", {"type": "pagerduty", "config": {"routingKey": "pd"}})
    rig.run("run-1")
    rig.run("run-2", alert={"alertname": "HighCPU", "fingerprint": "fp-1", "status": "resolved",
                            "labels": {"alertname": "HighCPU"}})
    assert rig.deliver("pagerduty", "run-1").json()["phase"] == "Delivered"
    assert rig.deliver("pagerduty", "run-2").json()["phase"] == "Delivered"
    trigger, resolve = (r.json() for r in remotes["pagerduty"].posts("/v2/enqueue"))
    assert trigger["event_action"] == "trigger" and trigger["dedup_key"] == "fp-1"
    assert trigger["payload"]["severity"] == "critical"
    assert trigger["payload"]["custom_details"]["root_cause"] == "a busy loop in v2.3"
    assert {"href": "http://cutman.example/api/v1/runs/run-1", "text": "cutman run run-1"} in trigger["links"]
    assert resolve == {"routing_key": ROUTING, "event_action": "resolve", "dedup_key": "fp-1"}
    assert ROUTING not in json.dumps(rig.records("run-1")) + rig.log.read_text()


@pytest.mark.parametrize(("secret", "auth"), [
    ({"email": "bot@example.com", "token": "atl-api-token"},
     "Basic " + base64.b64encode(b"bot@example.com:atl-api-token").decode()),
    ({"token": "pat-token"}, "Bearer pat-token"),
])
def test_jira_creates_an_issue_then_comments(rig: SinkRig, tmp_path: Path, secret: dict[str, str], auth: str) -> None:
    jira = Receiver(Jira(auth))
    try:
        rig.secret("jira-creds", secret)
        rig.sink("jira", {"type": "jira", "config": {"endpoint": jira.url, "project": "OPS", "issueType": "Bug",
                                                     "credentialsSecret": "jira-creds",
                                                     "summary": "{{ .alert.alertname }} on {{ .alert.labels.pod }}"}})
        rig.run("run-1")
        rig.run("run-2")
        assert rig.deliver("jira", "run-1").json()["detail"] == "created OPS-1 in OPS"
        assert rig.deliver("jira", "run-2").json()["detail"] == "commented on OPS-1"
        assert rig.deliver("jira", "run-2").status_code == 200
        create, comment = jira.posts()
        fields = create.json()["fields"]
        assert fields["summary"] == "HighCPU on web-1" and fields["issuetype"] == {"name": "Bug"}
        assert "a busy loop in v2.3" in fields["description"]
        assert comment.path == "/rest/api/2/issue/OPS-1/comment" and "Root cause" in comment.json()["body"]
        assert secret["token"] not in json.dumps(rig.records("run-1")) + rig.log.read_text()
    finally:
        jira.close()


def test_the_sweep_resends_a_crashed_pagerduty_delivery_once(rig: SinkRig, remotes: dict[str, Receiver]) -> None:
    """PagerDuty deduplicates by dedup_key, so a delivery a crash left Sending is sent again."""
    import asyncio
    import time

    import httpx
    from cutman.adapters.store import RedisStore
    from cutman.sinks.delivery import sweep_sink_deliveries

    rig.secret("pd", {"routingKey": ROUTING})
    rig.sink("pagerduty", {"type": "pagerduty", "config": {"routingKey": "pd"}})
    rig.run()

    async def go() -> dict[str, int]:
        store = RedisStore(rig.redis_url)
        await store.record_sink("run-1", "pagerduty", {"sink": "pagerduty", "phase": "Sending", "attempts": 1})
        await store.track_delivery("run-1", "ops/pagerduty", "pagerduty", time.time() - 3600)
        async with httpx.AsyncClient() as http:
            settings = {"CUTMAN_PAGERDUTY_URL": remotes["pagerduty"].url}
            counts = await sweep_sink_deliveries(store, time.time(), http=http, settings=settings)
            again = await sweep_sink_deliveries(store, time.time(), http=http, settings=settings)
        await store.close()
        assert again["resent"] == 0
        return counts

    assert asyncio.run(go())["resent"] == 1
    [post] = remotes["pagerduty"].posts("/v2/enqueue")
    assert post.json()["dedup_key"] == "fp-1"
    assert rig.records()["pagerduty"]["phase"] == "Delivered" and rig.records()["pagerduty"]["attempts"] == 2
