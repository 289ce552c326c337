"""Every `cutman` command against a real `cutman dev`, as a user types it.

Real components only: `cutman dev` (its own redis-server, the dev broker, the five
functions as HTTP servers) started as a subprocess with deploy/examples; the CLI is run
as a subprocess too (`python -m cutman.cli`), so exit codes, stdout and stderr are what
a shell sees. One stack serves the module; each test uses its own names or namespace.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.stack import REPO, Stack, start_stack, stop_stack

API_TOKEN = "cli-test-api-token-5c1e9a7d"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    s = start_stack(tmp_path_factory.mktemp("cli"), "deploy/examples", env={"CUTMAN_API_TOKEN": API_TOKEN})
    yield s
    stop_stack(s)


def cutman(stack: Stack, *args: str, stdin: str | None = None, timeout: float = 60,
           env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CUTMAN_STATE_DIR": str(stack.state), "CUTMAN_CONFIG": str(stack.state / "no-config"),
           **(env or {})}
    return subprocess.run([sys.executable, "-m", "cutman.cli", *args], env=env, cwd=REPO, input=stdin,
                          capture_output=True, text=True, timeout=timeout, check=False)


def ok(stack: Stack, *args: str, stdin: str | None = None) -> str:
    done = cutman(stack, *args, stdin=stdin)
    assert done.returncode == 0, f"cutman {' '.join(args)} exited {done.returncode}: {done.stderr}"
    return done.stdout


def rows(text: str) -> list[list[str]]:
    return [line.split() for line in text.strip().splitlines()]


TEAM_B = """
apiVersion: cutman.dev/v1alpha1
kind: Sink
metadata: {name: console, namespace: team-b}
spec: {type: stdout}
---
apiVersion: cutman.dev/v1alpha1
kind: Workflow
metadata: {name: triage-b, namespace: team-b, labels: {team: b}}
spec:
  steps:
    - {name: look, type: cli, command: "echo looking at {{ .alert.labels.pod }}"}
  sinks: [console]
