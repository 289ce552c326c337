"""The earlier system's examples, run in `cutman dev` with only `apiVersion` changed
(tests/fixtures/punching-fist, vendored with attribution): `complete-setup.yaml`, then
`alert-triage-workflow.yaml` with its Source and the Sinks it names.

Real components: `cutman dev` (Redis, dev broker, the five functions), the `cutman`
command, and a real Prometheus Alertmanager (Debian `prometheus-alertmanager`) that both
sends the alerts to cutman's webhook and receives the alertmanager Sinks' annotations.
Test doubles, over real HTTP, for the paid services: the scripted OpenAI-compatible
server (tests/openai_stub.py) for the model, and a local Slack Web API receiver
(`chat.postMessage`, bearer token, `{"ok": true}`) via `CUTMAN_SLACK_API_URL`. When
applied, the manifests' `http://llm-service:8080` and `http://alertmanager:9093` are
pointed at those; nothing else in them changes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.alertmanager import Alertmanager, start_alertmanager
from tests.openai_stub import ScriptedOpenAI, answer
from tests.receiver import Receiver, Reply, Request
from tests.stack import Stack, start_stack, stop_stack

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "punching-fist"
NS = "punchingfist-system"
TOKEN = "xoxb-your-slack-bot-token"  # complete-setup.yaml's Secret, as published
SETUP = {"summary": "api pods are CPU throttled", "root_cause": "CPU limit 100m", "can_auto_fix": False,
         "recommendations": ["raise the CPU limit"], "confidence": 0.8}
TRIAGE = {"summary": "web-1 crash loops on a bad config", "root_cause": "missing DATABASE_URL",
          "can_auto_fix": True, "can_auto_resolve": True, "issue_summary": "config map lost a key",
          "proposed_fix": "restore the key and restart", "severity_assessment": "high",
          "recommendations": ["add a config check"], "confidence": 0.9}
FIX = {"summary": "restored DATABASE_URL and restarted web-1", "root_cause": "missing DATABASE_URL",
       "can_auto_fix": True, "recommendations": [], "confidence": 0.7}


def model(req: dict[str, Any]) -> dict[str, Any]:
    goal = req["messages"][1]["content"]
    if goal.startswith("Investigate the alert: HighCPUUsage"):
        return answer(SETUP)
    if goal.startswith("I need to investigate this alert") and "- Alert: PodCrashLooping" in goal:
        return answer(TRIAGE)
    if goal.startswith("Based on the investigation") and "config map lost a key" in goal:
        return answer(FIX)
    return answer({"summary": f"unexpected goal: {goal[:80]}", "root_cause": "", "can_auto_fix": False,
                   "recommendations": [], "confidence": 0})


class Slack:
    """chat.postMessage as Slack documents it: bearer token, JSON `channel` and `text`."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []

    def __call__(self, req: Request) -> Reply:
        if req.path != "/chat.postMessage" or req.method != "POST":
            return Reply(404, {"ok": False, "error": "unknown_method"})
        if req.headers.get("authorization") != f"Bearer {TOKEN}":
            return Reply(200, {"ok": False, "error": "invalid_auth"})
        body = req.json()
        if not body.get("channel") or not isinstance(body.get("text"), str):
            return Reply(200, {"ok": False, "error": "channel_not_found"})
        self.messages.append(body)
        return Reply(200, {"ok": True, "channel": "C0123", "ts": f"1700000000.{len(self.messages):06d}"})


@dataclass
class Env:
    stack: Stack
    llm: ScriptedOpenAI
    slack: Slack
    am: Alertmanager
    folder: Path

    def manifest(self, name: str) -> Path:
        """The published file with the two endpoints pointed at this test's peers."""
        text = (FIXTURES / name).read_text()
        text = text.replace("http://llm-service:8080", self.llm.url).replace("http://alertmanager:9093", self.am.url)
        out = self.folder / name
        out.write_text(text)
        return out

    def only(self, name: str, kind: str, cr: str) -> Path:
        docs = [d for d in yaml.safe_load_all(self.manifest(name).read_text())
                if d and d["kind"] == kind and d["metadata"]["name"] == cr]
        out = self.folder / f"{kind.lower()}-{cr}.yaml"
        out.write_text(yaml.safe_dump_all(docs))
        return out


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    tmp = tmp_path_factory.mktemp("punching-fist")
    slack = Slack()
    receiver = Receiver(slack)
    with ScriptedOpenAI(model) as llm:
        stack = start_stack(tmp, env={"CUTMAN_SLACK_API_URL": receiver.url})
        am = start_alertmanager(tmp / "am", webhook_url=f"{stack.base}/webhook/alerts")
        folder = tmp / "manifests"
        folder.mkdir()
        try:
            yield Env(stack, llm, slack, am, folder)
        finally:
            am.stop()
            stop_stack(stack)
            receiver.close()


def finished_run(stack: Stack, workflow: str) -> dict[str, Any] | None:
    done = [r for r in stack.json("runs", "list", "--workflow", f"{NS}/{workflow}")
            if r["phase"] in ("Succeeded", "Failed")]
    return stack.json("runs", "get", done[0]["id"]) if done else None


def am_annotations(am: Alertmanager, alertname: str) -> dict[str, str]:
    alerts = httpx.get(f"{am.url}/api/v2/alerts", params={"filter": f'alertname="{alertname}"'}, timeout=10).json()
    return alerts[0]["annotations"] if alerts else {}


