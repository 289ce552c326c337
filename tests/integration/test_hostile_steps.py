"""Hostile alert labels through whole cli and agent steps: no injected command ever runs.

Every value of the shellsafe corpus (command substitution, backticks, quotes, newlines,
option injection like `--kubeconfig=...`) is put in its own alert label, then flows
through a shell cli step (unquoted, double- and single-quoted), an `args` cli step, an
agent whose scripted model passes each value to a command tool and to kubectl, and a
last cli step that reads the agent's answer. The canary file (an absolute path inside
the hostile values) must never be created, and every value must arrive byte for byte.

The cli steps run under dash (the default) and again with bash as the shell
(`CUTMAN_SHELL=/bin/bash`): the corpus includes `a[$(touch …)]`, which bash would run
inside `$(( ))`.

Test double: the scripted OpenAI-compatible server (tests/openai_stub.py) for the model.
Everything else is real: Redis, dash and bash, the kubectl binary (against a closed port).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from cutman.models.run import RunPhase
from cutman.runtime.redis_server import free_port

from tests.integration.test_shell_injection import BASH, HOSTILE
from tests.openai_stub import ScriptedOpenAI, answer, sequence, tool_calls
from tests.steps import run_workflow

SEP = "\x1f"


def workflow(url: str, kubeconfig: Path, n: int) -> dict[str, Any]:
    labels = range(n)
    unquoted = " ".join(f"{{{{ .alert.labels.v{i} }}}}" for i in labels)
    dquoted = " ".join(f'"{{{{ .alert.labels.v{i} }}}}"' for i in labels)
    squoted = " ".join(f"'{{{{ .alert.labels.v{i} }}}}'" for i in labels)
    return {
        "runtime": {"llmConfig": {"provider": "local", "endpoint": url, "model": "scripted"},
                    "environment": {"KUBECONFIG": str(kubeconfig)}},
        "steps": [
            {"name": "shell", "type": "cli", "command": f"printf '%s\\037' {unquoted} {dquoted} {squoted}"},
            {"name": "argv", "type": "cli", "args": ["printf", "%s\\037", *(f"{{{{ .alert.labels.v{i} }}}}" for i in labels)]},
            {"name": "investigate", "type": "agent", "goal": f"Look at pods {unquoted}",
             "tools": ["kubectl", {"name": "pod_info", "parameters": {"pod": "the pod"},
                                   "command": "printf 'pod=%s' {{ .args.pod }}"}]},
            {"name": "after", "type": "cli",
             "command": "printf '%s' \"{{ .steps.investigate.result.values | toJSON }}\""},
        ],
    }


@pytest.mark.parametrize("shell", [None, BASH], ids=["dash", "bash"])
def test_hostile_labels_never_run_as_code(redis_url: str, tmp_path: Path, shell: str | None) -> None:
    canary = tmp_path / "CANARY"
    values = [h.replace("CANARY", str(canary)) for h in HOSTILE]
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "t",
        "clusters": [{"name": "t", "cluster": {"server": f"http://127.0.0.1:{free_port()}"}}],
        "contexts": [{"name": "t", "context": {"cluster": "t", "user": "t"}}], "users": [{"name": "t", "user": {}}]}))
    calls: list[tuple[str, Any]] = []
    for v in values:
        calls += [("pod_info", {"pod": v}), ("kubectl", {"verb": "logs", "name": v}),
                  ("kubectl", {"verb": "get", "resource": v, "namespace": v})]
    script = sequence(tool_calls(*calls), answer({"summary": "checked", "values": values}))
    with ScriptedOpenAI(script) as llm:
        run = run_workflow(redis_url, workflow(llm.url, kubeconfig, len(values)),
                           alert={"alertname": "X", "labels": {f"v{i}": v for i, v in enumerate(values)}},
                           cfg={"CUTMAN_SHELL": shell} if shell else None)
    assert not canary.exists(), "an injected command ran"
    assert run.phase is RunPhase.SUCCEEDED, run.error
    assert run.state("shell").output.split(SEP)[:-1] == values * 3
    assert run.state("argv").output.split(SEP)[:-1] == values
    assert json.loads(run.state("after").output) == values
    results = [m["content"] for m in llm.requests[1]["messages"] if m["role"] == "tool"]
    assert results[0::3] == [f"pod={v}" for v in values]
    assert all(r.startswith("error: invalid arguments") for r in results[1::3] + results[2::3])