---
apiVersion: cutman.dev/v1alpha1
kind: Source
metadata: {name: am-b, namespace: team-b}
spec: {type: webhook, config: {path: /webhook/team-b}, triggerWorkflow: triage-b}
"""


@pytest.mark.timeout(600)
def test_get_lists_every_kind_in_every_format(stack: Stack) -> None:
    assert "created" in ok(stack, "apply", "-f", "-", stdin=TEAM_B)

    table = rows(ok(stack, "get", "sources"))
    assert table[0] == ["NAME", "TYPE", "WORKFLOW", "EVENTS", "READY", "AGE"]
    assert table[1][:5] == ["alertmanager", "webhook", "triage", "0", "True"]
    assert table[1][5].endswith("s") or table[1][5].endswith("m"), "AGE from metadata.creationTimestamp"
    names = {ok(stack, "get", alias, "-o", "name") for alias in ("cmsrc", "source", "sources", "sources.cutman.dev")}
    assert names == {"source.cutman.dev/alertmanager\n"}

    doc = yaml.safe_load(ok(stack, "get", "source.cutman.dev", "alertmanager", "-o", "yaml"))
    assert doc["apiVersion"] == "cutman.dev/v1alpha1" and doc["kind"] == "Source"
    assert doc["metadata"]["name"] == "alertmanager" and doc["metadata"]["generation"] == 1
    assert doc["metadata"]["creationTimestamp"]
    assert doc["spec"]["config"]["path"] == "/webhook/alerts"
    assert [(c["type"], c["status"]) for c in doc["status"]["conditions"]] == [("Ready", "True")]

    every = rows(ok(stack, "get", "workflows", "-A"))
    assert every[0][:3] == ["NAMESPACE", "NAME", "STEPS"]
    assert sorted((r[0], r[1]) for r in every[1:]) == [("default", "triage"), ("team-b", "triage-b")]
    assert rows(ok(stack, "get", "cmwf"))[1][0] == "triage", "without -n: the default namespace only"
    assert ok(stack, "get", "workflows", "-n", "team-b", "-o", "name").split() == ["workflow.cutman.dev/triage-b"]
    assert ok(stack, "get", "workflows", "-A", "-l", "team=b", "-o", "name").split() == ["workflow.cutman.dev/triage-b"]
    assert ok(stack, "get", "workflows", "-A", "-l", "team!=b", "-o", "name").split() == ["workflow.cutman.dev/triage"]
    assert ok(stack, "get", "workflows", "-A", "--no-headers").splitlines()[0].split()[0] in ("default", "team-b")

    wide = rows(ok(stack, "get", "workflows", "-o", "wide"))
    assert wide[0] == ["NAME", "STEPS", "LAST", "RUN", "PHASE", "READY", "AGE", "RUNS", "FAILED", "SINKS", "MESSAGE"]
    listed = json.loads(ok(stack, "get", "sinks", "-A", "-o", "json"))
    assert listed["kind"] == "List"
    assert sorted((i["metadata"]["namespace"], i["spec"]["type"]) for i in listed["items"]) == [
        ("default", "stdout"), ("team-b", "stdout")]
    assert yaml.safe_load(ok(stack, "get", "sinks", "-n", "team-b", "-o", "yaml"))["items"][0]["metadata"][
        "name"] == "console"

    empty = cutman(stack, "get", "workflows", "-n", "nowhere")
    assert empty.returncode == 0 and empty.stdout == ""
    assert empty.stderr.strip() == "No resources found in nowhere namespace."
    unknown = cutman(stack, "get", "pods")
    assert unknown.returncode == 1 and 'doesn\'t have a resource type "pods"' in unknown.stderr
    missing = cutman(stack, "get", "workflow", "nope")
    assert missing.returncode == 1 and 'workflows.cutman.dev "nope" not found' in missing.stderr
    bad = cutman(stack, "get", "workflows", "-l", "team in ()")
    assert bad.returncode == 1 and "label selector" in bad.stderr
    usage = cutman(stack, "get", "workflows", "-o", "xml")
    assert usage.returncode == 2 and "invalid choice" in usage.stderr


class Watch:
    """`cutman runs watch` in the background, its lines collected as they come."""

    def __init__(self, stack: Stack, *args: str) -> None:
        env = {**os.environ, "CUTMAN_STATE_DIR": str(stack.state), "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen([sys.executable, "-m", "cutman.cli", "runs", "watch", "--timeout", "60", *args],
                                     env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines: list[str] = []
        self.waiting = threading.Event()
        self.pump = threading.Thread(target=self._pump, daemon=True)
        self.pump.start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))
            if line.startswith("waiting for a run"):
                self.waiting.set()

    def finish(self) -> tuple[int, list[str], str]:
        rc = self.proc.wait(timeout=90)
        self.pump.join(timeout=10)
        assert self.proc.stderr is not None and self.proc.stdout is not None
        err = self.proc.stderr.read()
        self.proc.stderr.close()
        self.proc.stdout.close()
        return rc, self.lines, err


@pytest.mark.timeout(600)
def test_send_alert_watch_logs_describe_and_delete_a_run(stack: Stack) -> None:
    watch = Watch(stack)
    assert watch.waiting.wait(30), "runs watch should wait for the next run"
    sent = ok(stack, "send-alert", "alertmanager", "alertname=DiskFull", "-l", "severity=critical",
              "-l", "pod=db-0", "--annotation", "summary=disk at 97%")
    assert sent.startswith("alert DiskFull firing sent to default/alertmanager (/webhook/alerts): ")
    assert "firing 1" in sent
    rc, lines, err = watch.finish()
    assert rc == 0, err
    run_id = lines[1].split()[1]
    assert lines[1].startswith(f"run {run_id} (default/triage) started ")
    steps = [ln.split()[:2] for ln in lines if ln.startswith("  ") and not ln.startswith("  outputs.")
             and not ln.startswith("  sink ")]
    done = [s for s in steps if s[1] != "Running"]
    assert done == [["gather", "Succeeded"], ["summarize", "Succeeded"]], lines
    assert set(map(tuple, steps)) <= {("gather", "Running"), ("gather", "Succeeded"), ("summarize", "Running"),
                                      ("summarize", "Succeeded")}, "each change once, in order"
    assert any(ln.startswith(f"run {run_id} Succeeded in ") for ln in lines)
    assert "  outputs.summary: DiskFull on db-0 (platform): see https://runbooks.example.com/DiskFull" in lines
    assert any(ln.startswith("  sink console: Delivered") for ln in lines)

    again = cutman(stack, "runs", "watch", run_id)
    assert again.returncode == 0 and f"run {run_id} Succeeded" in again.stdout, "a finished run: its story, at once"

    listed = rows(ok(stack, "get", "runs", "-o", "wide", "-l", "alertname=DiskFull"))
    assert listed[0][:4] == ["NAME", "WORKFLOW", "PHASE", "STEPS"]
    assert listed[1][:4] == [run_id, "triage", "Succeeded", "2/2"] and "DiskFull" in listed[1]
    assert ok(stack, "get", "runs", "-l", "alertname=Other", "--no-headers") == ""
    one = json.loads(ok(stack, "get", "run", run_id, "-o", "json"))
    assert one["id"] == run_id and one["steps"][0]["output"].startswith('{"pod": "db-0"')
    assert yaml.safe_load(ok(stack, "runs", "get", run_id, "-o", "yaml"))["phase"] == "Succeeded"

    logs = ok(stack, "runs", "logs", run_id, "gather")
    assert json.loads(logs)["pod"] == "db-0"
    both = ok(stack, "runs", "logs", run_id)
    assert both.startswith("==> gather (Succeeded) <==\n") and "==> summarize (Succeeded) <==\nDiskFull on db-0" in both
    nostep = cutman(stack, "runs", "logs", run_id, "nope")
    assert nostep.returncode == 1 and "has no step 'nope' (steps: gather, summarize)" in nostep.stderr

    described = ok(stack, "describe", "workflow", "triage")
    assert "Name:                 triage" in described and "Kind:                 Workflow" in described
    assert "    gather      cli" in described
    conditions = described.split("Conditions:\n")[1].splitlines()
    assert conditions[0].split()[:3] == ["TYPE", "STATUS", "REASON"]
    assert conditions[1].split()[:3] == ["Ready", "True", "Ready"]
    triggers = described.split("Triggers:\n")[1].split("Recent Runs:")[0]
    assert "-triage-step-gather" in triggers and "cutman-sink/sinks/default/console" in triggers
    assert "cmsource=default/alertmanager" in triggers
    assert run_id in described.split("Recent Runs:")[1]
    src = ok(stack, "describe", "cmsrc", "alertmanager")
    assert "Path:               /webhook/alerts" in src and "severity=critical|warning" in src
    assert run_id in src.split("Recent Runs:")[1]
    assert "Delivered" in ok(stack, "describe", "sink", "console").split("Recent Runs:")[1]
    assert f"Run:       {run_id}" in ok(stack, "describe", "run", run_id)

    alerts = json.loads(ok(stack, "get", "alerts", "-o", "json"))["items"]
    assert [(a["alertname"], a["status"]) for a in alerts if a["alertname"] == "DiskFull"] == [("DiskFull", "firing")]
    resolved = ok(stack, "send-alert", "alertmanager", "alertname=DiskFull", "severity=critical", "pod=db-0",
                  "--resolve")
    assert "DiskFull resolved" in resolved and "resolved 1" in resolved
    table = rows(ok(stack, "get", "alerts"))
    assert table[0][:3] == ["SOURCE", "ALERT", "STATUS"]
    assert ["alertmanager", "DiskFull", "resolved"] in [r[:3] for r in table[1:]]

    assert ok(stack, "runs", "delete", run_id).strip() == f"run/{run_id} deleted"
    gone = cutman(stack, "get", "run", run_id)
    assert gone.returncode == 1 and f'run "{run_id}" not found' in gone.stderr
    twice = cutman(stack, "runs", "delete", run_id)
    assert twice.returncode == 1 and "not found" in twice.stderr


def test_a_failing_run_fails_the_watch(stack: Stack) -> None:
    ok(stack, "apply", "-f", "-", stdin="""