def test_complete_setup_runs_and_renders_its_outputs(env: Env) -> None:
    stack = env.stack
    applied = stack.cli("apply", "-f", str(env.manifest("complete-setup.yaml")))
    assert f"namespace/{NS} configured" in applied.stdout
    assert "secret/slack-bot-token-secret created" in applied.stdout
    for name in ("source.cutman.dev/alertmanager-webhook",
                 "workflow.cutman.dev/alert-investigation",
                 "sink.cutman.dev/slack-notifications",
                 "sink.cutman.dev/alertmanager-annotate"):
        assert f"{name} created" in applied.stdout
    assert "not Ready" not in applied.stdout, applied.stdout

    env.am.fire({"alertname": "HighCPUUsage", "severity": "critical", "namespace": "prod", "service": "api"},
                {"summary": "CPU above 90% for 10m"})
    run = stack.wait_for(lambda: finished_run(stack, "alert-investigation"), timeout=60,
                         what="the alert-investigation run")
    assert run["phase"] == "Succeeded", run
    assert run["source"] == f"{NS}/alertmanager-webhook"
    assert run["outputs"] == {"summary": SETUP["summary"], "root_cause": SETUP["root_cause"],
                              "can_auto_fix": "false", "recommendations": '["raise the CPU limit"]'}
    goal = env.llm.requests[0]["messages"][1]["content"]
    assert goal.startswith("Investigate the alert: HighCPUUsage\nSummary: CPU above 90% for 10m\n")

    stack.wait_for(lambda: env.slack.messages, what="the Slack message")
    text = env.slack.messages[0]["text"]
    assert env.slack.messages[0]["channel"] == "#alerts"
    assert "*Alert:* HighCPUUsage" in text and f"*Summary:* {SETUP['summary']}" in text
    assert f"*Root Cause:* {SETUP['root_cause']}" in text
    annotations = stack.wait_for(lambda: am_annotations(env.am, "HighCPUUsage").get("ai_analysis"),
                                 what="the Alertmanager annotation")
    assert annotations == SETUP["summary"]
    assert am_annotations(env.am, "HighCPUUsage")["ai_root_cause"] == SETUP["root_cause"]


def test_alert_triage_workflow_takes_over_the_path_and_runs_every_step(env: Env) -> None:
    stack = env.stack
    for name in ("slack-sink.yaml", "alertmanager-sink.yaml", "alert-triage-workflow.yaml"):
        applied = stack.cli("apply", "-f", str(env.manifest(name)))
        assert "not Ready" not in applied.stdout, applied.stdout
    applied = stack.cli("apply", "-f", str(env.manifest("alertmanager-source.yaml")))
    assert (f"not Ready: PathConflict: path /webhook/alerts is already served by Source "
            f"{NS}/alertmanager-webhook") in applied.stdout
    gone = stack.cli("delete", "-f", str(env.only("complete-setup.yaml", "Source", "alertmanager-webhook")))
    assert 'source.cutman.dev "alertmanager-webhook" deleted' in gone.stdout

    def served() -> bool:
        resp = httpx.get(f"{stack.base}/api/v1/sources/{NS}/alertmanager-critical", timeout=10).json()
        return bool((resp.get("status") or {}).get("ready"))

    stack.wait_for(served, what="alertmanager-critical to serve /webhook/alerts")
    env.am.fire({"alertname": "PodCrashLooping", "severity": "critical", "namespace": "test-workloads",
                 "service": "web", "pod": "web-1"}, {"summary": "Pod is crash looping"})
    run = stack.wait_for(lambda: finished_run(stack, "alert-triage-workflow"), timeout=60,
                         what="the alert-triage-workflow run")
    assert run["phase"] == "Succeeded", run
    steps = {s["name"]: s for s in run["steps"]}
    assert {n: s["phase"] for n, s in steps.items()} == {
        "gather-context": "Succeeded", "investigate-alert": "Succeeded", "attempt-resolution": "Succeeded"}
    out = steps["gather-context"]["output"]
    assert "Alert: PodCrashLooping\nSummary: Pod is crash looping\n" in out
    assert "Severity: critical\nNamespace: test-workloads\nService: web\n" in out
    assert json.loads(out.split("Labels: ", 1)[1].split("\n", 1)[0])["pod"] == "web-1"
    assert steps["attempt-resolution"]["result"]["summary"] == FIX["summary"]
    assert run["outputs"] == {
        "investigation_summary": TRIAGE["summary"], "root_cause": TRIAGE["root_cause"],
        "severity_assessment": "high", "auto_resolved": "true", "recommendations": '["add a config check"]'}

    message = stack.wait_for(lambda: next((m for m in env.slack.messages if m["channel"] == "#ops-alerts"), None),
                             what="the slack-ops-channel message")
    text = message["text"]
    assert "*Alert:* `PodCrashLooping`" in text and "*Severity:* high" in text
    assert "✅ *Status:* Automatically Resolved" in text and "Human Intervention Required" not in text
    duration = re.search(r"\*Investigation Duration:\* (\S+)", text)
    assert duration and re.fullmatch(r"(\d+ms|\d+s|\d+m\d+s)", duration.group(1)), text
    assert "*Source:* alertmanager-critical | *Workflow:* alert-triage-workflow" in text
    annotations = stack.wait_for(lambda: (a := am_annotations(env.am, "PodCrashLooping")).get("ai_summary") and a,
                                 what="the alertmanager-update annotation")
    assert annotations["ai_triage_status"] == "completed" and annotations["ai_auto_resolved"] == "true"
    assert annotations["ai_severity"] == "high" and annotations["ai_timestamp"].startswith("20")
