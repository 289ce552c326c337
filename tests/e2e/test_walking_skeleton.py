"""An Alertmanager payload through the whole local stack, as a user would drive it.

Real components only: `cutman dev` (its own redis-server, the dev broker, the five
functions as separate HTTP servers) started as a subprocess; the payloads are bodies
captured from a real Alertmanager 0.25.0.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tests.stack import REPO, Stack, start_stack, stop_stack

FIXTURES = REPO / "tests" / "fixtures" / "alertmanager"


def payload(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())  # type: ignore[no-any-return]


def finished_runs(stack: Stack) -> list[dict[str, Any]]:
    return [r for r in stack.json("runs", "list") if r["phase"] in ("Succeeded", "Failed")]


def test_alert_runs_workflow_once_and_resolve_is_recorded(stack: Stack) -> None:
    firing = payload("01-HighCPUUsage-firing-1alerts.json")
    resp = stack.post("/webhook/alerts", firing)
    assert resp.status_code == 200, resp.text
    assert resp.json()["firing"] == 1

    runs = stack.wait_for(lambda: finished_runs(stack), what="the run to finish")
    assert len(runs) == 1
    run = stack.json("runs", "get", runs[0]["id"])
    assert run["phase"] == "Succeeded", run
    assert run["workflow"] == "default/triage"
    assert [(s["name"], s["phase"]) for s in run["steps"]] == [("gather", "Succeeded"), ("summarize", "Succeeded")]
    assert run["steps"][0]["result"]["pod"] == "web-1"
    summary = "HighCPUUsage on web-1 (platform): see https://runbooks.example.com/HighCPUUsage"
    assert run["outputs"] == {"summary": summary, "pod": "web-1"}
    assert run["startTime"] and run["completionTime"]
    assert run["alert"]["alertname"] == "HighCPUUsage"

    line = f"[cutman] triage run {run['id']}: {summary}\n"
    stack.wait_for(lambda: line in stack.lines, what="the stdout sink's line")
    stack.wait_for(lambda: stack.json("runs", "get", run["id"])["sinks"].get("console", {}).get("phase") == "Delivered",
                   what="the sink delivery record")

    again = stack.post("/webhook/alerts", firing)
    assert again.status_code == 200
    assert again.json() | {"duplicates": 1, "firing": 0} == again.json()
    time.sleep(1.0)
    assert len(stack.json("runs", "list")) == 1

    resolved = copy.deepcopy(firing)
    resolved["status"] = "resolved"
    resolved["alerts"][0]["status"] = "resolved"
    resolved["alerts"][0]["endsAt"] = "2026-11-28T16:42:06Z"
    done = stack.post("/webhook/alerts", resolved)
    assert done.status_code == 200 and done.json()["resolved"] == 1
    alerts = stack.json("alerts", "list")
    assert [(a["alertname"], a["status"]) for a in alerts] == [("HighCPUUsage", "resolved")]
    assert alerts[0]["resolvedAt"] and alerts[0]["count"] == 2
    time.sleep(0.5)
    assert len(stack.json("runs", "list")) == 1, "a resolve must not start a run"

    refire = stack.post("/webhook/alerts", firing)
    assert refire.json()["firing"] == 1
    stack.wait_for(lambda: len(finished_runs(stack)) == 2, what="a new run after the alert fired again")


def test_grouped_alerts_filters_and_human_output(stack: Stack) -> None:
    group = payload("03-HighCPUUsage-firing-2alerts.json")
    info = copy.deepcopy(group["alerts"][0])
    info["labels"] = {**info["labels"], "severity": "info", "pod": "web-9"}
    group["alerts"].append(info)
    resp = stack.post("/webhook/alerts", group)
    assert resp.status_code == 200
    assert resp.json()["firing"] == 2 and resp.json()["filtered"] == 1
    runs = stack.wait_for(lambda: len(finished_runs(stack)) == 2 and finished_runs(stack), what="two runs")
    assert sorted(stack.json("runs", "get", r["id"])["outputs"]["pod"] for r in runs) == ["web-1", "web-2"]
    table = stack.cli("runs", "list").stdout
    assert table.splitlines()[0].split()[:5] == ["NAMESPACE", "NAME", "WORKFLOW", "PHASE", "STEPS"]
    assert table.count("Succeeded") == 2
    details = stack.cli("runs", "get", runs[0]["id"]).stdout
    assert "Phase:     Succeeded" in details and "gather" in details and "Outputs:" in details


def test_bad_requests_get_clear_errors(stack: Stack) -> None:
    import httpx

    assert stack.post("/nope", {"alerts": []}).status_code == 404
    assert "no Source serves /nope" in stack.post("/nope", {"alerts": []}).json()["message"]
    bad = stack.post("/webhook/alerts", {"alerts": [{"status": "maybe", "labels": {}}]})
    assert bad.status_code == 400 and "alerts[0].status" in bad.json()["message"]
    text = httpx.post(stack.base + "/webhook/alerts", content=b"hi", headers={"content-type": "text/plain"})
    assert text.status_code == 415
    notjson = httpx.post(stack.base + "/webhook/alerts", content=b"{", headers={"content-type": "application/json"})
    assert notjson.status_code == 400 and "not JSON" in notjson.json()["message"]


def test_apply_refuses_typos_and_unavailable_features(stack: Stack, tmp_path: Path) -> None:
    typo = tmp_path / "typo.yaml"
    typo.write_text((REPO / "deploy/examples/workflow.yaml").read_text().replace("timeoutMinutes: 1\n      command", "timeoutMinutes: 1\n      comand", 1))
    done = stack.cli("apply", "-f", str(typo), check=False)
    assert done.returncode == 1
    assert f"{typo} document 1 (Workflow default/triage): spec.steps[0].comand: unknown field" in done.stderr

    agent = tmp_path / "agent.yaml"
    agent.write_text("""
