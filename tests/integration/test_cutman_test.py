"""`cutman test`: a workflow run offline, with no broker, no Redis and no cluster.

The CLI runs as a subprocess with REDIS_URL pointing nowhere and no `cutman dev`, so a
hidden dependency on either fails the test. Real components: /bin/sh for cli steps; a
real HTTP receiver (tests/receiver.Receiver) standing for the webhook a
sink would call, which must receive nothing; the scripted OpenAI-compatible server
(tests/openai_stub.py, the double for the paid model API) for the real-endpoint path.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.openai_stub import ScriptedOpenAI, answer, sequence, tool_calls
from tests.receiver import Receiver

REPO = Path(__file__).resolve().parents[2]
ALERT = REPO / "deploy/examples/alert.json"


def cutman_test(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "REDIS_URL": "redis://127.0.0.1:9/0", "CUTMAN_STATE_DIR": str(cwd / "no-stack")}
    return subprocess.run([sys.executable, "-m", "cutman.cli", "test", *args], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=120, check=False)


def test_the_example_workflow_runs_offline_and_its_sink_is_shown(tmp_path: Path) -> None:
    done = cutman_test("-f", "deploy/examples", "--alert", str(ALERT))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "run of default/triage for alert HighCPUUsage"
    assert lines[1].split()[:2] == ["gather", "Succeeded"] and lines[2].split()[:2] == ["summarize", "Succeeded"]
    summary = "HighCPUUsage on web-1 (platform): see https://runbooks.example.com/HighCPUUsage"
    assert f"  outputs.summary: {summary}" in lines and "  outputs.pod: web-1" in lines
    assert any(ln.startswith("sink console (stdout): rendered, not sent") for ln in lines)
    assert any(ln.startswith("  stdout: [cutman] triage run triage-") and ln.endswith(summary) for ln in lines)

    good = cutman_test("-f", "deploy/examples", "--alert", str(ALERT), "--expect", "outputs.pod=web-1",
                       "--expect", "steps.gather.result.pod=web-1", "--expect", "phase=Succeeded")
    assert good.returncode == 0 and good.stdout.count(": ok") == 3, good.stdout
    bad = cutman_test("-f", "deploy/examples", "--alert", str(ALERT), "--expect", "outputs.pod=web-2")
    assert bad.returncode == 1
    assert 'expect outputs.pod=web-2: FAILED (got "web-1")' in bad.stdout

    as_json = json.loads(cutman_test("-f", "deploy/examples", "--alert", str(ALERT), "-o", "json").stdout)
    assert as_json["phase"] == "Succeeded" and as_json["outputs"]["pod"] == "web-1"
    assert as_json["sinkPreviews"]["console"]["requests"][0].startswith("stdout: [cutman] triage run")


FAILING = REPO / "tests/fixtures/workflows/failing.yaml"


def test_a_failing_workflow_fails_the_test_and_can_be_expected_to(tmp_path: Path) -> None:
    done = cutman_test("-f", str(FAILING), "--alert", str(ALERT))
    assert done.returncode == 1
    assert "  boom   Failed" in done.stdout and "exit code 3: oops" in done.stdout
    assert "Failed in " in done.stdout and ": step boom failed: exit code 3: oops" in done.stdout
    assert "never" not in done.stdout.split("Failed in")[0].split("boom")[1], "steps after the failure do not run"
    expected = cutman_test("-f", str(FAILING), "--alert", str(ALERT), "--expect", "phase=Failed",
                           "--expect", "steps.boom.exitCode=3", "--expect", "steps.never.phase=Pending",
                           "--expect", "outputs.first=fine")
    assert expected.returncode == 0, expected.stdout


def test_dry_run_shows_the_commands_and_runs_nothing(tmp_path: Path) -> None:
    marker = tmp_path / "touched"
    wf = tmp_path / "touch.yaml"
    wf.write_text(f"""
apiVersion: cutman.dev/v1alpha1
kind: Workflow
metadata: {{name: toucher}}
spec:
  steps:
    - {{name: touch, type: cli, command: "touch {marker} && echo {{{{ .alert.labels.pod }}}}"}}
""")
    dry = cutman_test("-f", str(wf), "--alert", str(ALERT), "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert not marker.exists(), "a dry run runs no command"
    assert f'touch {marker} && echo "${{CM_T0}}"' in dry.stdout, "the script the shell would get"
    assert 'CM_T0="web-1"' in dry.stdout, "and the value of each expression, never spliced into the script"
    real = cutman_test("-f", str(wf), "--alert", str(ALERT), "--expect", "steps.touch.output=web-1\n")
    assert real.returncode == 0, real.stdout
    assert marker.exists()


def test_agent_steps_answer_from_the_answers_file_and_tools_run(tmp_path: Path) -> None:
    wf = tmp_path / "agent.yaml"
    wf.write_text("""
apiVersion: cutman.dev/v1alpha1
kind: Workflow
metadata: {name: investigate}
spec:
  runtime:
    llmConfig: {provider: local, endpoint: "http://127.0.0.1:9/v1", model: scripted}
  steps:
    - name: analyze
      type: agent
      goal: Why is {{ .alert.labels.pod }} hot?
      tools:
        - name: pod_name
          parameters: {pod: the pod}
          command: echo checked {{ .args.pod }}
  outputs:
    - {name: cause, value: "{{ .steps.analyze.result.root_cause }}"}
