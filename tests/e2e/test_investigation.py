"""The earlier system's shape, end to end in `cutman dev`: cli step, agent step, a
conditional step with a nested agent, outputs, two sinks; and approvals by CLI and link.

Real components: `cutman dev` (its Redis, dev broker, the five functions), a webhook
receiver (a real HTTP server, tests/receiver.py) for the webhook sink. Test double: the
scripted OpenAI-compatible server (tests/openai_stub.py) in place of the paid model API.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cutman.core.approval import make_token
from cutman.models.run import Decision

from tests.openai_stub import ScriptedOpenAI, answer, tool_calls
from tests.receiver import Receiver, Reply
from tests.stack import Stack, start_stack, stop_stack

API_KEY = "sk-e2e-0123456789abcdef"
APPROVAL_KEY = "e2e-approval-key-0123456789-abcdefghij"
ANALYSIS = {"summary": "web-1 is OOMKilled", "root_cause": "memory limit 128Mi", "can_auto_fix": True,
            "recommendations": ["raise the limit"], "confidence": 0.9}
FIX = {"summary": "raise memory to 512Mi", "root_cause": "memory limit 128Mi", "can_auto_fix": True,
       "recommendations": [], "confidence": 0.8, "patch": {"memory": "512Mi"}}


def model(req: dict[str, Any]) -> dict[str, Any]:
    goal = req["messages"][1]["content"]
    if goal.startswith("Propose"):
        return answer(FIX)
    if not any(m["role"] == "tool" for m in req["messages"]):
        return tool_calls(("pod_info", {"pod": "web-1"}))
    return answer(ANALYSIS)


def manifests(folder: Path, llm_url: str, hook_url: str) -> None:
    folder.mkdir()
    docs: list[dict[str, Any]] = [
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "llm"}, "stringData": {"apiKey": API_KEY}},
        {"apiVersion": "cutman.dev/v1alpha1", "kind": "Sink", "metadata": {"name": "console"},
         "spec": {"type": "stdout", "config": {
             "template": "[inv] {{ .workflow.name }} {{ .workflow.outputs.summary }} / {{ .workflow.outputs.fix }}"}}},
        {"apiVersion": "cutman.dev/v1alpha1", "kind": "Sink", "metadata": {"name": "hook"},
         "spec": {"type": "webhook", "config": {"endpoint": hook_url}}},
        {"apiVersion": "cutman.dev/v1alpha1", "kind": "Workflow", "metadata": {"name": "investigate"}, "spec": {
            "runtime": {"llmConfig": {"provider": "local", "endpoint": llm_url, "model": "scripted",
                                      "apiKeySecret": "llm/apiKey"},
                        "environment": {"REGION": "eu-1"}},
            "steps": [
                {"name": "gather", "type": "cli",
                 "command": "printf '{\"pod\": \"%s\", \"restarts\": 7}' {{ .alert.labels.pod }}"},
                {"name": "analyze", "type": "agent", "maxIterations": 4,
                 "goal": "Why does {{ .steps.gather.result.pod }} restart?",
                 "tools": [{"name": "pod_info", "parameters": {"pod": "pod name"},
                            "command": "echo pod={{ .args.pod }} region=$REGION"}]},
                {"name": "remediate", "type": "conditional", "condition": "{{ .steps.analyze.result.can_auto_fix }}",
                 "agent": {"name": "fixer", "type": "agent",
                           "goal": "Propose the fix for {{ .steps.analyze.result.root_cause }}"}},
                {"name": "escalate", "type": "conditional",
                 "condition": "{{ .steps.analyze.result.escalate | default \"\" }}",
                 "agent": {"name": "pager", "type": "cli", "command": "echo paging"}},
            ],
            "outputs": [{"name": "summary", "value": "{{ .steps.analyze.result.summary }}"},
                        {"name": "fix", "value": "{{ .steps.remediate.result.summary }}"}],
            "sinks": ["console", "hook"]}},
        {"apiVersion": "cutman.dev/v1alpha1", "kind": "Workflow", "metadata": {"name": "gated"}, "spec": {
            "steps": [{"name": "fix", "type": "cli", "approvalRequired": True,
                       "command": "echo fixed {{ .alert.labels.pod }}"}],
            "outputs": [{"name": "summary", "value": "{{ .steps.fix.output | trim }}"}],
            "sinks": ["console"]}},
    ]
    for name, wf in (("inv", "investigate"), ("gated", "gated")):
        docs.append({"apiVersion": "cutman.dev/v1alpha1", "kind": "Source", "metadata": {"name": name},
                     "spec": {"type": "webhook", "config": {"path": f"/webhook/{name}"}, "triggerWorkflow": wf}})
    (folder / "all.yaml").write_text("\n---\n".join(json.dumps(d) for d in docs))


def alert(pod: str) -> dict[str, Any]:
    labels = {"alertname": "PodRestarting", "namespace": "prod", "pod": pod, "severity": "critical"}
    return {"receiver": "cutman", "status": "firing", "version": "4", "groupKey": "{}", "truncatedAlerts": 0,
            "groupLabels": {}, "commonLabels": labels, "commonAnnotations": {}, "externalURL": "http://am",
            "alerts": [{"status": "firing", "labels": labels, "annotations": {"summary": "restarts"},
                        "startsAt": "2026-11-28T16:41:04Z", "endsAt": "0001-01-01T00:00:00Z",
                        "generatorURL": "", "fingerprint": f"fp{pod}"}]}


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Stack, ScriptedOpenAI, Receiver]]:
    tmp = tmp_path_factory.mktemp("investigation")
    receiver = Receiver(lambda _req: Reply(204, b""))
    old = os.environ.get("CUTMAN_APPROVAL_KEY")
    os.environ["CUTMAN_APPROVAL_KEY"] = APPROVAL_KEY
    with ScriptedOpenAI(model) as llm:
        manifests(tmp / "manifests", llm.url, receiver.url + "/hook")
        stack = start_stack(tmp, str(tmp / "manifests"))
        try:
            yield stack, llm, receiver
        finally:
            stop_stack(stack)
            receiver.close()
            if old is None:
                os.environ.pop("CUTMAN_APPROVAL_KEY", None)
            else:
                os.environ["CUTMAN_APPROVAL_KEY"] = old


def run_of(stack: Stack, workflow: str, phases: tuple[str, ...]) -> dict[str, Any] | None:
    runs = [r for r in stack.json("runs", "list", "--workflow", f"default/{workflow}") if r["phase"] in phases]
    return stack.json("runs", "get", runs[0]["id"]) if runs else None


def test_investigation_with_agents_conditional_outputs_and_two_sinks(env: tuple[Stack, ScriptedOpenAI, Receiver]) -> None:
    stack, llm, receiver = env
    assert stack.post("/webhook/inv", alert("web-1")).status_code == 200
    run = stack.wait_for(lambda: run_of(stack, "investigate", ("Succeeded", "Failed")), what="the investigation")
    assert run["phase"] == "Succeeded", run
    phases = {s["name"]: s["phase"] for s in run["steps"]}
    assert phases == {"gather": "Succeeded", "analyze": "Succeeded", "remediate": "Succeeded", "escalate": "Skipped"}
    assert run["outputs"] == {"summary": "web-1 is OOMKilled", "fix": "raise memory to 512Mi"}
    steps = {s["name"]: s for s in run["steps"]}
    assert steps["gather"]["result"] == {"pod": "web-1", "restarts": 7}
    assert steps["remediate"]["result"]["patch"] == {"memory": "512Mi"}
    assert [(c["name"], c["ok"]) for c in steps["analyze"]["toolCalls"]] == [("pod_info", True)]
    tool_result = next(m for m in steps["analyze"]["transcript"] if m["role"] == "tool")["content"]
    assert tool_result == "pod=web-1 region=eu-1\n"
    assert all(h["authorization"] == f"Bearer {API_KEY}" for h in llm.headers)

    line = "[inv] investigate web-1 is OOMKilled / raise memory to 512Mi\n"
    stack.wait_for(lambda: line in stack.lines, what="the stdout sink's line")
    stack.wait_for(lambda: receiver.posts("/hook"), what="the webhook sink's POST")
    posted = receiver.posts("/hook")[0].json()
    assert posted["outputs"] == run["outputs"] and posted["phase"] == "Succeeded"

    details = stack.cli("runs", "get", run["id"]).stdout
    assert "tool pod_info {\"pod\": \"web-1\"}" in details and "remediate" in details and "Skipped" in details


def test_approval_by_cli_and_denial_by_signed_link(env: tuple[Stack, ScriptedOpenAI, Receiver]) -> None:
    stack, _, _ = env
    for pod in ("web-2", "web-3"):
        assert stack.post("/webhook/gated", alert(pod)).status_code == 200

    def waiting() -> list[dict[str, Any]]:
        runs = [r for r in stack.json("runs", "list", "--workflow", "default/gated") if r["phase"] == "AwaitingApproval"]
        return runs if len(runs) == 2 else []

    runs = [stack.json("runs", "get", r["id"]) for r in stack.wait_for(waiting, what="two runs awaiting approval")]
    by_pod = {r["alert"]["labels"]["pod"]: r for r in runs}
    approved, denied = by_pod["web-2"]["id"], by_pod["web-3"]["id"]
    assert by_pod["web-2"]["steps"][0]["approval"]["decision"] is None
    assert "approval: pending" in stack.cli("runs", "get", approved).stdout
    announced = f"[cutman] default/gated run {approved} waits for approval of step fix until "
    line = stack.wait_for(lambda: next((ln for ln in stack.lines if ln.startswith(announced)), None),
                          what="the console sink to announce the approval")
    assert f"Approve: {stack.base}/approvals/" in line and f"Deny: {stack.base}/approvals/" in line

    done = stack.cli("approve", approved, "fix", "--by", "ana")
    assert done.stdout == f"run {approved} step fix approved by ana\n"
    again = stack.cli("approve", approved, "fix", check=False)
    assert again.returncode == 1 and "already approved by ana" in again.stderr

    token = make_token(key=APPROVAL_KEY.encode(), run=denied, step="fix", decision=Decision.DENIED,
                       expires=2_000_000_000)
    page = httpx.get(f"{stack.base}/approvals/{token}", timeout=10)
    assert page.status_code == 200 and "Deny step <b>fix</b>" in page.text
    assert stack.json("runs", "get", denied)["phase"] == "AwaitingApproval", "GET must not decide"
    forged = httpx.post(f"{stack.base}/approvals/{token[:-2]}xx", timeout=10)
    assert forged.status_code == 401 and "signature" in forged.json()["message"]
    resp = httpx.post(f"{stack.base}/approvals/{token}", timeout=10)
    assert resp.status_code == 200 and resp.json() == {"run": denied, "step": "fix", "decision": "denied", "resumed": True}

    def finished(run_id: str) -> dict[str, Any] | None:
        run = stack.json("runs", "get", run_id)
        return run if run["phase"] in ("Succeeded", "Failed") else None

    ok = stack.wait_for(lambda: finished(approved), what="the approved run")
    assert ok["phase"] == "Succeeded" and ok["outputs"] == {"summary": "fixed web-2"}
    assert ok["steps"][0]["approval"]["decidedBy"] == "ana"
    no = stack.wait_for(lambda: finished(denied), what="the denied run")
    assert no["phase"] == "Failed" and no["error"] == "step fix failed: approval denied by approval link"