apiVersion: cutman.dev/v1alpha1
kind: Workflow
metadata: {name: investigate}
spec:
  steps:
    - {name: look, type: agent, goal: find the cause}
""")
    done = stack.cli("apply", "-f", str(agent), check=False)
    assert done.returncode == 1
    assert "spec.steps[0] (look): agent steps need spec.runtime.llmConfig.model" in done.stderr

    ok = stack.cli("apply", "-f", str(REPO / "deploy/examples/sink.yaml"))
    assert "sink.cutman.dev/console unchanged" in ok.stdout, "applied by cutman dev at start, not changed since"


def test_failing_step_fails_the_run_with_reason(tmp_path: Path) -> None:
    wf = tmp_path / "wf.yaml"
    wf.write_text("""
apiVersion: cutman.dev/v1alpha1
kind: Source
metadata: {name: am}
spec: {type: webhook, config: {path: /hook}, triggerWorkflow: broken}
""")
    s = start_stack(tmp_path, str(wf), str(REPO / "tests/fixtures/workflows/failing.yaml"))
    try:
        assert s.post("/hook", payload("02-PodCrashLooping-firing-1alerts.json")).status_code == 200
        runs = s.wait_for(lambda: finished_runs(s), what="the failed run")
        run = s.json("runs", "get", runs[0]["id"])
        assert run["phase"] == "Failed"
        assert run["error"] == "step boom failed: exit code 3: oops"
        assert [st["phase"] for st in run["steps"]] == ["Succeeded", "Failed", "Pending"]
        assert run["steps"][1]["exitCode"] == 3 and run["steps"][1]["stderr"] == "oops\n"
    finally:
        stop_stack(s)


def test_stack_stops_cleanly(tmp_path: Path) -> None:
    s = start_stack(tmp_path)
    assert (s.state / "dev.json").exists()
    stop_stack(s)
    assert s.proc.returncode == 0
    assert not (s.state / "dev.json").exists()
    done = subprocess.run([sys.executable, "-m", "cutman.cli", "--state-dir", str(s.state), "runs", "list"],
                          capture_output=True, text=True, cwd=REPO, check=False)
    assert done.returncode != 0 and "no cutman dev is running" in done.stderr
