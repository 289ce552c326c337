"""Approving while the broker is down: the decision is kept, the CLI says what happened,
and the run resumes once the broker is back (the housekeeping sweep sends the resume).

The whole local stack (`cutman dev`) with the dev broker paused by SIGSTOP (alive, not
answering: its ingress accepts connections and then says nothing), as in the issue. The
CLI's broker call times out; the resume event stays in the outbox and the pinger's sweep
(every 0.5 s here) sends it after SIGCONT.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.e2e.test_approval_expiry import MANIFESTS
from tests.e2e.test_walking_skeleton import payload
from tests.stack import Stack, start_stack, stop_stack


class PausableBroker:
    """The stack's dev broker, paused by SIGSTOP and always resumed by `gated_stack`."""

    def __init__(self, stack: Stack) -> None:
        self.stack, self.pid = stack, 0

    def pause(self) -> None:
        self.pid = self.stack.child_pid("broker")
        os.kill(self.pid, signal.SIGSTOP)

    def resume(self) -> None:
        if self.pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGCONT)


@contextlib.contextmanager
def gated_stack(tmp_path: Path) -> Iterator[tuple[Stack, PausableBroker]]:
    """The approval-gated workflow's stack, its alert fired."""
    manifests = tmp_path / "gated.yaml"
    manifests.write_text(MANIFESTS)
    stack = start_stack(tmp_path, str(manifests), env={"CUTMAN_SWEEP_SECONDS": "0.5", "CUTMAN_LEASE_SECONDS": "2"})
    broker = PausableBroker(stack)
    try:
        assert stack.post("/webhook/gated", payload("01-HighCPUUsage-firing-1alerts.json")).status_code == 200
        yield stack, broker
    finally:
        broker.resume()
        stop_stack(stack)


def test_approve_while_the_broker_is_paused(tmp_path: Path) -> None:
    with gated_stack(tmp_path) as (stack, broker):

        def run(phase: str) -> dict[str, Any] | None:
            runs = [r for r in stack.json("runs", "list") if r["phase"] == phase]
            return stack.json("runs", "get", runs[0]["id"]) if runs else None

        waiting = stack.wait_for(lambda: run("AwaitingApproval"), what="the run to wait for approval")
        broker.pause()
        approved = stack.cli("approve", waiting["id"], "restart", "--by", "ana", check=False)
        assert approved.returncode == 0, approved.stderr
        assert f"run {waiting['id']} step restart approved by ana" in approved.stdout
        assert "resumes within a housekeeping sweep" in approved.stderr and "broker" in approved.stderr
        again = stack.cli("approve", waiting["id"], "restart", "--by", "bob", check=False)
        assert again.returncode == 1 and "already approved by ana" in again.stderr
        broker.resume()
        done = stack.wait_for(lambda: run("Succeeded"), timeout=40, what="the run to resume and finish")
        assert done["id"] == waiting["id"]
        step = done["steps"][0]
        assert step["phase"] == "Succeeded" and step["attempts"] == 1 and step["output"].strip() == "restarting"


def test_approve_through_the_api_while_the_broker_is_paused_says_the_resume_is_pending(tmp_path: Path) -> None:
    """`cutman approve --server`: the API records the decision and answers `pending`; the CLI
    says so, as the local path does, instead of a bare 'approved'."""
    with gated_stack(tmp_path) as (stack, broker):
        waiting = stack.wait_for(lambda: [r for r in stack.json("runs", "list") if r["phase"] == "AwaitingApproval"],
                                 what="the run to wait for approval")[0]
        broker.pause()
        approved = stack.cli("--server", stack.base, "approve", waiting["id"], "restart", "--by", "ana", check=False)
        assert approved.returncode == 0, approved.stderr
        assert f"run {waiting['id']} step restart approved by ana" in approved.stdout
        assert "resumes within a housekeeping sweep" in approved.stderr and "broker" in approved.stderr
        broker.resume()
        done = stack.wait_for(lambda: [r for r in stack.json("runs", "list") if r["phase"] == "Succeeded"],
                              timeout=40, what="the run to resume and finish")
        assert done[0]["id"] == waiting["id"]
