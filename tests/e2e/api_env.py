"""The stack the API and browser tests look at: `cutman dev` with an API token and Secrets.

Real components: `cutman dev` (its Redis, dev broker, the five functions), a webhook
receiver in the test that refuses every delivery with 400 (a real HTTP server,
tests/receiver.py; its refusals become dead letters). Test double: the scripted OpenAI-compatible server
(tests/openai_stub.py) in place of the paid model API.

Secrets are applied with values the tests then grep for in every answer: the model's
API key, a Source's bearer token, a step's secretEnv value the step echoes, and an
inline Slack-style bot token in a Sink.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.openai_stub import ScriptedOpenAI, answer, tool_calls
from tests.receiver import Receiver, Reply
from tests.stack import Stack, start_stack, stop_stack

API_TOKEN = "api-token-7f3a9c0e1b2d4f6a"
SECRETS = {
    "llm": "sk-api-e2e-5a1b2c3d4e5f6a7b",
    "webhook": "am-bearer-9e8d7c6b5a4f3e2d",
    "db": "db-password-0f1e2d3c4b5a6978",
    "bot": "xoxb-inline-1234567890-abcdef",
}
ANALYSIS = {"summary": "web-1 is OOMKilled", "root_cause": "memory limit 128Mi is below the working set",
            "can_auto_fix": True, "recommendations": ["raise the limit to 512Mi", "add a memory alert"],
            "confidence": 0.82}


def model(req: dict[str, Any]) -> dict[str, Any]:
    if not any(m["role"] == "tool" for m in req["messages"]):
        return tool_calls(("pod_info", {"pod": "web-1"}), tokens=(120, 30))
    return answer(ANALYSIS, tokens=(200, 60))


class Refuser(Receiver):
    """A webhook receiver that answers 400 to everything: its deliveries are dead-lettered."""

    def __init__(self) -> None:
        super().__init__(lambda _req: Reply(400, b"no"))

    @property
    def url(self) -> str:
        return super().url + "/hook"

    @property
    def hits(self) -> int:
        return len(self.posts())


def manifests(folder: Path, llm_url: str, refuse_url: str) -> None:
    folder.mkdir()
    ns2 = {"namespace": "team"}
    docs: list[dict[str, Any]] = [
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "llm"}, "stringData": {"apiKey": SECRETS["llm"]}},
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "am-token"},
         "stringData": {"token": SECRETS["webhook"]}},
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db"}, "stringData": {"password": SECRETS["db"]}},
        {"apiVersion": "cutman.dev/v1alpha1", "kind": "Sink", "metadata": {"name": "console"},
         "spec": {"type": "stdout", "config": {"template": "[api] {{ .workflow.name }} {{ .workflow.outputs.summary }}"}}},
        {"apiVersion": "cutman.dev/v1alpha1", "kind": "Sink", "metadata": {"name": "refuser"},
         "spec": {"type": "webhook", "config": {"endpoint": refuse_url}}},
        {"apiVersion": "cutman.dev/v1alpha1", "kind": "Sink", "metadata": {"name": "chat", **ns2},
         "spec": {"type": "webhook", "config": {"endpoint": f"http://bot:{SECRETS['bot']}@127.0.0.1:9/hook"}}},
        {"apiVersion": "cutman.dev/v1alpha1", "kind": "Workflow", "metadata": {"name": "investigate"}, "spec": {
            "runtime": {"llmConfig": {"provider": "local", "endpoint": llm_url, "model": "scripted",
                                      "apiKeySecret": "llm/apiKey"},
                        "secretEnv": {"DB_PASSWORD": "db/password"}},
            "steps": [
                {"name": "gather", "type": "cli",
                 "command": "echo \"pod={{ .alert.labels.pod }} pw=$DB_PASSWORD\"; printf '{\"pod\": \"%s\"}' x"},
                {"name": "analyze", "type": "agent", "maxIterations": 4,
                 "goal": "Why does {{ .alert.labels.pod }} restart?",
                 "tools": [{"name": "pod_info", "parameters": {"pod": "pod name"},
                            "command": "echo pod={{ .args.pod }} restarts=7"}]},
                {"name": "remediate", "type": "cli", "approvalRequired": True,
                 "command": "echo patched {{ .alert.labels.pod }}"},
            ],
            "outputs": [{"name": "summary", "value": "{{ .steps.analyze.result.summary }}"}],
            "sinks": ["console", "refuser"]}},
        {"apiVersion": "cutman.dev/v1alpha1", "kind": "Workflow", "metadata": {"name": "quick"}, "spec": {
            "steps": [{"name": "check", "type": "cli", "command": "echo ok {{ .alert.labels.pod }}"}],
            "sinks": ["console"]}},
        {"apiVersion": "cutman.dev/v1alpha1", "kind": "Workflow", "metadata": {"name": "broken", **ns2}, "spec": {
            "steps": [{"name": "check", "type": "cli", "command": "true"}], "sinks": ["missing"]}},
        {"apiVersion": "cutman.dev/v1alpha1", "kind": "Source", "metadata": {"name": "inv"},
         "spec": {"type": "webhook", "triggerWorkflow": "investigate",
                  "config": {"path": "/webhook/inv",
                             "authentication": {"type": "bearer", "secretRef": "am-token/token"}}}},
        {"apiVersion": "cutman.dev/v1alpha1", "kind": "Source", "metadata": {"name": "quick"},
         "spec": {"type": "webhook", "config": {"path": "/webhook/quick"}, "triggerWorkflow": "quick"}},
    ]
    (folder / "all.yaml").write_text("\n---\n".join(json.dumps(d) for d in docs))


def alert(pod: str, alertname: str = "PodRestarting", status: str = "firing") -> dict[str, Any]:
    labels = {"alertname": alertname, "namespace": "prod", "pod": pod, "severity": "critical"}
    return {"receiver": "cutman", "status": status, "version": "4", "groupKey": "{}", "truncatedAlerts": 0,
            "groupLabels": {}, "commonLabels": labels, "commonAnnotations": {}, "externalURL": "http://am",
            "alerts": [{"status": status, "labels": labels,
                        "annotations": {"summary": f"{pod} restarted 7 times in 10 minutes"},
                        "startsAt": "2026-11-28T16:41:04Z", "endsAt": "0001-01-01T00:00:00Z",
                        "generatorURL": "", "fingerprint": f"fp{pod}"}]}


@dataclass
class ApiEnv:
    stack: Stack
    llm: ScriptedOpenAI
    refuser: Refuser
    token: str | None

    @property
    def base(self) -> str:
        return self.stack.base

    def headers(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.token}"} if self.token else {}

    def get(self, path: str, **params: Any) -> httpx.Response:
        return httpx.get(self.base + path, params=params, headers=self.headers(), timeout=30)

    def fire(self, source: str, pod: str, **kw: Any) -> httpx.Response:
        auth = {"authorization": f"Bearer {SECRETS['webhook']}"} if source == "inv" else {}
        return httpx.post(f"{self.base}/webhook/{source}", json=alert(pod, **kw), headers=auth, timeout=30)


@contextmanager
def api_env(tmp: Path, *, token: str | None = API_TOKEN) -> Iterator[ApiEnv]:
    refuser = Refuser()
    env = {"CUTMAN_API_TOKEN": token} if token else {}
    old = os.environ.pop("CUTMAN_API_TOKEN", None)
    try:
        with ScriptedOpenAI(model) as llm:
            manifests(tmp / "manifests", llm.url, refuser.url)
            stack = start_stack(tmp, str(tmp / "manifests"), env=env)
            try:
                yield ApiEnv(stack, llm, refuser, token)
            finally:
                stop_stack(stack)
    finally:
        refuser.close()
        if old is not None:
            os.environ["CUTMAN_API_TOKEN"] = old
