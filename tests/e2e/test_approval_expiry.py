"""An approval nobody answers fails its step on time, with nobody touching the run.

The whole local stack (`cutman dev`: Redis, dev broker, the five functions and the
pinger, which sweeps approvals as the housekeeping PingSource does in a cluster), with
approvals that expire after about a second and a sweep every half second.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from tests.e2e.test_walking_skeleton import payload
from tests.stack import start_stack, stop_stack

MANIFESTS = """
apiVersion: cutman.dev/v1alpha1
kind: Source
metadata: {name: gated}
spec: {type: webhook, config: {path: /webhook/gated}, triggerWorkflow: gated}
---
apiVersion: cutman.dev/v1alpha1
kind: Workflow
metadata: {name: gated}
spec:
  steps:
    - {name: restart, type: cli, approvalRequired: true, command: "echo restarting"}
"""


def test_unanswered_approval_expires_and_fails_the_run(tmp_path: Path) -> None:
    manifests = tmp_path / "gated.yaml"
    manifests.write_text(MANIFESTS)
    stack = start_stack(tmp_path, str(manifests),
                        env={"CUTMAN_APPROVAL_MINUTES": "0.02", "CUTMAN_SWEEP_SECONDS": "0.5"})
    try:
        assert stack.post("/webhook/gated", payload("01-HighCPUUsage-firing-1alerts.json")).status_code == 200

        def run(phase: str) -> dict[str, Any] | None:
            runs = [r for r in stack.json("runs", "list") if r["phase"] == phase]
            return stack.json("runs", "get", runs[0]["id"]) if runs else None

        # The wait lasts 1.2 s, shorter than a `cutman runs list` on a loaded machine, so
        # the test does not insist on seeing it: the failed run's record shows it instead.
        failed = stack.wait_for(lambda: run("Failed"), timeout=40, what="the approval to expire")
        assert failed["error"].startswith("step restart failed: approval expired at ")
        step = failed["steps"][0]
        assert step["phase"] == "Failed"
        approval = step["approval"]
        assert approval["requestedAt"] < approval["expiresAt"], "the step waited for approval first"
        assert approval["decision"] is None, "nobody answered"
        assert failed["error"].endswith(f"{approval['expiresAt']} without an answer")
        sweep = httpx.post(stack.base + "/housekeeping/approvals", json={}, timeout=10)
        assert sweep.status_code == 200 and sweep.json()["expired"] == 0, "each approval expires once"
        assert httpx.get(stack.base + "/housekeeping/approvals", timeout=10).status_code == 404
    finally:
        stop_stack(stack)