apiVersion: cutman.dev/v1alpha1
kind: Workflow
metadata: {name: broken}
spec:
  steps:
    - {name: boom, type: cli, command: "echo oops >&2; exit 3"}
---
apiVersion: cutman.dev/v1alpha1
kind: Source
metadata: {name: am-fails}
spec: {type: webhook, config: {path: /webhook/fails}, triggerWorkflow: broken}
""")
    watch = Watch(stack, "-n", "default")
    assert watch.waiting.wait(30)
    ok(stack, "send-alert", "am-fails", "-n", "default", "alertname=Boom")
    rc, lines, _ = watch.finish()
    assert rc == 1
    assert "  boom  Failed" in "\n".join(lines)
    assert lines[-1].endswith("Failed in 0.01s: step boom failed: exit code 3: oops") or "exit code 3: oops" in lines[-1]
    assert "run/broken-" in ok(stack, "get", "runs", "-o", "name")
    assert "run/broken-" not in ok(stack, "get", "runs", "-n", "team-b", "-o", "name"), "-n filters runs"
    assert "broken" in ok(stack, "get", "runs", "-A")


SECURED = """
apiVersion: v1
kind: Secret
metadata: {name: hook, namespace: secure}
stringData: {token: s3cret-token, key: s3cret-key}
---
apiVersion: cutman.dev/v1alpha1
kind: Workflow
metadata: {name: noop, namespace: secure}
spec:
  steps: [{name: say, type: cli, command: "echo hi"}]
