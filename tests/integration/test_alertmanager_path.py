"""The walking skeleton driven by a real Alertmanager.

Real components only: Debian's prometheus-alertmanager on a loopback port (group_wait
1s, send_resolved), posting its webhooks to `cutman dev` (own Redis, dev broker, the
five functions). Alerts are raised through Alertmanager's v2 API, as Prometheus does.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.alertmanager import Alertmanager, start_alertmanager
from tests.stack import Stack, start_stack, stop_stack

LABELS = {"alertname": "HighCPUUsage", "namespace": "prod", "pod": "web-7", "severity": "critical"}


@pytest.fixture
def am_stack(tmp_path: Path) -> Iterator[tuple[Stack, Alertmanager]]:
    stack = start_stack(tmp_path, "deploy/examples")
    am = start_alertmanager(tmp_path / "am", webhook_url=f"{stack.base}/webhook/alerts")
    yield stack, am
    am.stop()
    stop_stack(stack)


def test_alertmanager_alert_runs_workflow_and_resolves(am_stack: tuple[Stack, Alertmanager]) -> None:
    stack, am = am_stack
    am.fire(LABELS, {"summary": "CPU above 90% for 5m"})
    runs = stack.wait_for(lambda: [r for r in stack.json("runs", "list") if r["phase"] == "Succeeded"],
                          timeout=30, what="a run from Alertmanager's webhook")
    run = stack.json("runs", "get", runs[0]["id"])
    assert run["outputs"]["pod"] == "web-7"
    assert run["alert"]["labels"] == LABELS
    assert run["alert"]["summary"] == "CPU above 90% for 5m"

    am.fire(LABELS, {"summary": "CPU above 90% for 5m"})
    am.fire({**LABELS, "severity": "info", "pod": "web-8"})
    am.resolve(LABELS)
    alerts = stack.wait_for(
        lambda: [a for a in stack.json("alerts", "list") if a["status"] == "resolved"],
        timeout=30, what="Alertmanager's resolved notification",
    )
    assert alerts[0]["alertname"] == "HighCPUUsage" and alerts[0]["resolvedAt"]
    assert len(stack.json("runs", "list")) == 1, "repeats, filtered alerts and resolves start no run"


def test_grouped_alerts_from_alertmanager_each_run(am_stack: tuple[Stack, Alertmanager]) -> None:
    stack, am = am_stack
    for pod in ("api-1", "api-2", "api-3"):
        am.fire({**LABELS, "alertname": "PodCrashLooping", "pod": pod})
    runs = stack.wait_for(
        lambda: (ok := [r for r in stack.json("runs", "list") if r["phase"] == "Succeeded"]) and len(ok) == 3 and ok,
        timeout=40, what="three runs from one Alertmanager group",
    )
    pods = sorted(stack.json("runs", "get", r["id"])["outputs"]["pod"] for r in runs)
    assert pods == ["api-1", "api-2", "api-3"]