""")
    answers = tmp_path / "answers.json"
    answers.write_text(json.dumps({"analyze": [
        {"toolCalls": [{"name": "pod_name", "arguments": {"pod": "web-1"}}]},
        {"answer": {"summary": "hot loop", "root_cause": "a busy loop", "can_auto_fix": False,
                    "recommendations": ["roll back"], "confidence": 0.9}}]}))
    done = cutman_test("-f", str(wf), "--alert", str(ALERT), "--llm-answers", str(answers), "-o", "json")
    assert done.returncode == 0, done.stdout + done.stderr
    run: dict[str, Any] = json.loads(done.stdout)
    assert run["outputs"] == {"cause": "a busy loop"}
    calls = run["steps"][0]["toolCalls"]
    assert [c["name"] for c in calls] == ["pod_name"] and calls[0]["ok"]
    assert "checked web-1" in json.dumps(run["steps"][0]["transcript"]), "the scripted tool call ran for real"

    missing = tmp_path / "none.json"
    missing.write_text("{}")
    unanswered = cutman_test("-f", str(wf), "--alert", str(ALERT), "--llm-answers", str(missing))
    assert unanswered.returncode == 2 and "no answer for agent step 'analyze'" in unanswered.stderr

    with ScriptedOpenAI(sequence(tool_calls(("pod_name", {"pod": "web-9"})),
                                 answer({"summary": "s", "root_cause": "from the endpoint", "can_auto_fix": False,
                                         "recommendations": [], "confidence": 0.5}))) as model:
        wf.write_text(wf.read_text().replace("http://127.0.0.1:9/v1", model.url))
        live = cutman_test("-f", str(wf), "--alert", str(ALERT), "--expect", "outputs.cause=from the endpoint")
        assert live.returncode == 0, live.stdout + live.stderr
        assert len(model.requests) == 2 and "web-1" in json.dumps(model.requests[0]["messages"])


def test_sinks_are_rendered_not_sent(tmp_path: Path) -> None:
    receiver = Receiver()
    try:
        files = tmp_path / "wf.yaml"
        files.write_text(f"""
apiVersion: v1
kind: Secret
metadata: {{name: hook}}
stringData: {{authorization: Bearer very-secret-token}}
---
apiVersion: cutman.dev/v1alpha1
kind: Sink
metadata: {{name: hook}}
spec:
  type: webhook
  config:
    endpoint: {receiver.url}/notify
    template: '{{"pod": "{{{{ .alert.labels.pod }}}}", "run": "{{{{ .run.id }}}}"}}'
    headersSecret: hook
---
apiVersion: cutman.dev/v1alpha1
kind: Sink
metadata: {{name: quiet}}
spec: {{type: stdout, condition: "{{{{ eq .alert.labels.pod \\"nope\\" }}}}"}}
---
apiVersion: cutman.dev/v1alpha1
kind: Workflow
metadata: {{name: notify}}
spec:
  steps: [{{name: say, type: cli, command: "echo hi"}}]
  sinks: [hook, quiet, absent]
""")
        done = cutman_test("-f", str(files), "--alert", str(ALERT))
        assert done.returncode == 0, done.stdout + done.stderr
        assert receiver.posts() == [], "nothing is sent"
        out = done.stdout
        assert "sink hook (webhook): rendered, not sent" in out
        assert f"  POST {receiver.url}/notify" in out and '"pod": "web-1"' in out
        assert "very-secret-token" not in out and "authorization: ***" in out, "secret headers masked"
        assert "sink quiet (stdout): skipped: condition is false" in out
        assert "sink absent: not in the files given, not shown" in out
    finally:
        receiver.close()


def test_bad_input_is_a_usage_error(tmp_path: Path) -> None:
    failing = FAILING.read_text()
    typo = tmp_path / "typo.yaml"
    typo.write_text(failing.replace("command:", "comand:", 1))
    bad = cutman_test("-f", str(typo), "--alert", str(ALERT))
    assert bad.returncode == 2 and "spec.steps[0].comand: unknown field" in bad.stderr
    two = tmp_path / "two.yaml"
    two.write_text(failing + "---\n" + failing.replace("name: broken", "name: other"))
    assert "pick one with --workflow" in cutman_test("-f", str(two), "--alert", str(ALERT)).stderr
    assert cutman_test("-f", str(two), "--alert", str(ALERT), "--workflow", "other",
                       "--expect", "phase=Failed").returncode == 0
    resolved = tmp_path / "resolved.json"
    resolved.write_text(json.dumps({"alerts": [{"status": "resolved", "labels": {"alertname": "X"}}]}))
    none = cutman_test("-f", str(typo.with_name("two.yaml")), "--workflow", "other", "--alert", str(resolved))
    assert none.returncode == 2 and "no firing alert" in none.stderr


def test_a_credential_header_built_from_secrets_is_not_shown(tmp_path: Path) -> None:
    """Jira's Basic header is base64(email:token): no form of either value alone, so it is
    masked as a header, not by value."""
    files = tmp_path / "wf.yaml"
    files.write_text("""
apiVersion: v1
kind: Secret
metadata: {name: jira}
stringData: {email: ops@example.com, token: jira-token-0123456789abcdef}
---
apiVersion: cutman.dev/v1alpha1
kind: Sink
metadata: {name: tickets}
spec: {type: jira, config: {endpoint: "https://jira.example.com", project: OPS, credentialsSecret: jira}}
---
apiVersion: cutman.dev/v1alpha1
kind: Workflow
metadata: {name: notify}
spec:
  steps: [{name: say, type: cli, command: "echo hi"}]
  sinks: [tickets]
""")
    done = cutman_test("-f", str(files), "--alert", str(ALERT))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "sink tickets (jira): rendered, not sent" in done.stdout
    basic = base64.b64encode(b"ops@example.com:jira-token-0123456789abcdef").decode()
    assert "authorization: ***" in done.stdout, done.stdout
    assert basic[20:] not in done.stdout and "jira-token" not in done.stdout, "nor base64(':' + token)"