---
apiVersion: cutman.dev/v1alpha1
kind: Source
metadata: {name: bearer, namespace: secure}
spec:
  type: webhook
  config: {path: /webhook/bearer, authentication: {type: bearer, secretRef: hook}}
  triggerWorkflow: noop
---
apiVersion: cutman.dev/v1alpha1
kind: Source
metadata: {name: signed, namespace: secure}
spec:
  type: webhook
  config: {path: /webhook/signed, authentication: {type: hmac, secretRef: hook/key}}
  triggerWorkflow: noop
"""


def test_send_alert_authenticates_with_the_sources_secret(stack: Stack) -> None:
    applied = ok(stack, "apply", "-f", "-", stdin=SECURED).splitlines()
    assert applied == ["secret/hook created", "workflow.cutman.dev/noop created",
                       "source.cutman.dev/bearer created", "source.cutman.dev/signed created"]
    assert httpx.post(stack.base + "/webhook/bearer", json={"alerts": []}).status_code == 401
    assert httpx.post(stack.base + "/webhook/signed", json={"alerts": []}).status_code == 401
    for source in ("bearer", "signed"):
        out = ok(stack, "send-alert", source, "-n", "secure", "alertname=Auth")
        assert "firing 1" in out, out
    described = ok(stack, "describe", "source", "bearer", "-n", "secure")
    assert "Authentication:     bearer (secret hook)" in described
    shown = ok(stack, "get", "sources", "-n", "secure", "-o", "yaml") + ok(stack, "describe", "source", "signed",
                                                                            "-n", "secure")
    assert "s3cret" not in shown and "tokenHash" not in shown, "no secret in what the CLI shows"
    nolabel = cutman(stack, "send-alert", "bearer", "-n", "secure", "pod=x")
    assert nolabel.returncode == 1 and "alertname" in nolabel.stderr
    nosource = cutman(stack, "send-alert", "nope", "alertname=X")
    assert nosource.returncode == 1 and 'sources.cutman.dev "nope" not found' in nosource.stderr


WORKFLOW = """
apiVersion: cutman.dev/v1alpha1
kind: Workflow
metadata: {name: applied, namespace: apply-test}
spec:
  steps: [{name: one, type: cli, command: "echo one"}]
"""


def test_apply_from_stdin_says_created_configured_unchanged(stack: Stack) -> None:
    assert ok(stack, "apply", "-f", "-", stdin=WORKFLOW) == "workflow.cutman.dev/applied created\n"
    assert ok(stack, "apply", "-f", "-", stdin=WORKFLOW) == "workflow.cutman.dev/applied unchanged\n"
    changed = WORKFLOW.replace("echo one", "echo two")
    assert ok(stack, "apply", "--dry-run", "-f", "-", stdin=changed) == "workflow.cutman.dev/applied configured (dry run)\n"
    doc: dict[str, Any] = yaml.safe_load(ok(stack, "get", "workflow", "applied", "-n", "apply-test", "-o", "yaml"))
    assert doc["spec"]["steps"][0]["command"] == "echo one", "a dry run changes nothing"
    assert ok(stack, "apply", "-f", "-", stdin=changed) == "workflow.cutman.dev/applied configured\n"
    after = yaml.safe_load(ok(stack, "get", "workflow", "applied", "-n", "apply-test", "-o", "yaml"))
    assert after["spec"]["steps"][0]["command"] == "echo two"
    assert after["metadata"]["generation"] == 2
    assert after["metadata"]["creationTimestamp"] == doc["metadata"]["creationTimestamp"]

    fresh = WORKFLOW.replace("name: applied", "name: fresh")
    assert ok(stack, "apply", "--dry-run", "-f", "-", stdin=fresh) == "workflow.cutman.dev/fresh created (dry run)\n"
    assert cutman(stack, "get", "workflow", "fresh", "-n", "apply-test").returncode == 1

    typo = cutman(stack, "apply", "--dry-run", "-f", "-", stdin=WORKFLOW.replace("command:", "comand:"))
    assert typo.returncode == 1
    assert "stdin document 1 (Workflow apply-test/applied): spec.steps[0].comand: unknown field" in typo.stderr
    badtemplate = cutman(stack, "apply", "--dry-run", "-f", "-",
                         stdin=WORKFLOW.replace('"echo one"', '"echo {{ .alert.labels.x "'))
    assert badtemplate.returncode == 1 and "stdin document 1" in badtemplate.stderr

    missing = cutman(stack, "delete", "workflow", "never", "-n", "apply-test")
    assert missing.returncode == 1
    assert missing.stderr.strip() == 'Error from server (NotFound): workflows.cutman.dev "never" not found'
    assert ok(stack, "delete", "--dry-run", "-f", "-", stdin=changed) == 'workflow.cutman.dev "applied" deleted (dry run)\n'
    assert ok(stack, "delete", "-f", "-", stdin=changed) == 'workflow.cutman.dev "applied" deleted\n'
    again = cutman(stack, "delete", "-f", "-", stdin=changed)
    assert again.returncode == 1 and "NotFound" in again.stderr


def test_version_completion_and_server_refusals(stack: Stack, tmp_path: Path) -> None:
    assert ok(stack, "--version").startswith("cutman 0.")
    script = ok(stack, "completion", "bash")
    assert "complete" in script and "cutman" in script
    assert "#compdef cutman" in ok(stack, "completion", "zsh")
    out = tmp_path / "completions"
    env = {**os.environ, "_ARGCOMPLETE": "1", "COMP_LINE": "cutman ge", "COMP_POINT": "9",
           "_ARGCOMPLETE_STDOUT_FILENAME": str(out)}
    subprocess.run([sys.executable, "-m", "cutman.cli"], env=env, cwd=REPO, check=False, timeout=30)
    assert out.read_text().split() == ["get"], "argcomplete completes from the real parser"
    env["COMP_LINE"] = env["COMP_LINE"] = "cutman get cms"
    env["COMP_POINT"] = str(len(env["COMP_LINE"]))
    subprocess.run([sys.executable, "-m", "cutman.cli"], env=env, cwd=REPO, check=False, timeout=30)
    assert sorted(out.read_text().split()) == ["cmsink", "cmsrc"]

    refused = cutman(stack, "apply", "-f", "-", "--server", "http://127.0.0.1:9", stdin=WORKFLOW)
    assert refused.returncode == 1 and "kubectl apply" in refused.stderr
    down = cutman(stack, "get", "workflows", "--server", "http://127.0.0.1:9")
    assert down.returncode == 1 and "unreachable" in down.stderr


@pytest.mark.timeout(600)
def test_every_read_command_answers_the_same_through_the_http_api(stack: Stack, tmp_path: Path) -> None:
    """`--server` talks to the real API (ingest's /api/v1 of this cutman dev, token required)."""
    watch = Watch(stack)
    assert watch.waiting.wait(30)
    ok(stack, "send-alert", "alertmanager", "alertname=ViaApi", "severity=warning", "pod=api-0")
    rc, lines, _ = watch.finish()
    assert rc == 0
    run_id = lines[1].split()[1]
    remote = ("--server", stack.base, "--token", API_TOKEN)

    for args in (("get", "workflows", "-A", "-o", "json"), ("get", "sources", "-o", "yaml"),
                 ("get", "sinks", "-n", "team-b", "-o", "name"), ("get", "runs", run_id, "-o", "json"),
                 ("get", "alerts", "-A", "-o", "json"), ("runs", "get", run_id, "-o", "json"),
                 ("get", "workflows", "-A", "-l", "team=b", "-o", "name")):
        local, api = ok(stack, *args), ok(stack, *args, *remote)
        assert api == local, f"cutman {' '.join(args)}: the API answers differently"
    assert rows(ok(stack, "get", "runs", "--no-headers", *remote))[0][0] == rows(
        ok(stack, "get", "runs", "--no-headers"))[0][0]
    described = ok(stack, "describe", "workflow", "triage", *remote)
    assert "Ready   True" in described and run_id in described.split("Recent Runs:")[1]
    assert "not served by the API; kubectl get triggers" in described
    assert ok(stack, "runs", "logs", run_id, "gather", *remote) == ok(stack, "runs", "logs", run_id, "gather")
    watched = cutman(stack, "runs", "watch", run_id, *remote)
    assert watched.returncode == 0 and f"run {run_id} Succeeded" in watched.stdout

    denied = cutman(stack, "get", "workflows", "--server", stack.base)
    assert denied.returncode == 1 and "refused the token (401)" in denied.stderr
    wrong = cutman(stack, "get", "workflows", "--server", stack.base, "--token", "not-the-token-at-all")
    assert wrong.returncode == 1 and "401" in wrong.stderr
    by_env = cutman(stack, "get", "workflows", "-o", "name", env={"CUTMAN_SERVER": stack.base,
                                                                  "CUTMAN_TOKEN": API_TOKEN})
    assert by_env.returncode == 0 and "workflow.cutman.dev/triage" in by_env.stdout
    nodelete = cutman(stack, "runs", "delete", run_id, *remote)
    assert nodelete.returncode == 1 and "read-only" in nodelete.stderr

    token_file = tmp_path / "token"
    token_file.write_text(API_TOKEN + "\n")
    config = tmp_path / "config"
    config.write_text(f"""
current-context: dev
contexts:
  - name: dev
    server: {stack.base}
    token-file: {token_file}
  - name: inline
    server: {stack.base}
    token: {API_TOKEN}
    namespace: team-b
""")
    config.chmod(0o600)
    via_context = cutman(stack, "get", "workflows", "-o", "name", env={"CUTMAN_CONFIG": str(config)})
    local_names = cutman(stack, "get", "workflows", "-o", "name").stdout
    assert "workflow.cutman.dev/triage\n" in local_names
    assert via_context.returncode == 0 and via_context.stdout == local_names
    team_b = cutman(stack, "get", "workflows", "-o", "name", "--context", "inline", env={"CUTMAN_CONFIG": str(config)})
    assert team_b.stdout == "workflow.cutman.dev/triage-b\n", "the context's namespace is the default"
    config.chmod(0o644)
    loose = cutman(stack, "get", "workflows", "--context", "inline", env={"CUTMAN_CONFIG": str(config)})
    assert loose.returncode == 1 and "readable by others; chmod 600" in loose.stderr
    unknown = cutman(stack, "get", "workflows", "--context", "nope", env={"CUTMAN_CONFIG": str(config)})
    assert unknown.returncode == 1 and "no context named 'nope'" in unknown.stderr
